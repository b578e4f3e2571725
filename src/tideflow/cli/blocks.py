"""``tideflow block``: list, inspect and delete saved blocks; list block types.

Secret fields are always shown masked (``**********``): the CLI reads through the same
masked listing as the API and never asks the store for clear values.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tideflow.blocks import Block, block_types
from tideflow.cli._output import console, fail, format_time, print_json
from tideflow.client import get_client
from tideflow.exceptions import ObjectNotFound

app = typer.Typer(
    name="block",
    help="List, inspect and delete saved blocks (named configuration).",
    no_args_is_help=True,
)

RefArg = Annotated[
    str, typer.Argument(help="The block as TYPE-SLUG/NAME, e.g. slack-webhook/ml-alerts.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _split(ref: str) -> tuple[str, str]:
    slug, sep, name = ref.partition("/")
    if not sep or not slug or not name:
        raise typer.BadParameter(
            f"{ref!r} is not TYPE-SLUG/NAME (e.g. slack-webhook/ml-alerts)", param_hint="BLOCK"
        )
    return slug, name


def _when(value: str) -> str:
    return format_time(datetime.fromisoformat(value))


@app.command("ls")
def ls(
    block_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Only blocks of this type slug.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List saved blocks (secret fields masked)."""
    docs = get_client().read_block_documents(block_type)
    if as_json:
        print_json(docs)
        return
    if not docs:
        console.print("No blocks saved" + (f" of type {block_type!r}." if block_type else "."))
        return
    table = Table("Type", "Name", "ID", "Updated")
    for doc in docs:
        table.add_row(
            escape(doc["block_type_slug"]), escape(doc["name"]), doc["id"], _when(doc["updated"])
        )
    console.print(table)


@app.command("inspect")
def inspect_block(ref: RefArg, as_json: JsonOpt = False) -> None:
    """Show one block's fields (secret fields masked)."""
    slug, name = _split(ref)
    try:
        doc = get_client().read_block_document(slug, name)
    except ObjectNotFound as exc:
        fail(str(exc))
    if as_json:
        print_json(doc)
        return
    fields: dict[str, Any] = doc["data"]["fields"]
    secret = set(doc["data"]["secret_fields"])
    table = Table("Field", "Value", title=f"{slug}/{name}", title_justify="left")
    for path, value in _flatten(fields, secret):
        shown = f"{value} (secret)" if path in secret else repr(value)
        table.add_row(escape(path), escape(shown))
    console.print(table)
    created, updated = _when(doc["created"]), _when(doc["updated"])
    console.print(f"id: {doc['id']}   created: {created}   updated: {updated}")


def _flatten(fields: dict[str, Any], secret: set[str], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in secret:
            out.extend(_flatten(value, secret, f"{path}."))
        else:
            out.append((path, value))
    return out


@app.command("delete")
def delete(ref: RefArg) -> None:
    """Delete a saved block."""
    slug, name = _split(ref)
    try:
        get_client().delete_block_document(slug, name)
    except ObjectNotFound as exc:
        fail(str(exc))
    console.print(f"Deleted block {slug}/{name}.")


@app.command("types")
def types(as_json: JsonOpt = False) -> None:
    """List the registered block types."""
    rows = [_type_info(slug, cls) for slug, cls in block_types().items()]
    if as_json:
        print_json(rows)
        return
    table = Table("Slug", "Secret fields", "Description")
    for row in rows:
        secrets = ", ".join(row["secret_fields"]) or "-"
        table.add_row(row["slug"], escape(secrets), escape(row["description"]))
    console.print(table)


def _type_info(slug: str, cls: type[Block]) -> dict[str, Any]:
    doc = inspect.getdoc(cls) or ""
    secrets = cls.get_secret_field_paths()
    return {
        "slug": slug,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "secret_fields": secrets,
        "description": (doc.splitlines()[0] if doc else "").replace("``", ""),
    }
