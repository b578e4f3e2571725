"""``tideflow work-queue``: the queues agents poll for flow runs of deployments.

A queue is created when a deployment names it or an agent first polls it; create one
yourself to give it a description or a concurrency limit up front.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from tideflow.cli._output import console, fail, format_time, print_json
from tideflow.client import get_client
from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound
from tideflow.schemas.deployments import WorkQueue, WorkQueueCreate, WorkQueueUpdate

app = typer.Typer(
    name="work-queue",
    help="Work queues agents poll: create, ls, inspect, pause, resume, "
    "set-concurrency-limit, delete.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The work queue's name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _limit(queue: WorkQueue) -> str:
    return "-" if queue.concurrency_limit is None else str(queue.concurrency_limit)


@app.command("create")
def create(
    name: NameArg,
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", min=0, help="Most runs active at once.")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
) -> None:
    """Create a work queue."""
    try:
        queue = get_client().create_work_queue(
            WorkQueueCreate(name=name, concurrency_limit=limit, description=description)
        )
    except ObjectAlreadyExists as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(str(exc), 2)
    console.print(f"Created work queue [cyan]{queue.name}[/] ({queue.id}).")


@app.command("ls")
def ls(as_json: JsonOpt = False) -> None:
    """List work queues."""
    queues = get_client().read_work_queues()
    if as_json:
        print_json(queues)
        return
    if not queues:
        console.print("No work queues.")
        return
    table = Table(title="Work queues", title_justify="left", header_style="bold")
    table.add_column("Name", style="cyan", no_wrap=True)
    table.add_column("Concurrency limit", justify="right")
    table.add_column("Paused")
    table.add_column("Last polled")
    for queue in queues:
        paused = "[yellow]paused[/]" if queue.is_paused else "-"
        table.add_row(Text(queue.name), _limit(queue), paused, format_time(queue.last_polled))
    console.print(table)


@app.command("inspect")
def inspect(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show a work queue with counts of its scheduled, late and active runs."""
    try:
        status = get_client().read_work_queue_status(name)
    except ObjectNotFound as exc:
        fail(str(exc))
    if as_json:
        print_json(status)
        return
    table = Table(show_header=False, title=status.name, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in (
        ("ID", status.id),
        ("Description", status.description or "-"),
        ("Concurrency limit", _limit(status)),
        ("Paused", "yes" if status.is_paused else "no"),
        ("Last polled", format_time(status.last_polled)),
        ("Scheduled runs", str(status.scheduled_runs)),
        ("  of which late", str(status.late_runs)),
        ("Active runs", str(status.active_runs)),
    ):
        table.add_row(key, Text(value))
    console.print(table)


def _update(name: str, data: WorkQueueUpdate) -> WorkQueue:
    try:
        return get_client().update_work_queue(name, data)
    except ObjectNotFound as exc:
        fail(str(exc))


@app.command("pause")
def pause(name: NameArg) -> None:
    """Pause a queue: agents claim nothing from it until it is resumed."""
    _update(name, WorkQueueUpdate(is_paused=True))
    console.print(f"Paused work queue [cyan]{name}[/].")


@app.command("resume")
def resume(name: NameArg) -> None:
    """Resume a paused queue."""
    _update(name, WorkQueueUpdate(is_paused=False))
    console.print(f"Resumed work queue [cyan]{name}[/].")


@app.command("set-concurrency-limit")
def set_concurrency_limit(
    name: NameArg,
    limit: Annotated[int, typer.Argument(min=0, help="Most runs active (claimed or running).")],
) -> None:
    """Limit how many of the queue's runs are active at once."""
    _update(name, WorkQueueUpdate(concurrency_limit=limit))
    console.print(f"Work queue [cyan]{name}[/] now runs at most {limit} flow run(s) at once.")


@app.command("clear-concurrency-limit")
def clear_concurrency_limit(name: NameArg) -> None:
    """Remove the queue's concurrency limit."""
    _update(name, WorkQueueUpdate(concurrency_limit=None))
    console.print(f"Work queue [cyan]{name}[/] has no concurrency limit.")


@app.command("delete")
def delete(name: NameArg) -> None:
    """Delete a work queue (its runs are kept; polling it again recreates it)."""
    try:
        get_client().delete_work_queue(name)
    except ObjectNotFound as exc:
        fail(str(exc))
    console.print(f"Deleted work queue [cyan]{name}[/].")
