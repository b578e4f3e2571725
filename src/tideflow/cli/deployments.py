"""``tideflow deployment``: build, apply, run, list, inspect, schedule, backfill, delete.

The seed's sequence::

    tideflow deployment build hello_flow.py:hello_flow -n my-first-deployment -q default
    tideflow deployment apply hello_flow-deployment.yaml
    tideflow deployment run hello-flow/my-first-deployment
    tideflow agent start -q default

``build`` imports the flow from ``FILE.py:FUNCTION`` (relative to the working
directory, which is the code directory agents run it from, or what is uploaded to
``--storage-block``) and writes ``FUNCTION-deployment.yaml``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from tideflow.agent.code import FlowLoadError, load_flow_from_entrypoint
from tideflow.blocks.core import Block
from tideflow.cli._output import (
    bad_parameter,
    console,
    fail,
    format_time,
    print_json,
    state_text,
)
from tideflow.client import get_client
from tideflow.deployments import Deployment, run_deployment
from tideflow.exceptions import ObjectNotFound, TideflowError
from tideflow.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from tideflow.schemas.deployments import Deployment as DeploymentRecord
from tideflow.schemas.deployments import DeploymentUpdate
from tideflow.schemas.filters import FlowRunFilter
from tideflow.schemas.sorting import FlowRunSort
from tideflow.states import TERMINAL_STATES, StateType

app = typer.Typer(
    name="deployment",
    help="Deploy flows: build, apply, run, ls, inspect, set-schedule, pause-schedule, "
    "resume-schedule, backfill, delete.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The deployment, as FLOW_NAME/DEPLOYMENT_NAME.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
CronOpt = Annotated[str | None, typer.Option("--cron", help="A cron expression.")]
IntervalOpt = Annotated[
    float | None, typer.Option("--interval", help="An interval in seconds.", min=0.001)
]
RRuleOpt = Annotated[str | None, typer.Option("--rrule", help="An iCalendar RRULE.")]
TimezoneOpt = Annotated[
    str | None, typer.Option("--timezone", help="IANA time zone of the schedule.")
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter as KEY=VALUE (VALUE read as JSON if it is)."),
]
ParamsOpt = Annotated[str | None, typer.Option("--params", help="Parameters as one JSON object.")]


def parse_params(pairs: list[str] | None, as_json: str | None) -> dict[str, Any]:
    """``-p a=1 -p b=x`` and ``--params '{...}'`` -> a dict (``1`` read as JSON)."""
    params: dict[str, Any] = {}
    if as_json:
        try:
            loaded = json.loads(as_json)
        except json.JSONDecodeError as exc:
            bad_parameter(f"not valid JSON: {exc}", "--params")
        if not isinstance(loaded, dict):
            bad_parameter("must be a JSON object such as '{\"n\": 3}'", "--params")
        params.update(loaded)
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            bad_parameter(f"{pair!r} is not KEY=VALUE", "--param")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def build_schedule(
    cron: str | None, interval: float | None, rrule: str | None, timezone: str | None
) -> CronSchedule | IntervalSchedule | RRuleSchedule | None:
    """The schedule the options describe (at most one kind), or None."""
    given = [name for name, v in (("--cron", cron), ("--interval", interval), ("--rrule", rrule))
             if v is not None]  # fmt: skip
    if len(given) > 1:
        bad_parameter(f"give only one of --cron, --interval, --rrule (got {given})", given[1])
    try:
        if cron is not None:
            return CronSchedule(cron, timezone=timezone)
        if interval is not None:
            return IntervalSchedule(interval=timedelta(seconds=interval), timezone=timezone)
        if rrule is not None:
            return RRuleSchedule(rrule, timezone=timezone)
    except (ValidationError, ValueError) as exc:
        bad_parameter(_first_error(exc), given[0])
    if timezone is not None:
        bad_parameter("--timezone needs --cron, --interval or --rrule", "--timezone")
    return None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return str(exc)


def _read(name: str) -> DeploymentRecord:
    try:
        return get_client().read_deployment_by_name(name)
    except ObjectNotFound:
        fail(f"Deployment {name!r} not found (list them with `tideflow deployment ls`)")
    except ValueError as exc:
        fail(str(exc), 2)


def _describe_schedule(record: DeploymentRecord | Deployment) -> str:
    schedule = record.schedule
    if schedule is None:
        return "-"
    if isinstance(schedule, CronSchedule):
        text = f"cron {schedule.cron!r}"
    elif isinstance(schedule, IntervalSchedule):
        text = f"every {schedule.interval}"
    else:
        text = f"rrule {schedule.rrule!r}"
    if schedule.timezone:
        text += f" ({schedule.timezone})"
    return text if record.is_schedule_active else f"{text} (paused)"


@app.command("build")
def build(
    entrypoint: Annotated[str, typer.Argument(help="The flow, as path/to/file.py:flow_function.")],
    name: Annotated[str, typer.Option("--name", "-n", help="The deployment's name.")],
    work_queue: Annotated[
        str, typer.Option("--work-queue", "-q", help="The work queue agents poll.")
    ] = "default",
    cron: CronOpt = None,
    interval: IntervalOpt = None,
    rrule: RRuleOpt = None,
    timezone: TimezoneOpt = None,
    storage_block: Annotated[
        str | None,
        typer.Option("--storage-block", "-sb", help="Upload the code to this block: TYPE/NAME."),
    ] = None,
    param: ParamOpt = None,
    params: ParamsOpt = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag.")] = None,
    version: Annotated[str | None, typer.Option("--version", "-v", help="A version.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="YAML file to write.")
    ] = None,
    skip_upload: Annotated[bool, typer.Option("--skip-upload", help="Do not upload.")] = False,
    apply: Annotated[bool, typer.Option("--apply", "-a", help="Also apply it.")] = False,
) -> None:
    """Build a deployment of a flow and write its YAML definition."""
    if ":" not in entrypoint:
        bad_parameter("expected path/to/file.py:flow_function", "ENTRYPOINT")
    schedule = build_schedule(cron, interval, rrule, timezone)
    try:
        flow = load_flow_from_entrypoint(entrypoint, Path.cwd())
    except FlowLoadError as exc:
        fail(str(exc))
    storage = None
    if storage_block:
        if "/" not in storage_block:
            bad_parameter("expected TYPE/NAME, e.g. s3/my-bucket", "--storage-block")
        try:
            storage = Block.load(storage_block)
        except (ObjectNotFound, ValueError) as exc:
            fail(str(exc))
    try:
        deployment = Deployment.build_from_flow(
            flow,
            name,
            version=version,
            schedule=schedule,
            storage=storage,
            tags=tag,
            parameters=parse_params(param, params),
            work_queue_name=work_queue,
            description=description,
            entrypoint=entrypoint,
            path=None if storage else str(Path.cwd()),
            skip_upload=skip_upload,
        )
    except (TideflowError, ValueError, TypeError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    target = output or Path(f"{entrypoint.rpartition(':')[2]}-deployment.yaml")
    deployment.to_yaml(target)
    console.print(f"Deployment YAML created at [cyan]{target}[/].")
    if storage is not None and not skip_upload:
        console.print(f"Uploaded the code in {Path.cwd()} to {storage_block}.")
    if apply:
        _apply(deployment)


def _apply(deployment: Deployment) -> None:
    try:
        deployment_id = deployment.apply()
    except (TideflowError, ValueError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    console.print(
        f"Deployment [cyan]{deployment.full_name}[/] applied ({deployment_id}); "
        f"runs go to work queue [cyan]{deployment.work_queue_name}[/]."
    )
    console.print(
        "To run it: "
        f"[bold]tideflow deployment run '{deployment.full_name}'[/] and start an agent with "
        f"[bold]tideflow agent start -q '{deployment.work_queue_name}'[/]"
    )


@app.command("apply")
def apply_(
    path: Annotated[Path, typer.Argument(help="A YAML file written by `deployment build`.")],
    upload: Annotated[bool, typer.Option("--upload", help="Upload the code again.")] = False,
) -> None:
    """Create or update the deployment a YAML file defines."""
    if not path.is_file():
        fail(f"{path} does not exist")
    try:
        deployment = Deployment.load_from_yaml(path)
    except (ValidationError, ValueError) as exc:
        fail(f"{path} is not a valid deployment definition: {exc}")
    if upload and deployment.storage is not None:
        deployment.upload_to_storage(Path.cwd())
    _apply(deployment)


@app.command("run")
def run(
    name: NameArg,
    param: ParamOpt = None,
    params: ParamsOpt = None,
    start_in: Annotated[
        float | None, typer.Option("--start-in", help="Seconds from now to schedule it.")
    ] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Wait for the run to finish.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="With --watch: give up after seconds.")
    ] = None,
) -> None:
    """Start a run of a deployment (an agent on its work queue runs it)."""
    scheduled = None
    if start_in is not None:
        scheduled = datetime.now().astimezone() + timedelta(seconds=start_in)
    try:
        record = _read(name)
        flow_run = run_deployment(
            record.id, parse_params(param, params), timeout=0, scheduled_time=scheduled
        )
    except (TideflowError, ValueError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    console.print(
        f"Created flow run [cyan]{flow_run.name}[/] ({flow_run.id}) of {name}, "
        f"scheduled for {format_time(flow_run.next_scheduled_start_time)}, "
        f"on work queue [cyan]{flow_run.work_queue_name}[/]."
    )
    if not watch:
        return
    client = get_client()
    deadline = None if timeout is None else time.monotonic() + timeout
    current = flow_run
    while current.state_type not in TERMINAL_STATES:
        if deadline is not None and time.monotonic() > deadline:
            fail(f"Flow run {flow_run.name} is still {current.state_name} after {timeout}s")
        time.sleep(0.5)
        current = client.read_flow_run(flow_run.id)
    console.print(
        f"Flow run [cyan]{current.name}[/] finished: ",
        state_text(current.state_type, current.state_name),
        f" {current.state_message or ''}".rstrip(),
    )
    if current.state_type is not StateType.COMPLETED:
        raise typer.Exit(1)


@app.command("ls")
def ls(
    flow_name: Annotated[str | None, typer.Option("--flow", "-f", help="Only this flow.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List deployments."""
    records = get_client().read_deployments(flow_name=flow_name)
    if as_json:
        print_json(records)
        return
    if not records:
        console.print("No deployments.")
        return
    table = Table(title="Deployments", title_justify="left", header_style="bold")
    table.add_column("Name", style="cyan", no_wrap=True)
    table.add_column("ID", no_wrap=True)
    table.add_column("Work queue")
    table.add_column("Schedule")
    for record in records:
        table.add_row(
            record.full_name, record.id, record.work_queue_name, _describe_schedule(record)
        )
    console.print(table)


