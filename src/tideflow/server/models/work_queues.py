"""Work queues, and agents' claims on the runs in them.

A claim moves a Scheduled run that is due to Pending inside one write transaction, so
each run is handed to exactly one agent: on SQLite the transaction holds the database's
write lock (``BEGIN IMMEDIATE``); on PostgreSQL the queue row is locked ``FOR UPDATE``
(claims on one queue take turns, which keeps its concurrency limit exact) and the runs
are picked ``FOR UPDATE SKIP LOCKED``. The state change itself is conditional on the
state that was read (see ``set_flow_run_state``), a third guard.

A claimed run carries a heartbeat from the claiming agent until its flow process starts
and heartbeats for itself; a claimed run whose heartbeat stops (the agent died before it
started the flow) is handed back to the queue by the crash detector.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, or_, select, update

from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import FlowRun, SetStateStatus
from tideflow.schemas.deployments import (
    ClaimRequest,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueStatus,
    WorkQueueUpdate,
)
from tideflow.server.database import tables as t
from tideflow.server.models import flow_runs
from tideflow.server.models._dialect import insert_ignore
from tideflow.states import StateType, now_utc

_QUEUE = cast(Table, t.WorkQueue.__table__)
_RUN = cast(Table, t.FlowRun.__table__)

#: states that hold one of a queue's concurrency slots
ACTIVE_STATES = (StateType.PENDING.value, StateType.RUNNING.value, StateType.CANCELLING.value)


def ensure_work_queue(conn: Connection, name: str) -> None:
    """Create the queue ``name`` if it does not exist (race-safe)."""
    if conn.execute(select(_QUEUE.c.id).where(_QUEUE.c.name == name)).first():
        return
    conn.execute(
        insert_ignore(conn, _QUEUE, ["name"]),
        {"id": str(uuid.uuid4()), "name": name, "is_paused": False, "created": now_utc()},
    )


def create_work_queue(conn: Connection, data: WorkQueueCreate) -> WorkQueue:
    """Create a queue; ``ObjectAlreadyExists`` when the name is taken."""
    if conn.execute(select(_QUEUE.c.id).where(_QUEUE.c.name == data.name)).first():
        raise ObjectAlreadyExists(f"Work queue {data.name!r} already exists")
    conn.execute(
        _QUEUE.insert(), {"id": str(uuid.uuid4()), "created": now_utc(), **data.model_dump()}
    )
    return read_work_queue_by_name(conn, data.name)


def read_work_queue_by_name(conn: Connection, name: str) -> WorkQueue:
    """The queue called ``name``, or ``ObjectNotFound``."""
    row = conn.execute(select(_QUEUE).where(_QUEUE.c.name == name)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Work queue {name!r} not found")
    return WorkQueue.model_validate(dict(row))


def read_work_queues(conn: Connection, *, limit: int = 200, offset: int = 0) -> list[WorkQueue]:
    """Queues sorted by name."""
    rows = conn.execute(select(_QUEUE).order_by(_QUEUE.c.name).limit(limit).offset(offset))
    return [WorkQueue.model_validate(dict(r)) for r in rows.mappings()]


def update_work_queue(conn: Connection, name: str, data: WorkQueueUpdate) -> WorkQueue:
    """Change the fields given in ``data``."""
    read_work_queue_by_name(conn, name)
    values = {k: getattr(data, k) for k in data.model_fields_set}
    if values.get("is_paused", False) is None:
        del values["is_paused"]
    if values:
        conn.execute(update(_QUEUE).where(_QUEUE.c.name == name).values(**values))
    return read_work_queue_by_name(conn, name)


def delete_work_queue(conn: Connection, name: str) -> None:
    """Delete a queue (its runs stay; an agent polling the name recreates it)."""
    read_work_queue_by_name(conn, name)
    conn.execute(delete(_QUEUE).where(_QUEUE.c.name == name))


def work_queue_status(conn: Connection, name: str, now: datetime | None = None) -> WorkQueueStatus:
    """The queue with counts of its scheduled, late and active runs."""
    queue = read_work_queue_by_name(conn, name)
    now = now or now_utc()
    rows = conn.execute(
        select(_RUN.c.state_type, _RUN.c.state_name, func.count())
        .where(_RUN.c.work_queue_name == name, _RUN.c.state_type.in_([
            StateType.SCHEDULED.value, *ACTIVE_STATES]))
        .group_by(_RUN.c.state_type, _RUN.c.state_name)
    ).all()  # fmt: skip
    scheduled = sum(n for st, _name, n in rows if st == StateType.SCHEDULED.value)
    late = sum(n for st, nm, n in rows if st == StateType.SCHEDULED.value and nm == "Late")
    active = sum(n for st, _name, n in rows if st in ACTIVE_STATES)
    return WorkQueueStatus(
        **queue.model_dump(), scheduled_runs=scheduled, late_runs=late, active_runs=active
    )


def claim_flow_runs(
    conn: Connection, request: ClaimRequest, now: datetime | None = None
) -> list[FlowRun]:
    """Move up to ``request.limit`` due Scheduled runs of the queues to Pending.

    Queues are created when first polled, skipped while paused, and never given more
    active runs than their concurrency limit. Runs are taken earliest-due first.
    """
    now = now or now_utc()
    already = conn.execute(
        select(_RUN.c.id)
        .where(_RUN.c.claim_id == request.claim_id, _RUN.c.state_type == StateType.PENDING.value)
        .order_by(_RUN.c.next_scheduled_start_time, _RUN.c.id)
    ).all()
    if already:
        # A retried claim (its first response was lost): hand back what it took.
        return [flow_runs.read_flow_run(conn, str(r[0])) for r in already]
    before = request.scheduled_before or now
    names = list(dict.fromkeys(request.work_queue_names))
    for name in names:
        ensure_work_queue(conn, name)
    postgres = conn.dialect.name == "postgresql"
    query = select(_QUEUE).where(_QUEUE.c.name.in_(names)).order_by(_QUEUE.c.name)
    if postgres:
        query = query.with_for_update()
    queues = list(conn.execute(query).mappings())
    conn.execute(update(_QUEUE).where(_QUEUE.c.name.in_(names)).values(last_polled=now))
    claimed: list[FlowRun] = []
    remaining = request.limit
    message = f"Claimed by {request.claimant}" if request.claimant else "Claimed by an agent"
    for queue in sorted(queues, key=lambda q: names.index(q["name"])):
        if remaining <= 0:
            break
        if queue["is_paused"]:
            continue
        take = remaining
        if queue["concurrency_limit"] is not None:
            active = conn.execute(
                select(func.count()).where(
                    _RUN.c.work_queue_name == queue["name"], _RUN.c.state_type.in_(ACTIVE_STATES)
                )
            ).scalar_one()
            take = min(take, max(0, queue["concurrency_limit"] - int(active)))
        if take <= 0:
            continue
        for run_id in _due_run_ids(conn, queue["name"], before, take, postgres):
            if _claim_one(conn, run_id, message, now, request.claim_id):
                claimed.append(flow_runs.read_flow_run(conn, run_id))
                remaining -= 1
    return claimed


def _due_run_ids(
    conn: Connection, queue: str, before: datetime, limit: int, postgres: bool
) -> list[str]:
    due = _RUN.c.next_scheduled_start_time
    query = (
        select(_RUN.c.id)
        .where(
            _RUN.c.state_type == StateType.SCHEDULED.value,
            _RUN.c.work_queue_name == queue,
            # a retry the run's own engine is waiting on still has its heartbeat
            _RUN.c.heartbeat.is_(None),
            or_(due <= before, due.is_(None)),
        )
        .order_by(due.asc().nulls_first(), _RUN.c.id)
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    return [str(r[0]) for r in conn.execute(query)]


def _claim_one(conn: Connection, run_id: str, message: str, now: datetime, claim_id: str) -> bool:
    current = conn.execute(
        select(_RUN.c.state_type, _RUN.c.state_details).where(_RUN.c.id == run_id)
    ).first()
    if current is None or current[0] != StateType.SCHEDULED.value:
        return False
    details: dict[str, Any] = {}
    scheduled = (current[1] or {}).get("scheduled_time")
    if scheduled:
        details["scheduled_time"] = scheduled
    result = flow_runs.set_flow_run_state(
        conn,
        run_id,
        StateCreate(type=StateType.PENDING, message=message, details=details or None),
    )
    if result.status is not SetStateStatus.ACCEPT:
        return False
    conn.execute(update(_RUN).where(_RUN.c.id == run_id).values(heartbeat=now, claim_id=claim_id))
    return True
