"""``tideflow concurrency-limit``: limit how many task runs with a tag run at once.

Works on whatever store the settings point at (the embedded database, or a server when
``TIDEFLOW_API_URL`` is set).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tideflow.cli._output import console, fail, format_time, print_json
from tideflow.client import get_client
from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.core import ConcurrencyLimit

app = typer.Typer(
    name="concurrency-limit",
    help="Limit how many task runs with a tag may run at once: create, ls, inspect, delete.",
    no_args_is_help=True,
)

TagArg = Annotated[str, typer.Argument(help="The tag the limit applies to.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _table(limits: list[ConcurrencyLimit]) -> Table:
    table = Table(title="Concurrency limits", title_justify="left")
    table.add_column("Tag", style="cyan", no_wrap=True)
    table.add_column("Limit", justify="right")
    table.add_column("Active slots", justify="right")
    table.add_column("Created")
    for limit in limits:
        full = limit.active_slots >= limit.concurrency_limit
        table.add_row(
            limit.tag,
            str(limit.concurrency_limit),
            f"[yellow]{limit.active_slots}[/]" if full else str(limit.active_slots),
            format_time(limit.created),
        )
    return table


@app.command("create")
def create(
    tag: TagArg,
    limit: Annotated[int, typer.Argument(help="How many task runs may hold a slot.", min=0)],
) -> None:
    """Create (or change) the limit for TAG: at most LIMIT task runs with it run at once."""
    created = get_client().create_concurrency_limit(tag, limit)
    console.print(
        f"Concurrency limit for tag [cyan]{created.tag}[/] is {created.concurrency_limit} "
        f"({created.active_slots} slot(s) in use)."
    )


@app.command("ls")
def ls(as_json: JsonOpt = False) -> None:
    """List every limit with its active slots."""
    limits = get_client().read_concurrency_limits()
    if as_json:
        print_json(limits)
    elif not limits:
        console.print("No concurrency limits.")
    else:
        console.print(_table(limits))


@app.command("inspect")
def inspect(tag: TagArg, as_json: JsonOpt = False) -> None:
    """Show one tag's limit and its active slots."""
    try:
        limit = get_client().read_concurrency_limit(tag)
    except ObjectNotFound as exc:
        fail(str(exc))
    if as_json:
        print_json(limit)
    else:
        console.print(_table([limit]))


@app.command("delete")
def delete(tag: TagArg) -> None:
    """Remove TAG's limit (task runs with the tag no longer wait)."""
    try:
        get_client().delete_concurrency_limit(tag)
    except ObjectNotFound as exc:
        fail(str(exc))
    console.print(f"Deleted the concurrency limit for tag [cyan]{tag}[/].")
