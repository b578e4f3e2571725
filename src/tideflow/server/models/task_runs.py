"""Task runs: written in batches, read per flow run.

A batch carries task-run snapshots (each with its newest state and its whole state
history, see ``tables.TaskRun.state_history``) and log lines, written in one
transaction. Retrying a batch is safe: snapshots are upserts that never replace a newer
state with an older one, and log lines are keyed and inserted once.

This is the hottest write path in tideflow (one row per task run), so on SQLite it
goes straight to the DBAPI cursor with pre-encoded values; PostgreSQL uses SQLAlchemy
Core's executemany.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, select

from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.core import StateRecord, TaskRun
from tideflow.schemas.filters import TaskRunFilter
from tideflow.server.database import tables as t
from tideflow.server.database.engine import json_dumps
from tideflow.server.models._dialect import insert_ignore, upsert

_TASK_RUN = t.table_of(t.TaskRun)
_LOG = t.table_of(t.Log)

SNAPSHOT_COLUMNS = [
    "id",
    "flow_run_id",
    "name",
    "task_key",
    "dynamic_key",
    "task_version",
    "cache_key",
    "tags",
    "task_inputs",
    "state_id",
    "state_type",
    "state_name",
    "state_timestamp",
    "state_message",
    "state_details",
    "state_history",
    "start_time",
    "end_time",
    "run_count",
    "created",
]
#: what a newer snapshot of an existing task run may change (not its identity)
_IDENTITY_COLUMNS = frozenset(
    {"id", "flow_run_id", "name", "task_key", "dynamic_key", "task_version", "tags", "created"}
)
SNAPSHOT_UPDATE_COLUMNS = [c for c in SNAPSHOT_COLUMNS if c not in _IDENTITY_COLUMNS]
LOG_COLUMNS = ["key", "flow_run_id", "task_run_id", "name", "level", "message", "timestamp"]

_SQLITE_UPSERT = (
    f"INSERT INTO task_run ({', '.join(SNAPSHOT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in SNAPSHOT_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_UPDATE_COLUMNS)
    + " WHERE excluded.state_timestamp >= task_run.state_timestamp"
)
_SQLITE_LOG_INSERT = (
    f"INSERT INTO log ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' for _ in LOG_COLUMNS)}) "
    "ON CONFLICT (key) DO NOTHING"
)

MAX_BATCH_ITEMS = 20_000


class BatchTooLarge(ValueError):
    """A batch holds more items than one transaction may write."""


def write_batch(
    conn: Connection,
    task_runs: Sequence[dict[str, Any]] = (),
    logs: Sequence[dict[str, Any]] = (),
) -> dict[str, int]:
    """Write task-run snapshots and log lines; returns how many of each were sent."""
    total = len(task_runs) + len(logs)
    if total > MAX_BATCH_ITEMS:
        raise BatchTooLarge(
            f"batch of {total} items exceeds the limit of {MAX_BATCH_ITEMS}; split it"
        )
    if conn.dialect.name == "sqlite":
        _write_sqlite(conn, task_runs, logs)
    else:
        _write_core(conn, task_runs, logs)
    return {"task_runs": len(task_runs), "logs": len(logs)}


def _write_core(
    conn: Connection, task_runs: Sequence[dict[str, Any]], logs: Sequence[dict[str, Any]]
) -> None:
    if task_runs:
        stmt = upsert(
            conn,
            _TASK_RUN,
            ["id"],
            SNAPSHOT_UPDATE_COLUMNS,
            where=lambda excluded: excluded.state_timestamp >= _TASK_RUN.c.state_timestamp,
        )
        conn.execute(stmt, list(task_runs))
    if logs:
        keyed = [r for r in logs if r.get("key")]
        unkeyed = [{**r, "key": None} for r in logs if not r.get("key")]
        if keyed:
            conn.execute(insert_ignore(conn, _LOG, ["key"]), keyed)
        if unkeyed:
            conn.execute(_LOG.insert(), unkeyed)


def sqlite_time(value: datetime | str | None) -> str | None:
    """A datetime (or ISO string) in the text form SQLAlchemy's SQLite dialect stores
    (UTC, naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.endswith("+00:00"):
            return value[:-6]
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError(f"naive time {value!r} given where a UTC time is expected")
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where a UTC datetime is expected")
        value = value.astimezone(UTC)
    # isoformat is C code; cutting its "+00:00" leaves the naive UTC text SQLAlchemy
    # stores. It drops ".000000", which still sorts correctly within the same second.
    return value.isoformat(" ")[:-6]


def _json(value: Any) -> str | None:
    if value is None:
        return "null"
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if type(value) is str:
        return value  # already encoded (see recorder.coalesce)
    return json_dumps(value)


def _write_sqlite(
    conn: Connection, task_runs: Sequence[dict[str, Any]], logs: Sequence[dict[str, Any]]
) -> None:
    cursor = conn.connection.cursor()
    try:
        if task_runs:
            # Spelled out column by column: this loop runs once per task run.
            rows = [
                (
                    r["id"],
                    r["flow_run_id"],
                    r["name"],
                    r["task_key"],
                    r["dynamic_key"],
                    r["task_version"],
                    r["cache_key"],
                    _json(r["tags"]),
                    _json(r["task_inputs"]),
                    r["state_id"],
                    str(r["state_type"]),
                    r["state_name"],
                    sqlite_time(r["state_timestamp"]),
                    r["state_message"],
                    _json(r["state_details"]),
                    _json(r["state_history"]),
                    sqlite_time(r["start_time"]),
                    sqlite_time(r["end_time"]),
                    r["run_count"],
                    sqlite_time(r["created"]),
                )
                for r in task_runs
            ]
            cursor.executemany(_SQLITE_UPSERT, rows)
        if logs:
            cursor.executemany(
                _SQLITE_LOG_INSERT,
                [
                    (
                        r.get("key"),
                        r.get("flow_run_id"),
                        r.get("task_run_id"),
                        r["name"],
                        r["level"],
                        r["message"],
                        sqlite_time(r["timestamp"]),
                    )
                    for r in logs
                ],
            )
    finally:
        cursor.close()


def read_task_runs(
    conn: Connection,
    task_run_filter: TaskRunFilter | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[TaskRun]:
    """Task runs matching the filter, in start order."""
    clauses: list[ColumnElement[bool]] = []
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
    row = conn.execute(
        select(_TASK_RUN.c.state_history).where(_TASK_RUN.c.id == task_run_id)
    ).first()
    if row is None:
        raise ObjectNotFound(f"Task run {task_run_id!r} not found")
    return [StateRecord.model_validate(r) for r in row[0] or []]


def read_task_run_states_for_flow_run(
    conn: Connection, flow_run_id: str
) -> dict[str, list[StateRecord]]:
    """State histories of all task runs of a flow run, keyed by task run id."""
    rows = conn.execute(
        select(_TASK_RUN.c.id, _TASK_RUN.c.state_history).where(
            _TASK_RUN.c.flow_run_id == flow_run_id
        )
    )
    return {r[0]: [StateRecord.model_validate(h) for h in r[1] or []] for r in rows}
