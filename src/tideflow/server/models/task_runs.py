"""Task runs: written in batches, read per flow run.

A batch carries task-run snapshots (the newest state of each run), their state-history
entries and log lines, and is written in one transaction. Retrying a batch is safe:
snapshots are upserts that never replace a newer state with an older one, history
entries and log lines are keyed and inserted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, select

from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.core import StateRecord, TaskRun
from tideflow.schemas.filters import TaskRunFilter
from tideflow.server.database import tables as t
from tideflow.server.models._dialect import insert_ignore, upsert

_TASK_RUN = t.TaskRun.__table__
_STATE = t.TaskRunState.__table__
_LOG = t.Log.__table__

SNAPSHOT_UPDATE_COLUMNS = [
    "state_id",
    "state_type",
    "state_name",
    "state_timestamp",
    "state_message",
    "state_details",
    "start_time",
    "end_time",
    "run_count",
    "cache_key",
    "task_inputs",
]

MAX_BATCH_ITEMS = 20_000


class BatchTooLarge(ValueError):
    """A batch holds more items than one transaction may write."""


def write_batch(
    conn: Connection,
    task_runs: Sequence[dict[str, Any]] = (),
    task_run_states: Sequence[dict[str, Any]] = (),
    logs: Sequence[dict[str, Any]] = (),
) -> dict[str, int]:
    """Write snapshots, history entries and logs; returns how many of each were sent."""
    total = len(task_runs) + len(task_run_states) + len(logs)
    if total > MAX_BATCH_ITEMS:
        raise BatchTooLarge(
            f"batch of {total} items exceeds the limit of {MAX_BATCH_ITEMS}; split it"
        )
    if task_runs:
        stmt = upsert(
            conn,
            _TASK_RUN,
            ["id"],
            SNAPSHOT_UPDATE_COLUMNS,
            where=lambda excluded: excluded.state_timestamp >= _TASK_RUN.c.state_timestamp,
        )
        conn.execute(stmt, list(task_runs))
    if task_run_states:
        conn.execute(insert_ignore(conn, _STATE, ["id"]), list(task_run_states))
    if logs:
        keyed = [r for r in logs if r.get("key")]
        unkeyed = [r for r in logs if not r.get("key")]
        if keyed:
            conn.execute(insert_ignore(conn, _LOG, ["key"]), keyed)
        if unkeyed:
            conn.execute(_LOG.insert(), [{**r, "key": None} for r in unkeyed])
    return {"task_runs": len(task_runs), "task_run_states": len(task_run_states), "logs": len(logs)}


def read_task_runs(
    conn: Connection,
    task_run_filter: TaskRunFilter | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[TaskRun]:
    """Task runs matching the filter, in start order."""
    clauses = []
    f = task_run_filter
    if f is not None:
        if f.flow_run_id_any is not None:
            clauses.append(_TASK_RUN.c.flow_run_id.in_(f.flow_run_id_any))
        if f.state_type_any is not None:
            clauses.append(_TASK_RUN.c.state_type.in_([s.value for s in f.state_type_any]))
        if f.name_like:
            clauses.append(_TASK_RUN.c.name.contains(f.name_like, autoescape=True))
    stmt = (
        select(_TASK_RUN)
        .where(and_(True, *clauses))
        .order_by(_TASK_RUN.c.created, _TASK_RUN.c.id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [TaskRun.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]


def read_task_run(conn: Connection, task_run_id: str) -> TaskRun:
    """One task run, or ``ObjectNotFound``."""
    row = conn.execute(select(_TASK_RUN).where(_TASK_RUN.c.id == task_run_id)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Task run {task_run_id!r} not found")
    return TaskRun.model_validate(dict(row))


def read_task_run_states(conn: Connection, task_run_id: str) -> list[StateRecord]:
    """The state history of one task run, oldest first."""
    rows = conn.execute(
        select(_STATE).where(_STATE.c.task_run_id == task_run_id).order_by(_STATE.c.timestamp)
    ).mappings()
    return [StateRecord.model_validate(dict(r)) for r in rows]


def read_task_run_states_for_flow_run(
    conn: Connection, flow_run_id: str
) -> dict[str, list[StateRecord]]:
    """State histories of all task runs of a flow run, keyed by task run id."""
    rows = conn.execute(
        select(_STATE)
        .join(_TASK_RUN, _TASK_RUN.c.id == _STATE.c.task_run_id)
        .where(_TASK_RUN.c.flow_run_id == flow_run_id)
        .order_by(_STATE.c.timestamp)
    ).mappings()
    out: dict[str, list[StateRecord]] = {}
    for r in rows:
        out.setdefault(r["task_run_id"], []).append(StateRecord.model_validate(dict(r)))
    return out