@app.command("inspect")
def inspect(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show a deployment and its next scheduled runs."""
    record = _read(name)
    client = get_client()
    upcoming = client.read_flow_runs(
        FlowRunFilter(deployment_id_any=[record.id], state_type_any=[StateType.SCHEDULED]),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=5,
    )
    if as_json:
        data = record.model_dump(mode="json")
        data["upcoming_runs"] = [r.model_dump(mode="json") for r in upcoming]
        print_json(data)
        return
    table = Table(show_header=False, title=record.full_name, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str]] = [
        ("ID", record.id),
        ("Version", record.version or "-"),
        ("Description", (record.description or "-").splitlines()[0]),
        ("Work queue", record.work_queue_name),
        ("Schedule", _describe_schedule(record)),
        ("Catch-up", record.catchup),
        ("Parameters", json.dumps(record.parameters)),
        ("Tags", ", ".join(record.tags) or "-"),
        ("Entrypoint", record.entrypoint or "-"),
        ("Path", record.path or "-"),
        ("Storage", json.dumps(record.storage) if record.storage else "- (local path)"),
        ("Infrastructure", json.dumps(record.infrastructure)),
        ("Retries", str(record.retries)),
        ("Updated", format_time(record.updated)),
    ]
    for key, value in rows:
        table.add_row(key, Text(value))
    console.print(table)
    if upcoming:
        console.print("Next scheduled runs:")
        for flow_run in upcoming:
            console.print(
                f"  {format_time(flow_run.next_scheduled_start_time)}  {flow_run.name}  ",
                state_text(flow_run.state_type, flow_run.state_name),
            )


def _update(name: str, data: DeploymentUpdate) -> DeploymentRecord:
    record = _read(name)
    try:
        return get_client().update_deployment(record.id, data)
    except (TideflowError, ValueError) as exc:
        fail(f"{type(exc).__name__}: {exc}")


@app.command("set-schedule")
def set_schedule(
    name: NameArg,
    cron: CronOpt = None,
    interval: IntervalOpt = None,
    rrule: RRuleOpt = None,
    timezone: TimezoneOpt = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the schedule.")] = False,
) -> None:
    """Replace a deployment's schedule (its unstarted scheduled runs are replaced)."""
    schedule = build_schedule(cron, interval, rrule, timezone)
    if schedule is None and not clear:
        bad_parameter("give --cron, --interval or --rrule (or --clear)", "--cron")
    record = _update(name, DeploymentUpdate(schedule=schedule))
    console.print(f"Schedule of [cyan]{record.full_name}[/]: {_describe_schedule(record)}")


@app.command("pause-schedule")
def pause_schedule(name: NameArg) -> None:
    """Pause a deployment's schedule (its unstarted scheduled runs are deleted)."""
    record = _update(name, DeploymentUpdate(is_schedule_active=False))
    console.print(f"Paused the schedule of [cyan]{record.full_name}[/].")


@app.command("resume-schedule")
def resume_schedule(name: NameArg) -> None:
    """Resume a paused schedule (from now on; the paused time is not caught up)."""
    record = _update(name, DeploymentUpdate(is_schedule_active=True))
    console.print(f"Resumed the schedule of [cyan]{record.full_name}[/].")


@app.command("delete")
def delete(name: NameArg) -> None:
    """Delete a deployment and its unstarted runs (finished runs are kept)."""
    record = _read(name)
    get_client().delete_deployment(record.id)
    console.print(f"Deleted deployment [cyan]{record.full_name}[/].")


def _parse_time(value: str, option: str, zone: str | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        bad_parameter(f"{value!r} is not an ISO date/time such as 2024-01-31T09:00", option)
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo(zone or "UTC"))
    return parsed


@app.command("backfill")
def backfill(
    name: NameArg,
    start: Annotated[str, typer.Option("--start", help="Window start (ISO date/time).")],
    end: Annotated[str, typer.Option("--end", help="Window end (ISO date/time), inclusive.")],
) -> None:
    """Create the runs the schedule would have made in a past window.

    Times without a zone are read in the schedule's time zone (UTC if it has none).
    Safe to repeat: times that already have a run are skipped.
    """
    record = _read(name)
    zone = record.schedule.timezone if record.schedule is not None else None
    first = _parse_time(start, "--start", zone)
    last = _parse_time(end, "--end", zone)
    try:
        created, total = get_client().backfill_deployment(record.id, first, last)
    except (TideflowError, ValueError) as exc:
        fail(f"{type(exc).__name__}: {exc}")
    console.print(
        f"Backfilled [cyan]{record.full_name}[/] from {first.isoformat()} to "
        f"{last.isoformat()}: {created} run(s) created, {total - created} already existed."
    )
