"""Runs whose process went away: crashed, released, late.

- ``crash_flow_run``: the process running a flow run died. The run becomes Crashed and,
  when it belongs to a deployment and has retries left (``run_count <= retries``),
  AwaitingRetry right after, so an agent runs it again. A run that was Cancelling ends
  Cancelled instead: it was going to stop anyway.
- ``detect_crashed_runs``: the crash detector's query: Running or Cancelling runs whose
  heartbeat is older than the crash bound; Pending runs whose claiming agent stopped
  heartbeating before it started them go back to their queue (``release_flow_run``).
- ``mark_late_runs``: Scheduled runs not started within a threshold become ``Late``
  (still a SCHEDULED-type state, so agents still pick them up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, select, update

from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import OrchestrationResult, SetStateStatus
from tideflow.server.database import tables as t
from tideflow.server.models import flow_runs
from tideflow.states import StateType, now_utc

_RUN = cast(Table, t.FlowRun.__table__)
_CRASHABLE = frozenset(
    {StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING}
)


@dataclass
class RecoveryReport:
    """What one pass of the crash detector did (run ids per outcome)."""

    crashed: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


def crash_flow_run(
    conn: Connection, flow_run_id: str, message: str, now: datetime | None = None
) -> OrchestrationResult:
    """Record that the process running ``flow_run_id`` died (see the module doc).

    Applies to a run that is Pending, Running, Paused or Cancelling. A run that is
    already Crashed (its engine saw the end coming) only gets the retry. Any other run
    (Scheduled, or finished otherwise) is left alone and REJECT is returned.
    """
    now = now or now_utc()
    run = flow_runs.read_flow_run(conn, flow_run_id)
    if run.state_type is StateType.CANCELLING:
        return flow_runs.set_flow_run_state(
            conn,
            flow_run_id,
            StateCreate(
                type=StateType.CANCELLED,
                message=f"Cancelled: its process stopped before it finished ({message})",
                timestamp=now,
            ),
        )
    if run.state_type is StateType.CRASHED:
        result = OrchestrationResult(status=SetStateStatus.ACCEPT, state=None)
    elif run.state_type in _CRASHABLE:
        result = flow_runs.set_flow_run_state(
            conn,
            flow_run_id,
            StateCreate(type=StateType.CRASHED, message=message, timestamp=now),
        )
        if result.status is not SetStateStatus.ACCEPT:
            return result
    else:
        return OrchestrationResult(
            status=SetStateStatus.REJECT,
            reason=f"The run is {run.state_name}; nothing to do.",
        )
    if run.deployment_id and run.work_queue_name and 0 < run.run_count <= run.retries:
        when = now + timedelta(seconds=run.retry_delay_seconds)
        retry = flow_runs.set_flow_run_state(
            conn,
            flow_run_id,
            StateCreate(
                type=StateType.SCHEDULED,
                name="AwaitingRetry",
                message=f"Crashed ({message}); retry {run.run_count} of {run.retries}",
                timestamp=now + timedelta(microseconds=1),
                details={"scheduled_time": when.isoformat()},
            ),
        )
        conn.execute(update(_RUN).where(_RUN.c.id == flow_run_id).values(heartbeat=None))
        return retry
    return result


def release_flow_run(
    conn: Connection, flow_run_id: str, message: str | None = None
) -> OrchestrationResult:
    """Hand a claimed (Pending) run that never started back to its queue."""
    run = flow_runs.read_flow_run(conn, flow_run_id)
    if run.state_type is not StateType.PENDING:
        return OrchestrationResult(
            status=SetStateStatus.REJECT,
            reason=f"Only a Pending run can be released; this one is {run.state_name}.",
        )
    when = run.next_scheduled_start_time or run.expected_start_time or now_utc()
    result = flow_runs.set_flow_run_state(
        conn,
        flow_run_id,
        StateCreate(
            type=StateType.SCHEDULED,
            message=message or "Released by its agent before it started",
            details={"scheduled_time": when.isoformat()},
        ),
    )
    if result.status is SetStateStatus.ACCEPT:
        conn.execute(update(_RUN).where(_RUN.c.id == flow_run_id).values(heartbeat=None))
    return result


def set_infrastructure_pid(conn: Connection, flow_run_id: str, pid: str | None) -> None:
    """Record which process runs the flow run (``agent:pid`` style, free text)."""
    flow_runs.read_flow_run(conn, flow_run_id)
    conn.execute(update(_RUN).where(_RUN.c.id == flow_run_id).values(infrastructure_pid=pid))


def detect_crashed_runs(
    conn: Connection, now: datetime, crash_after: timedelta, *, limit: int = 500
) -> RecoveryReport:
    """One pass of the crash detector (see the module doc)."""
    report = RecoveryReport()
    cutoff = now - crash_after
    stale = and_(_RUN.c.heartbeat.is_not(None), _RUN.c.heartbeat < cutoff)
    rows = conn.execute(
        select(_RUN.c.id, _RUN.c.state_type, _RUN.c.heartbeat, _RUN.c.run_count, _RUN.c.retries)
        .where(
            stale,
            _RUN.c.state_type.in_(
                [StateType.RUNNING.value, StateType.CANCELLING.value, StateType.PENDING.value,
                 StateType.SCHEDULED.value]
            ),
        )
        .order_by(_RUN.c.heartbeat)
        .limit(limit)
    ).mappings().all()  # fmt: skip
    for row in rows:
        state = StateType(row["state_type"])
        silent = (now - row["heartbeat"]).total_seconds()
        if state is StateType.PENDING:
            result = release_flow_run(
                conn,
                row["id"],
                f"Released: its agent stopped heartbeating {silent:.0f}s ago before starting it",
            )
            if result.status is SetStateStatus.ACCEPT:
                report.released.append(row["id"])
            continue
        if state is StateType.SCHEDULED:
            # A retry whose engine died while waiting for it: let an agent pick it up.
            conn.execute(update(_RUN).where(_RUN.c.id == row["id"]).values(heartbeat=None))
            report.released.append(row["id"])
            continue
        message = (
            f"No heartbeat for {silent:.0f}s (crash bound {crash_after.total_seconds():g}s): "
            f"the process running this flow run died or hung; last heartbeat at "
            f"{row['heartbeat'].isoformat()}"
        )
        result = crash_flow_run(conn, row["id"], message, now)
        if state is StateType.CANCELLING:
            report.cancelled.append(row["id"])
        elif result.state is not None and result.state.name == "AwaitingRetry":
            report.crashed.append(row["id"])
            report.retried.append(row["id"])
        else:
            report.crashed.append(row["id"])
    return report


def mark_late_runs(
    conn: Connection, now: datetime, late_after: timedelta, *, limit: int = 500
) -> list[str]:
    """Mark Scheduled runs due more than ``late_after`` ago as ``Late``; their ids."""
    cutoff = now - late_after
    rows = conn.execute(
        select(_RUN.c.id, _RUN.c.state_details, _RUN.c.next_scheduled_start_time)
        .where(
            _RUN.c.state_type == StateType.SCHEDULED.value,
            _RUN.c.state_name == "Scheduled",
            _RUN.c.next_scheduled_start_time < cutoff,
        )
        .order_by(_RUN.c.next_scheduled_start_time)
        .limit(limit)
    ).mappings().all()  # fmt: skip
    marked: list[str] = []
    for row in rows:
        details: dict[str, Any] = dict(row["state_details"] or {})
        due: datetime = row["next_scheduled_start_time"]
        details["scheduled_time"] = due.isoformat()
        result = flow_runs.set_flow_run_state(
            conn,
            row["id"],
            StateCreate(
                type=StateType.SCHEDULED,
                name="Late",
                message=f"Not started {(now - due).total_seconds():.0f}s after it was due",
                timestamp=now,
                details=details,
            ),
        )
        if result.status is SetStateStatus.ACCEPT:
            marked.append(row["id"])
    return marked
