"""``tideflow flow-run``: list, inspect, read logs of, cancel and delete flow runs.

Works on whatever store the settings point at (the embedded database, or a server when
``TIDEFLOW_API_URL`` is set). A run can be named by its full id, a unique id prefix
(looked up among the most recent runs) or its unique run name.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from tideflow.cli._output import (
    bad_parameter,
    console,
    fail,
    format_duration,
    format_time,
    format_time_ms,
    join_choices,
    make_table,
    print_json,
    run_duration,
    state_text,
    to_jsonable,
)
from tideflow.client import OrchestrationClient, get_client
from tideflow.exceptions import ObjectNotFound, TideflowError
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import FlowRun, LogRecord, SetStateStatus, StateRecord, TaskRun
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort, LogFilter, TaskRunFilter
from tideflow.states import StateType

app = typer.Typer(
    name="flow-run",
    help="Read and manage flow runs: ls, inspect, logs, cancel, delete.",
    no_args_is_help=True,
)

#: State names tideflow gives runs, with their types; ``--state`` accepts these names
#: and the state types.
STATE_NAMES: dict[str, StateType] = {
    "Scheduled": StateType.SCHEDULED,
    "Late": StateType.SCHEDULED,
    "AwaitingRetry": StateType.SCHEDULED,
    "Pending": StateType.PENDING,
    "Running": StateType.RUNNING,
    "Retrying": StateType.RUNNING,
    "Paused": StateType.PAUSED,
    "Completed": StateType.COMPLETED,
    "Cached": StateType.COMPLETED,
    "Failed": StateType.FAILED,
    "TimedOut": StateType.FAILED,
    "Crashed": StateType.CRASHED,
    "Cancelling": StateType.CANCELLING,
    "Cancelled": StateType.CANCELLED,
}
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The store's page size (a server caps pages at this).
PAGE = 200
#: How many recent runs an id prefix is matched against.
PREFIX_SCAN_LIMIT = 10_000
#: How many characters of an id the tables show.
SHORT_ID = 8

IdArg = Annotated[str, typer.Argument(help="Flow run id, unique id prefix, or run name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _norm(value: str) -> str:
    return value.replace("-", "").replace("_", "").replace(" ", "").lower()


def parse_states(values: list[str]) -> tuple[list[StateType], list[str]]:
    """Split ``--state`` values into state types and state names (case-insensitive).

    A value naming a type (``completed``) matches every state of that type, ``Cached``
    included; a name only a state has (``cached``, ``timed-out``) matches that name.
    """
    types: list[StateType] = []
    names: list[str] = []
    by_type = {_norm(t.value): t for t in StateType}
    by_name = {_norm(n): n for n in STATE_NAMES}
    for value in values:
        key = _norm(value)
        if key in by_type:
            types.append(by_type[key])
        elif key in by_name:
            names.append(by_name[key])
        else:
            bad_parameter(
                f"{value!r} is not a state. Valid values: "
                f"{join_choices(t.value.lower() for t in StateType)} (state types) or "
                f"{join_choices(STATE_NAMES)} (state names).",
                "--state",
            )
    # A name whose type is already selected adds nothing (and would be counted twice).
    types = list(dict.fromkeys(types))
    names = [n for n in dict.fromkeys(names) if STATE_NAMES[n] not in types]
    return types, names


def _read_runs(client: OrchestrationClient, f: FlowRunFilter, limit: int) -> list[FlowRun]:
    out: list[FlowRun] = []
    while len(out) < limit:
        page = client.read_flow_runs(f, limit=min(PAGE, limit - len(out)), offset=len(out))
        out.extend(page)
        if len(page) < min(PAGE, limit):
            break
    return out


def _start_key(run: FlowRun) -> tuple[bool, float, str]:
    ts = run.start_time.timestamp() if run.start_time else 0.0
    return (run.start_time is None, -ts, run.id)


def resolve_flow_run(client: OrchestrationClient, ident: str) -> FlowRun:
    """The flow run named by ``ident`` (id, unique id prefix or unique name); exits 1
    with ``Flow run 'X' not found`` otherwise."""
    ident = ident.strip()
    if not ident:
        fail("Flow run '' not found")
    try:
        return client.read_flow_run(ident)
    except ObjectNotFound:
        pass
    named = [r for r in client.read_flow_runs(FlowRunFilter(name_like=ident), limit=PAGE)]
    named = [r for r in named if r.name == ident]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        fail(f"Flow run name {ident!r} is ambiguous; use an id: {', '.join(r.id for r in named)}")
    if len(ident) >= 4 and all(c in "0123456789abcdef-" for c in ident.lower()):
        matches = _scan_prefix(client, ident.lower())
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(r.id for r in matches[:5])
            fail(f"Flow run id prefix {ident!r} is ambiguous: {ids}")
    fail(f"Flow run {ident!r} not found")


def _scan_prefix(client: OrchestrationClient, prefix: str) -> list[FlowRun]:
    matches: list[FlowRun] = []
    offset = 0
    while offset < PREFIX_SCAN_LIMIT:
        page = client.read_flow_runs(sort=FlowRunSort.CREATED_DESC, limit=PAGE, offset=offset)
        matches.extend(r for r in page if r.id.startswith(prefix))
        if len(page) < PAGE or len(matches) > 1:
            break
        offset += PAGE
    return matches


def _store_error(exc: TideflowError) -> None:
    fail(f"{type(exc).__name__}: {exc}")


@app.command("ls")
def ls(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most runs to show.")] = 20,
    state: Annotated[
        list[str] | None,
        typer.Option("--state", "-s", help="Only runs in this state type or name (repeatable)."),
    ] = None,
    flow_name: Annotated[
        list[str] | None, typer.Option("--flow", "-f", help="Only runs of this flow (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List flow runs, most recently started first."""
    types, names = parse_states(state or [])
    base: dict[str, Any] = {"flow_name_any": flow_name} if flow_name else {}
    filters: list[FlowRunFilter] = []
    if types:
        filters.append(FlowRunFilter(state_type_any=types, **base))
    if names:
        filters.append(FlowRunFilter(state_name_any=names, **base))
    if not filters:
        filters.append(FlowRunFilter(**base))
    client = get_client()
    try:
        runs = [r for f in filters for r in _read_runs(client, f, limit)]
        total = sum(client.count_flow_runs(f) for f in filters)
    except TideflowError as exc:
        _store_error(exc)
    runs = sorted(runs, key=_start_key)[:limit]
    if as_json:
        print_json([_run_json(r) for r in runs])
        return
    if not runs:
        console.print("No flow runs found.")
        return
    # Sized for 80 columns: name and flow wrap rather than vanish.
    table = make_table("Flow runs")
    table.add_column("ID", no_wrap=True, style="cyan")
    table.add_column("Name", min_width=12, overflow="fold")
    table.add_column("Flow", min_width=10, overflow="fold")
    table.add_column("State", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    for run in runs:
        table.add_row(
            run.id[:SHORT_ID],
            run.name,
            run.flow_name or "-",
            state_text(run.state_type, run.state_name),
            format_time(run.start_time, seconds=False),
            format_duration(run_duration(run.start_time, run.end_time)),
        )
    console.print(table)
    more = " (use --limit to see more)" if total > len(runs) else ""
    console.print(
        f"Showing {len(runs)} of {total} flow run(s){more}. IDs are shortened: "
        "`tideflow flow-run inspect <ID>` accepts them.",
        style="dim",
    )


def _run_json(run: FlowRun) -> dict[str, Any]:
    data = to_jsonable(run)
    data["duration"] = run_duration(run.start_time, run.end_time)
    return data


def _history_json(states: list[StateRecord]) -> list[dict[str, Any]]:
    return [to_jsonable(s) for s in states]


def _task_sort_key(tr: TaskRun) -> tuple[float, str]:
    when = tr.start_time or tr.created
    return (when.timestamp(), tr.name)


@app.command("inspect")
def inspect_run(ident: IdArg, as_json: JsonOpt = False) -> None:
    """Show a flow run: parameters, state history, task runs and their histories."""
    client = get_client()
    try:
        run = resolve_flow_run(client, ident)
        history = client.read_flow_run_states(run.id)
        task_runs = sorted(
            client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id])), key=_task_sort_key
        )
        task_states = client.read_task_run_states_for_flow_run(run.id)
        subflows = (
            _read_runs(
                client,
                FlowRunFilter(parent_task_run_id_any=[tr.id for tr in task_runs]),
                PREFIX_SCAN_LIMIT,
            )
            if task_runs
            else []
        )
    except TideflowError as exc:
        _store_error(exc)
    if as_json:
        data = _run_json(run)
        data["state_history"] = _history_json(history)
        data["task_runs"] = [
            {
                **to_jsonable(tr),
                "duration": run_duration(tr.start_time, tr.end_time),
                "state_history": _history_json(task_states.get(tr.id, [])),
            }
            for tr in task_runs
        ]
        data["subflow_runs"] = [_run_json(r) for r in sorted(subflows, key=_start_key)]
        print_json(data)
        return
    _print_run(run, history)
    _print_task_runs(task_runs, task_states)
    if subflows:
        _print_subflows(subflows)
    console.print(f"Logs: tideflow flow-run logs {run.id}", style="dim")


