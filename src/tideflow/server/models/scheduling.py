"""Materialising scheduled runs: the scheduler's work, and backfills.

For each deployment with an active schedule, the scheduler keeps the upcoming runs in
the database: the next ``max_runs`` (100) runs or those in the next ``horizon`` (7
days), whichever is fewer. Each run's idempotency key is
``"scheduled {deployment_id} {time in UTC ISO format}"`` and the unique index on
``(flow_id, idempotency_key)`` makes the insert ``ON CONFLICT DO NOTHING``: two
schedulers at once, a restart in the middle of a pass, or a backfill of a window that
was already scheduled never create a second run for the same time.

``deployment.last_scheduled_time`` is a watermark: the schedule is materialised up to
it (before the first pass: up to when the schedule was set, ``deployment.updated``).
Dates between the watermark and now were missed (the scheduler was down); the
deployment's ``catchup`` policy decides what happens to them: ``latest`` (default)
creates only the newest missed run and records how many were skipped (counted up to
``MAX_COUNTED_MISSES``) in its state message and details (``skipped_runs``), ``all``
creates the first ``MAX_CATCHUP`` of them, ``none`` skips them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, func, or_, select, update

from tideflow._ids import new_id
from tideflow.exceptions import ObjectNotFound
from tideflow.schedules import MAX_DATES, schedule_from_dict
from tideflow.server.database import tables as t
from tideflow.server.database.engine import json_dumps
from tideflow.server.models._dialect import insert_ignore
from tideflow.server.models.flow_runs import generate_run_name
from tideflow.server.models.work_queues import ensure_work_queue
from tideflow.states import StateType, now_utc

_DEP = cast(Table, t.Deployment.__table__)
_RUN = cast(Table, t.FlowRun.__table__)
_STATE = cast(Table, t.FlowRunState.__table__)

MAX_RUNS = 100
HORIZON = timedelta(days=7)
MAX_CATCHUP = 1_000
#: how many missed dates are counted at most for the "skipped" message
MAX_COUNTED_MISSES = MAX_DATES
_TICK = timedelta(microseconds=1)


@dataclass
class SchedulePass:
    """What one scheduler pass did."""

    deployments: int = 0
    runs_created: int = 0
    runs_skipped: int = 0


def idempotency_key(deployment_id: str, when: datetime) -> str:
    """The key that makes a run unique per (deployment, scheduled time)."""
    return f"scheduled {deployment_id} {when.astimezone(UTC).isoformat()}"


def schedule_runs(
    conn: Connection,
    now: datetime | None = None,
    *,
    deployment_ids: Sequence[str] | None = None,
    max_runs: int = MAX_RUNS,
    horizon: timedelta = HORIZON,
    page_size: int = 200,
    after_id: str | None = None,
) -> tuple[SchedulePass, str | None]:
    """Materialise runs for one page of deployments with active schedules.

    Pages go by deployment id; pass the returned id as ``after_id`` to continue (``None``
    when this was the last page). Each page is meant to be one short transaction.
    """
    now = now or now_utc()
    query = (
        select(_DEP)
        .where(_DEP.c.schedule.is_not(None), _DEP.c.is_schedule_active.is_(True))
        .order_by(_DEP.c.id)
        .limit(page_size)
    )
    if deployment_ids is not None:
        query = query.where(_DEP.c.id.in_(list(deployment_ids)))
    if after_id is not None:
        query = query.where(_DEP.c.id > after_id)
    if conn.dialect.name == "postgresql":
        # Two schedulers split the deployments; an edit of one waits for this pass.
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).mappings().all()
    result = SchedulePass(deployments=len(rows))
    if not rows:
        return result, None
    future = _future_counts(conn, [r["id"] for r in rows], now)
    runs: list[_RunSpec] = []
    watermarks: list[dict[str, Any]] = []
    for row in rows:
        if not row["schedule"]:  # a JSON null written by an older version
            continue
        planned = _plan(row, now, max_runs - future.get(row["id"], 0), horizon)
        if planned is None:
            continue
        dates, watermark, missed = planned
        result.runs_skipped += missed.skipped
        for when in dates:
            runs.append(_RunSpec(row, when, None))
        if missed.latest is not None:
            runs.append(_RunSpec(row, missed.latest, missed.skipped))
        for when in missed.created:
            runs.append(_RunSpec(row, when, None))
        if watermark != row["last_scheduled_time"]:
            watermarks.append({"b_id": row["id"], "b_mark": watermark})
    result.runs_created = insert_runs(conn, runs, now)
    if watermarks:
        # Monotonic: a slower, concurrent pass never moves a watermark back.
        conn.execute(
            update(_DEP)
            .where(
                _DEP.c.id == bindparam("b_id"),
                or_(
                    _DEP.c.last_scheduled_time.is_(None),
                    _DEP.c.last_scheduled_time < bindparam("b_mark"),
                ),
            )
            .values(last_scheduled_time=bindparam("b_mark")),
            watermarks,
        )
    last = rows[-1]["id"] if len(rows) == page_size else None
    return result, last


@dataclass
class _Missed:
    latest: datetime | None = None
    created: tuple[datetime, ...] = ()
    skipped: int = 0


def _plan(
    row: Any, now: datetime, wanted: int, horizon: timedelta
) -> tuple[list[datetime], datetime, _Missed] | None:
    """Which dates to create for one deployment, its new watermark, and missed runs."""
    mark: datetime | None = row["last_scheduled_time"]
    if mark is None and row["updated"] is not None and row["updated"] < now:
        # Never scheduled since the schedule was set: it counts from that moment, so a
        # first date between then and this pass (an anchored rrule's DTSTART, say) is
        # not lost; the catch-up policy applies to it like to any missed run.
        mark = row["updated"] - _TICK
    end = now + horizon
    missed = _Missed()
    schedule = None
    if mark is not None and mark + _TICK < now:
        schedule = schedule_from_dict(row["schedule"])
        missed = _missed(schedule, mark + _TICK, now - _TICK, row["catchup"])
    if wanted <= 0 or (mark is not None and mark >= end):
        if missed.latest is None and not missed.created and not missed.skipped:
            return None
        return [], max(mark or now, now - _TICK), missed
    if schedule is None:
        schedule = schedule_from_dict(row["schedule"])
    start = now if mark is None or mark < now else mark + _TICK
    dates = schedule.get_dates(min(wanted, MAX_DATES), start=start, end=end)
    watermark = dates[-1] if len(dates) >= wanted else end
    if mark is not None and watermark < mark:
        watermark = mark
    return dates, watermark, missed


def _missed(schedule: Any, start: datetime, end: datetime, catchup: str) -> _Missed:
    """The missed dates in ``[start, end]`` under the ``catchup`` policy.

    At most ``MAX_COUNTED_MISSES`` dates are counted (``skipped`` then says "at least");
    the latest one is found by looking back from ``end`` in widening windows, so a long
    outage costs a few ``get_dates`` calls, not one per missed date.
    """
    if catchup == "all":
        dates = schedule.get_dates(MAX_CATCHUP, start=start, end=end)
        return _Missed(created=tuple(dates))
    counted = schedule.get_dates(MAX_COUNTED_MISSES, start=start, end=end)
    if not counted:
        return _Missed()
    count = len(counted)
    latest = counted[-1]
    if count >= MAX_COUNTED_MISSES:
        latest = _latest_before(schedule, start, end) or latest
    if catchup == "none":
        return _Missed(skipped=count)
    return _Missed(latest=latest, skipped=count - 1)


def _latest_before(schedule: Any, start: datetime, end: datetime) -> datetime | None:
    for lookback in _LOOKBACKS:
        begin = max(start, end - lookback)
        dates = schedule.get_dates(MAX_DATES, start=begin, end=end)
        if dates and len(dates) < MAX_DATES:
            latest: datetime = dates[-1]
            return latest
        if begin == start:
            break
    return None


_LOOKBACKS = tuple(
    timedelta(seconds=s) for s in (60, 3600, 86_400, 7 * 86_400, 31 * 86_400, 366 * 86_400)
)


def _future_counts(conn: Connection, deployment_ids: list[str], now: datetime) -> dict[str, int]:
    rows = conn.execute(
        select(_RUN.c.deployment_id, func.count())
        .where(
            _RUN.c.deployment_id.in_(deployment_ids),
            _RUN.c.auto_scheduled.is_(True),
            _RUN.c.state_type == StateType.SCHEDULED.value,
            _RUN.c.expected_start_time >= now,
        )
        .group_by(_RUN.c.deployment_id)
    )
    return {str(d): int(n) for d, n in rows}


class _RunSpec(NamedTuple):
    """One run to create: its deployment row, its time, and why."""

    row: Any
    when: datetime
    skipped: int | None
    backfill: bool = False


def _state_text(spec: _RunSpec, when_iso: str) -> tuple[str | None, dict[str, Any]]:
    details: dict[str, Any] = {"scheduled_time": when_iso}
    message = None
    if spec.skipped:
        details["skipped_runs"] = spec.skipped
        message = (
            f"Caught up after downtime: {_at_least(spec.skipped)} earlier missed run(s) were "
            "skipped (catchup='latest')"
        )
    if spec.backfill:
        details["backfill"] = True
        message = "Backfilled"
    return message, details


def _at_least(skipped: int) -> str:
    return f"at least {skipped}" if skipped >= MAX_COUNTED_MISSES - 1 else str(skipped)


def _run_values(spec: _RunSpec, now: datetime) -> dict[str, Any]:
    row, when = spec.row, spec.when
    run_id = new_id()
    message, details = _state_text(spec, when.astimezone(UTC).isoformat())
    return {
        "id": run_id,
        "flow_id": row["flow_id"],
        "name": generate_run_name(run_id),
        "flow_version": row["version"],
        "parameters": row["parameters"] or {},
        "tags": row["tags"] or [],
        "parent_task_run_id": None,
        "deployment_id": row["id"],
        "work_queue_name": row["work_queue_name"],
        "idempotency_key": idempotency_key(row["id"], when),
        "state_id": new_id(),
        "state_type": StateType.SCHEDULED.value,
        "state_name": "Scheduled",
        "state_timestamp": now,
        "state_message": message,
        "state_details": details,
        "expected_start_time": when,
        "next_scheduled_start_time": when,
        "total_run_time": 0.0,
        "run_count": 0,
        "retries": row["retries"],
        "retry_delay_seconds": row["retry_delay_seconds"],
        "auto_scheduled": not spec.backfill,
        "created": now,
        "updated": now,
    }


def insert_runs(conn: Connection, runs: list[_RunSpec], now: datetime) -> int:
    """Insert scheduled runs, skipping any whose (flow, idempotency key) exists."""
    if not runs:
        return 0
    if conn.dialect.name == "sqlite":
        return _insert_runs_sqlite(conn, runs, now)
    values = [_run_values(spec, now) for spec in runs]
    stmt = insert_ignore(conn, _RUN, ["flow_id", "idempotency_key"]).returning(_RUN.c.id)
    inserted = {str(r[0]) for r in conn.execute(stmt, values)}
    if not inserted:
        return 0
    states = [
        {
            "id": r["state_id"],
            "flow_run_id": r["id"],
            "type": r["state_type"],
            "name": r["state_name"],
            "timestamp": r["state_timestamp"],
            "message": r["state_message"],
            "details": r["state_details"],
        }
        for r in values
        if r["id"] in inserted
    ]
    conn.execute(_STATE.insert(), states)
    return len(inserted)


_RUN_COLUMNS = (
    "id", "flow_id", "name", "flow_version", "parameters", "tags", "parent_task_run_id",
    "deployment_id", "work_queue_name", "idempotency_key", "state_id", "state_type",
    "state_name", "state_timestamp", "state_message", "state_details", "expected_start_time",
    "next_scheduled_start_time", "total_run_time", "run_count", "retries",
    "retry_delay_seconds", "auto_scheduled", "created", "updated",
)  # fmt: skip
_SQLITE_INSERT_RUN = (
    f"INSERT INTO flow_run ({', '.join(_RUN_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _RUN_COLUMNS)})"
)
_SQLITE_INSERT_STATE = (
    "INSERT INTO flow_run_state (id, flow_run_id, type, name, timestamp, message, details) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_time(value: datetime) -> str:
    # The text SQLAlchemy's SQLite dialect stores, microseconds always included, so
    # string comparisons in SQL agree with datetime comparisons.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")


def _existing_keys(conn: Connection, runs: list[_RunSpec]) -> set[tuple[str, str]]:
    by_flow: dict[str, list[str]] = {}
    for spec in runs:
        by_flow.setdefault(spec.row["flow_id"], []).append(
            idempotency_key(spec.row["id"], spec.when)
        )
    existing: set[tuple[str, str]] = set()
    for flow_id, keys in by_flow.items():
        for start in range(0, len(keys), 500):
            found = conn.execute(
                select(_RUN.c.idempotency_key).where(
                    _RUN.c.flow_id == flow_id, _RUN.c.idempotency_key.in_(keys[start : start + 500])
                )
            )
            existing.update((flow_id, str(k)) for (k,) in found)
    return existing


def _insert_runs_sqlite(conn: Connection, runs: list[_RunSpec], now: datetime) -> int:
    """The scheduler's hot path on SQLite: the DBAPI cursor with pre-encoded values.

    The write transaction holds SQLite's write lock (``BEGIN IMMEDIATE``), so the keys
    read here cannot be inserted by anyone else before this transaction ends.
    """
    existing = _existing_keys(conn, runs)
    now_text = _sqlite_time(now)
    scheduled = StateType.SCHEDULED.value
    per_deployment: dict[str, tuple[Any, ...]] = {}
    rows: list[tuple[Any, ...]] = []
    states: list[tuple[Any, ...]] = []
    for spec in runs:
        row = spec.row
        deployment_id = row["id"]
        shared = per_deployment.get(deployment_id)
        if shared is None:
            shared = per_deployment[deployment_id] = (
                row["flow_id"], row["version"], json_dumps(row["parameters"] or {}),
                json_dumps(row["tags"] or []), row["work_queue_name"], row["retries"],
                row["retry_delay_seconds"],
            )  # fmt: skip
        flow_id, version, parameters, tags, queue, retries, delay = shared
        when_utc = spec.when.astimezone(UTC)
        when_iso = when_utc.isoformat()
        key = f"scheduled {deployment_id} {when_iso}"
        if (flow_id, key) in existing:
            continue
        existing.add((flow_id, key))
        if spec.skipped or spec.backfill:
            message, details = _state_text(spec, when_iso)
            details_text = json_dumps(details)
        else:
            message, details_text = None, '{"scheduled_time": "' + when_iso + '"}'
        when_text = when_utc.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
        run_id, state_id = new_id(), new_id()
        rows.append(
            (run_id, flow_id, generate_run_name(run_id), version, parameters, tags, None,
             deployment_id, queue, key, state_id, scheduled, "Scheduled", now_text, message,
             details_text, when_text, when_text, 0.0, 0, retries, delay,
             0 if spec.backfill else 1, now_text, now_text)
        )  # fmt: skip
        states.append((state_id, run_id, scheduled, "Scheduled", now_text, message, details_text))
    if not rows:
        return 0
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(_SQLITE_INSERT_RUN, rows)
        cursor.executemany(_SQLITE_INSERT_STATE, states)
    finally:
        cursor.close()
    return len(rows)


def backfill_runs(
    conn: Connection,
    deployment_id: str,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Create the runs the schedule would have made in ``[start, end]``.

    Returns ``(created, total)``: dates that already had a run are skipped, so a
    backfill can be repeated safely.
    """
    now = now or now_utc()
    row = conn.execute(select(_DEP).where(_DEP.c.id == deployment_id)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Deployment {deployment_id!r} not found")
    if not row["schedule"]:
        raise ValueError("This deployment has no schedule to backfill; set one first")
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValueError(f"backfill {name} {value.isoformat()} must be timezone-aware")
    if end <= start:
        raise ValueError(f"backfill end {end.isoformat()} must be after start {start.isoformat()}")
    schedule = schedule_from_dict(row["schedule"])
    dates = schedule.get_dates(MAX_DATES, start=start, end=end)
    if len(dates) >= MAX_DATES and schedule.get_dates(1, start=dates[-1] + _TICK, end=end):
        raise ValueError(
            f"The window {start.isoformat()} .. {end.isoformat()} holds more than {MAX_DATES} "
            "scheduled times; backfill a shorter window at a time"
        )
    ensure_work_queue(conn, row["work_queue_name"])
    runs = [_RunSpec(row, when, None, backfill=True) for when in dates]
    return insert_runs(conn, runs, now), len(dates)
