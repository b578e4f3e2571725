"""Flow runs: create, read, filter, orchestrate state changes, delete."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select, union_all, update

from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import FlowRun, OrchestrationResult, SetStateStatus, StateRecord
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort
from tideflow.server.database import tables as t
from tideflow.server.models.flows import ensure_flow
from tideflow.server.orchestration.rules import TransitionContext, evaluate
from tideflow.states import TERMINAL_STATES, StateType, now_utc

_RUN = t.table_of(t.FlowRun)
_STATE = t.table_of(t.FlowRunState)
_FLOW = t.table_of(t.Flow)

_ADJECTIVES = (
    "amber", "brisk", "calm", "deep", "eager", "fair", "gentle", "hidden", "ivory", "jolly",
    "keen", "lucid", "mellow", "noble", "opal", "proud", "quiet", "rapid", "silver", "tidal",
)  # fmt: skip
_NOUNS = (
    "anchor", "brook", "cove", "delta", "estuary", "fjord", "gulf", "harbor", "inlet", "jetty",
    "kelp", "lagoon", "marsh", "neap", "ocean", "pier", "quay", "reef", "shoal", "current",
)  # fmt: skip


def generate_run_name(seed: str) -> str:
    """A friendly, deterministic name like ``calm-harbor-3f2a`` from a run id."""
    h = int(seed.replace("-", "")[:8], 16)
    return f"{_ADJECTIVES[h % 20]}-{_NOUNS[(h // 20) % 20]}-{seed[:4]}"


def _flow_run_select() -> Any:
    return select(_RUN, _FLOW.c.name.label("flow_name")).join(_FLOW, _FLOW.c.id == _RUN.c.flow_id)


def create_flow_run(conn: Connection, data: FlowRunCreate) -> FlowRun:
    """Insert a flow run (idempotent on ``id`` and on ``(flow, idempotency_key)``)."""
    flow_id = ensure_flow(conn, data.flow_name)
    run_id = data.id or str(uuid.uuid4())
    existing = conn.execute(select(_RUN.c.id).where(_RUN.c.id == run_id)).scalar()
    if existing is None and data.idempotency_key:
        existing = conn.execute(
            select(_RUN.c.id).where(
                _RUN.c.flow_id == flow_id, _RUN.c.idempotency_key == data.idempotency_key
            )
        ).scalar()
    if existing is not None:
        return read_flow_run(conn, str(existing))
    now = now_utc()
    values: dict[str, Any] = {
        "id": run_id,
        "flow_id": flow_id,
        "name": data.name or generate_run_name(run_id),
        "flow_version": data.flow_version,
        "parameters": data.parameters,
        "tags": data.tags,
        "parent_task_run_id": data.parent_task_run_id,
        "deployment_id": data.deployment_id,
        "work_queue_name": data.work_queue_name,
        "idempotency_key": data.idempotency_key,
        "expected_start_time": data.expected_start_time,
        "retries": data.retries,
        "retry_delay_seconds": data.retry_delay_seconds,
        "auto_scheduled": data.auto_scheduled,
        "total_run_time": 0.0,
        "run_count": 0,
        "created": now,
        "updated": now,
    }
    state = data.state
    if state is not None:
        record = _state_record(state)
        values.update(_denormalised(record))
        if state.type is StateType.SCHEDULED and not data.expected_start_time:
            values["expected_start_time"] = _scheduled_time(record) or now
        values["next_scheduled_start_time"] = _scheduled_time(record)
    if values["expected_start_time"] is None:
        values["expected_start_time"] = now
    conn.execute(_RUN.insert(), values)
    if state is not None:
        conn.execute(_STATE.insert(), {**record, "flow_run_id": run_id})
    return read_flow_run(conn, run_id)


def read_flow_run(conn: Connection, flow_run_id: str) -> FlowRun:
    """One flow run, or ``ObjectNotFound``."""
    row = conn.execute(_flow_run_select().where(_RUN.c.id == flow_run_id)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Flow run {flow_run_id!r} not found")
    return FlowRun.model_validate(dict(row))


def _filter_clauses(f: FlowRunFilter | None) -> list[ColumnElement[bool]]:
    if f is None:
        return []
    c = _RUN.c
    clauses: list[ColumnElement[bool]] = []
    if f.id_any is not None:
        clauses.append(c.id.in_(f.id_any))
    if f.flow_name_any is not None:
        clauses.append(_FLOW.c.name.in_(f.flow_name_any))
    if f.flow_id_any is not None:
        clauses.append(c.flow_id.in_(f.flow_id_any))
    if f.state_type_any is not None:
        clauses.append(c.state_type.in_([s.value for s in f.state_type_any]))
    if f.state_name_any is not None:
        clauses.append(c.state_name.in_(f.state_name_any))
    if f.deployment_id_any is not None:
        clauses.append(c.deployment_id.in_(f.deployment_id_any))
    if f.parent_task_run_id_any is not None:
        clauses.append(c.parent_task_run_id.in_(f.parent_task_run_id_any))
    if f.start_time_after is not None:
        clauses.append(c.start_time >= f.start_time_after)
    if f.start_time_before is not None:
        clauses.append(c.start_time <= f.start_time_before)
    if f.expected_start_time_after is not None:
        clauses.append(c.expected_start_time >= f.expected_start_time_after)
    if f.expected_start_time_before is not None:
        clauses.append(c.expected_start_time <= f.expected_start_time_before)
    if f.name_like:
        clauses.append(c.name.contains(f.name_like, autoescape=True))
    for tag in f.tags_all or []:
        # JSON arrays: match the quoted tag inside the serialised list (portable, exact).
        clauses.append(func.cast(c.tags, t.String).contains(_json_str(tag), autoescape=True))
    return clauses


def _json_str(value: str) -> str:
    import json

    return json.dumps(value)


#: sort orders as (column, descending) pairs; ``id`` breaks ties so pages are stable
_SORT_KEYS: dict[FlowRunSort, tuple[tuple[str, bool], ...]] = {
    FlowRunSort.START_TIME_DESC: (("start_time", True), ("id", False)),
    FlowRunSort.START_TIME_ASC: (("start_time", False), ("id", False)),
    FlowRunSort.EXPECTED_START_TIME_ASC: (("expected_start_time", False), ("id", False)),
    FlowRunSort.EXPECTED_START_TIME_DESC: (("expected_start_time", True), ("id", False)),
    FlowRunSort.CREATED_DESC: (("created", True), ("id", False)),
    FlowRunSort.NAME_ASC: (("name", False), ("id", False)),
}


def _order_by(columns: Any, sort: FlowRunSort, *, nulls: bool = True) -> list[Any]:
    """``ORDER BY`` clauses of ``sort`` on ``columns``; runs that never started sort
    last either way (``nulls=False`` where there are none: it lets an index be used)."""
    clauses = []
    for name, descending in _SORT_KEYS[sort]:
        clause = columns[name].desc() if descending else columns[name].asc()
        if nulls and name == "start_time":
            clause = clause.nulls_last()
        clauses.append(clause)
    return clauses


def _index_friendly_parts(
    f: FlowRunFilter | None, sort: FlowRunSort
) -> list[tuple[list[ColumnElement[bool]], bool]] | None:
    """How to split a page query so every part walks an index in sort order.

    ``state_type IN (a, b)`` makes SQLite and PostgreSQL sort every matching row, and
    ``start_time DESC NULLS LAST`` is an order no index gives on PostgreSQL (nor ASC
    NULLS LAST on SQLite). One part per state, and runs with and without a start time
    apart, each ``ORDER BY ... LIMIT`` an index scan; None when one query is as good.
    """
    states = list(dict.fromkeys(f.state_type_any)) if f and f.state_type_any else []
    by_start = sort in (FlowRunSort.START_TIME_DESC, FlowRunSort.START_TIME_ASC)
    if len(states) < 2 and not by_start:
        return None
    state_parts: list[list[ColumnElement[bool]]] = (
        [[_RUN.c.state_type == s.value] for s in states] if len(states) > 1 else [[]]
    )
    if not by_start:
        return [(part, True) for part in state_parts]
    return [
        ([*part, started], nulls)
        for part in state_parts
        for started, nulls in (
            (_RUN.c.start_time.is_not(None), False),
            (_RUN.c.start_time.is_(None), True),
        )
    ]


def read_flow_runs(
    conn: Connection,
    flow_run_filter: FlowRunFilter | None = None,
    *,
    sort: FlowRunSort = FlowRunSort.START_TIME_DESC,
    limit: int = 50,
    offset: int = 0,
) -> list[FlowRun]:
    """Flow runs matching the filter, sorted and paginated."""
    sort = FlowRunSort(sort)
    where = and_(True, *_filter_clauses(flow_run_filter))
    parts = _index_friendly_parts(flow_run_filter, sort)
    if parts is None:
        stmt = (
            _flow_run_select()
            .where(where)
            .order_by(*_order_by(_RUN.c, sort))
            .limit(limit)
            .offset(offset)
        )
    else:
        # Each part returns its first offset+limit rows in order; the merge sorts few.
        merged = union_all(
            *(
                select(
                    _flow_run_select()
                    .where(where, *extra)
                    .order_by(*_order_by(_RUN.c, sort, nulls=nulls))
                    .limit(offset + limit)
                    .subquery()
                )
                for extra, nulls in parts
            )
        ).subquery()
        stmt = select(merged).order_by(*_order_by(merged.c, sort)).limit(limit).offset(offset)
    return [FlowRun.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]


def count_flow_runs(conn: Connection, flow_run_filter: FlowRunFilter | None = None) -> int:
    """How many flow runs match the filter."""
    stmt = (
        select(func.count())
        .select_from(_RUN.join(_FLOW, _FLOW.c.id == _RUN.c.flow_id))
        .where(and_(True, *_filter_clauses(flow_run_filter)))
    )
    return int(conn.execute(stmt).scalar_one())


def read_flow_run_states(conn: Connection, flow_run_id: str) -> list[StateRecord]:
    """The state history of a flow run, oldest first."""
    rows = conn.execute(
        select(_STATE)
        .where(_STATE.c.flow_run_id == flow_run_id)
        .order_by(_STATE.c.timestamp, _STATE.c.id)
    ).mappings()
    return [StateRecord.model_validate(dict(r)) for r in rows]


def delete_flow_run(conn: Connection, flow_run_id: str) -> None:
    """Delete a flow run with its states, task runs and logs."""
    read_flow_run(conn, flow_run_id)
    from tideflow.server.models.retention import delete_flow_runs_by_id

    delete_flow_runs_by_id(conn, [flow_run_id])


def heartbeat(conn: Connection, flow_run_id: str, now: datetime | None = None) -> None:
    """Record that the process running ``flow_run_id`` is alive."""
    result = conn.execute(
        update(_RUN).where(_RUN.c.id == flow_run_id).values(heartbeat=now or now_utc())
    )
    if result.rowcount == 0:
        raise ObjectNotFound(f"Flow run {flow_run_id!r} not found")


def set_flow_run_state(
    conn: Connection,
    flow_run_id: str,
    proposed: StateCreate,
    *,
    force: bool = False,
    _attempts: int = 3,
) -> OrchestrationResult:
    """Propose a state; the rules accept, reject or abort it.

    Idempotent: proposing a state id that is already in the run's history returns
    ACCEPT with that state. Atomic: the update is conditional on the state the rules
    looked at, so two engines racing to start the run cannot both win.
    """
    record = _state_record(proposed)
    if proposed.id is not None:
        seen = (
            conn.execute(
                select(_STATE).where(
                    _STATE.c.id == proposed.id, _STATE.c.flow_run_id == flow_run_id
                )
            )
            .mappings()
            .first()
        )
        if seen is not None:
            return OrchestrationResult(
                status=SetStateStatus.ACCEPT, state=StateRecord.model_validate(dict(seen))
            )
    query = select(_RUN).where(_RUN.c.id == flow_run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    run = conn.execute(query).mappings().first()
    if run is None:
        raise ObjectNotFound(f"Flow run {flow_run_id!r} not found")
    from_type = StateType(run["state_type"]) if run["state_type"] else None
    ctx = TransitionContext(
        from_type=from_type,
        from_name=run["state_name"],
        to_type=proposed.type,
        to_name=record["name"],
        force=force,
        run=dict(run),
    )
    decision = evaluate(ctx)
    if decision.status is not SetStateStatus.ACCEPT:
        current = None
        if run["state_id"]:
            current = StateRecord.model_validate(
                {
                    "id": run["state_id"],
                    "type": run["state_type"],
                    "name": run["state_name"],
                    "timestamp": run["state_timestamp"],
                    "message": run["state_message"],
                    "details": run["state_details"],
                }
            )
        return OrchestrationResult(status=decision.status, state=current, reason=decision.reason)

    values = _denormalised(record)
    values["updated"] = now_utc()
    ts: datetime = record["timestamp"]
    if proposed.type is StateType.RUNNING:
        values["run_count"] = run["run_count"] + 1
        if run["start_time"] is None:
            values["start_time"] = ts
    if proposed.type in TERMINAL_STATES:
        values["end_time"] = ts
        values["heartbeat"] = None
    if from_type is StateType.RUNNING and run["state_timestamp"] is not None:
        values["total_run_time"] = run["total_run_time"] + max(
            0.0, (ts - run["state_timestamp"]).total_seconds()
        )
    if proposed.type is StateType.SCHEDULED:
        values["next_scheduled_start_time"] = _scheduled_time(record)
        values["end_time"] = None
    if proposed.type is StateType.RUNNING:
        values["heartbeat"] = ts
    guard = _RUN.c.state_id == run["state_id"] if run["state_id"] else _RUN.c.state_id.is_(None)
    result = conn.execute(update(_RUN).where(_RUN.c.id == flow_run_id, guard).values(**values))
    if result.rowcount == 0:
        if _attempts <= 1:
            return OrchestrationResult(
                status=SetStateStatus.REJECT,
                reason="The run changed state concurrently; read it and try again.",
            )
        return set_flow_run_state(conn, flow_run_id, proposed, force=force, _attempts=_attempts - 1)
    conn.execute(_STATE.insert(), {**record, "flow_run_id": flow_run_id})
    return OrchestrationResult(
        status=SetStateStatus.ACCEPT, state=StateRecord.model_validate(record)
    )


def _state_record(state: StateCreate) -> dict[str, Any]:
    return {
        "id": state.id or str(uuid.uuid4()),
        "type": state.type.value,
        "name": state.name or state.type.value.title(),
        "timestamp": state.timestamp or now_utc(),
        "message": state.message,
        "details": state.details,
    }


def _denormalised(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "state_id": record["id"],
        "state_type": record["type"],
        "state_name": record["name"],
        "state_timestamp": record["timestamp"],
        "state_message": record["message"],
        "state_details": record["details"],
    }


def _scheduled_time(record: dict[str, Any]) -> datetime | None:
    value = (record.get("details") or {}).get("scheduled_time")
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def cancel_flow_run(
    conn: Connection, flow_run_id: str, message: str | None = None
) -> OrchestrationResult:
    """Cancel a run: Cancelling when it is running or paused (its engine then stops it),
    Cancelled straight away otherwise. Finished runs are refused by the rules."""
    current = read_flow_run(conn, flow_run_id)
    active = current.state_type in (StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)
    target = StateType.CANCELLING if active else StateType.CANCELLED
    return set_flow_run_state(
        conn,
        flow_run_id,
        StateCreate(type=target, message=message or "Cancellation requested"),
    )