def _print_run(run: FlowRun, history: list[StateRecord]) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    state = state_text(run.state_type, run.state_name)
    if run.state_message:
        state.append(f"  {run.state_message}", style="")
    rows: list[tuple[str, str | Text]] = [
        ("Flow run", Text.assemble((run.name, "bold"), f"  ({run.id})")),
        (
            "Flow",
            f"{run.flow_name or '-'}"
            + (f"  version {run.flow_version}" if run.flow_version else ""),
        ),
        ("State", state),
        ("Parameters", json.dumps(run.parameters, default=str) if run.parameters else "-"),
        ("Tags", ", ".join(run.tags) if run.tags else "-"),
        ("Started", format_time(run.start_time)),
        ("Ended", format_time(run.end_time)),
        ("Duration", format_duration(run_duration(run.start_time, run.end_time))),
        ("Attempts", str(run.run_count)),
    ]
    if run.parent_task_run_id:
        rows.append(("Parent task run", run.parent_task_run_id))
    if run.deployment_id:
        rows.append(("Deployment", run.deployment_id))
    for key, value in rows:
        grid.add_row(key, value)
    console.print(grid)
    error = (run.state_details or {}).get("error")
    if isinstance(error, dict) and error.get("traceback"):
        console.print(Text(str(error["traceback"]).rstrip(), style="red"), soft_wrap=True)
    console.print()
    table = make_table("State history")
    table.add_column("Time", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Message")
    for s in history:
        table.add_row(format_time_ms(s.timestamp), state_text(s.type, s.name), s.message or "")
    console.print(table)


def _print_task_runs(task_runs: list[TaskRun], states: dict[str, list[StateRecord]]) -> None:
    if not task_runs:
        console.print("\nNo task runs.", style="dim")
        return
    console.print()
    table = make_table(f"Task runs ({len(task_runs)})")
    table.add_column("Task run", overflow="fold")
    table.add_column("State", no_wrap=True)
    table.add_column("Started", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("History and message", ratio=1)
    for tr in task_runs:
        detail = Text(" > ", style="dim").join(
            state_text(s.type, s.name) for s in states.get(tr.id, [])
        )
        if tr.state_message and tr.state_type is not StateType.COMPLETED:
            detail.append(f"\n{tr.state_message}", style="dim")
        table.add_row(
            tr.name,
            state_text(tr.state_type, tr.state_name),
            format_clock(tr.start_time),
            format_duration(run_duration(tr.start_time, tr.end_time)),
            detail,
        )
    console.print(table)


def format_clock(value: datetime | None) -> str:
    """Local time of day (``-`` when unset); the run's date is in the header."""
    return format_time(value)[-8:] if value is not None else "-"


def _print_subflows(runs: list[FlowRun]) -> None:
    console.print()
    table = make_table("Subflow runs")
    table.add_column("ID", no_wrap=True, style="cyan")
    table.add_column("Name", no_wrap=True)
    table.add_column("Flow")
    table.add_column("State", no_wrap=True)
    for run in sorted(runs, key=_start_key):
        table.add_row(
            run.id, run.name, run.flow_name or "-", state_text(run.state_type, run.state_name)
        )
    console.print(table)


def parse_level(value: str) -> int:
    """A log level name (any case) or number; exits 2 naming the valid names otherwise."""
    if value.isdigit():
        return int(value)
    upper = value.upper()
    if upper == "WARN":
        upper = "WARNING"
    if upper not in LOG_LEVELS:
        bad_parameter(
            f"{value!r} is not a log level. Valid values: {join_choices(LOG_LEVELS)} or a number.",
            "--level",
        )
    return int(logging.getLevelName(upper))


_LEVEL_STYLES = {"DEBUG": "dim", "INFO": "cyan", "WARNING": "yellow", "ERROR": "red"}


@app.command("logs")
def logs(
    ident: IdArg,
    level: Annotated[
        str, typer.Option("--level", "-l", help="Lowest level to show (DEBUG ... CRITICAL).")
    ] = "DEBUG",
    as_json: JsonOpt = False,
) -> None:
    """Print a flow run's log lines (its own and its task runs'), oldest first."""
    level_no = parse_level(level)
    client = get_client()
    try:
        run = resolve_flow_run(client, ident)
        task_names = {
            tr.id: tr.name for tr in client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
        }
        lines: list[LogRecord] = []
        f = LogFilter(flow_run_id_any=[run.id], level_ge=level_no)
        while True:
            page = client.read_logs(f, limit=1000, offset=len(lines))
            lines.extend(page)
            if len(page) < 1000:
                break
    except TideflowError as exc:
        _store_error(exc)
    if as_json:
        print_json([to_jsonable(line) for line in lines])
        return
    if not lines:
        console.print(f"No logs for flow run '{run.name}' at level {level.upper()} or above.")
        return
    for line in lines:
        name = logging.getLevelName(line.level)
        who = (
            f"Task run '{task_names.get(line.task_run_id, line.task_run_id)}'"
            if line.task_run_id
            else f"Flow run '{run.name}'"
        )
        console.print(
            Text.assemble(
                (format_time_ms(line.timestamp), "dim"),
                " | ",
                (f"{name:<8}", _LEVEL_STYLES.get(name, "bold red")),
                f" | {who} - ",
                line.message,
            ),
            soft_wrap=True,
        )


@app.command("cancel")
def cancel(ident: IdArg) -> None:
    """Cancel a flow run: Cancelling if it is running or paused, else Cancelled."""
    client = get_client()
    try:
        run = resolve_flow_run(client, ident)
        active = run.state_type in (StateType.RUNNING, StateType.PAUSED)
        proposed = StateCreate(
            type=StateType.CANCELLING if active else StateType.CANCELLED,
            name="Cancelling" if active else "Cancelled",
            message="Cancellation requested from the CLI" if active else "Cancelled from the CLI",
        )
        result = client.set_flow_run_state(run.id, proposed)
    except TideflowError as exc:
        _store_error(exc)
    if result.status is not SetStateStatus.ACCEPT:
        fail(f"Cannot cancel flow run '{run.name}' ({run.id}): {result.reason or result.status}")
    new = state_text(proposed.type, proposed.name)
    console.print(Text.assemble(f"Flow run '{run.name}' ({run.id}) is now ", new, "."))
    if active:
        console.print("Its engine stops it and records it as Cancelled.", style="dim")


@app.command("delete")
def delete(ident: IdArg) -> None:
    """Delete a flow run with its task runs, state history and logs."""
    client = get_client()
    try:
        run = resolve_flow_run(client, ident)
        client.delete_flow_run(run.id)
    except TideflowError as exc:
        _store_error(exc)
    console.print(f"Deleted flow run '{run.name}' ({run.id}).")
