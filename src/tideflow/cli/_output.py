"""Shared output helpers for the CLI: consoles, coloured states, times, JSON, errors.

Every command group prints through these, so state colours, time formats and error
exits look the same everywhere:

* human output goes to ``console`` (rich, stdout); errors to ``err_console`` (stderr);
* ``--json`` output goes through ``print_json`` as plain JSON on stdout, never styled,
  so scripts can parse it;
* ``fail(message, code)`` prints ``Error: message`` on stderr and exits with ``code``
  (1 for "not found" / refused, 2 for bad usage, as click does).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tideflow.states import StateType


def _pipe_width() -> int | None:
    # A pipe or file has no width; rich would assume 80 columns and squeeze tables.
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return 120


#: stdout; rich turns colour off by itself when it is not a terminal.
console = Console(highlight=False, soft_wrap=False, width=_pipe_width())
#: stderr, for errors and warnings.
err_console = Console(stderr=True, highlight=False)

STATE_STYLES: dict[StateType, str] = {
    StateType.SCHEDULED: "yellow",
    StateType.PENDING: "bright_black",
    StateType.RUNNING: "blue",
    StateType.COMPLETED: "green",
    StateType.FAILED: "red",
    StateType.CRASHED: "bold red",
    StateType.CANCELLING: "magenta",
    StateType.CANCELLED: "bright_black",
    StateType.PAUSED: "bright_black",
}


def state_text(state_type: StateType | str | None, state_name: str | None) -> Text:
    """A state's name, coloured by its type (``-`` for a run without state)."""
    if state_type is None:
        return Text("-", style="dim")
    kind = StateType(state_type)
    return Text(state_name or kind.value.title(), style=STATE_STYLES.get(kind, ""))


def make_table(title: str | None = None) -> Table:
    """A compact table (no side borders, collapsed padding) that fits 80 columns."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
        show_edge=False,
    )


def format_duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``4m 05s``, ``2h 03m`` (``-`` when unknown)."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def run_duration(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds between ``start`` and ``end`` (now, for a run still going)."""
    if start is None:
        return None
    return ((end or datetime.now(UTC)) - start).total_seconds()


def format_time(value: datetime | None, *, seconds: bool = True) -> str:
    """A timestamp in the local time zone, to the second or minute (``-`` when unset)."""
    if value is None:
        return "-"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_time_ms(value: datetime) -> str:
    """A timestamp in the local time zone, to the millisecond (log lines)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def to_jsonable(record: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """A pydantic record (or a dict of them) as JSON-safe data (ISO times, enum values)."""
    if isinstance(record, BaseModel):
        return record.model_dump(mode="json")
    return {k: _jsonable_value(v) for k, v in record.items()}


def _jsonable_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _jsonable_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def print_json(data: Any) -> None:
    """Plain, indented JSON on stdout (records, lists of records or JSON-safe data)."""
    if isinstance(data, BaseModel):
        data = to_jsonable(data)
    elif isinstance(data, list):
        data = [_jsonable_value(item) for item in data]
    elif isinstance(data, dict):
        data = _jsonable_value(data)
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    err_console.print(Text.assemble(("Error: ", "bold red"), message))
    raise typer.Exit(code)


def bad_parameter(message: str, param: str) -> NoReturn:
    """Exit 2 like click's own usage errors, naming the offending option."""
    raise typer.BadParameter(message, param_hint=param)


def join_choices(choices: Iterable[str]) -> str:
    """``a, b, c`` for error messages."""
    return ", ".join(choices)


__all__ = [
    "STATE_STYLES",
    "bad_parameter",
    "console",
    "err_console",
    "fail",
    "format_duration",
    "format_time",
    "format_time_ms",
    "join_choices",
    "make_table",
    "print_json",
    "run_duration",
    "state_text",
    "to_jsonable",
]
