"""Deployments: upsert, read, update, delete, and runs started on demand.

A deployment is unique per (flow, name); applying the same one again updates it in
place. When its schedule changes, is paused or is removed, the runs the scheduler had
made for it and that have not started are deleted and the scheduler's watermark is
reset, so the new schedule takes over from now. An RRULE without DTSTART is anchored
once, when first stored, and that anchor is kept when the same rule is applied again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, delete, null, select, update

from tideflow.exceptions import ObjectNotFound
from tideflow.schedules import RRuleSchedule
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import (
    Deployment,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    split_deployment_name,
)
from tideflow.server.database import tables as t
from tideflow.server.models import flow_runs
from tideflow.server.models.flows import ensure_flow
from tideflow.server.models.work_queues import ensure_work_queue
from tideflow.states import StateType, now_utc

_DEP = cast(Table, t.Deployment.__table__)
_FLOW = cast(Table, t.Flow.__table__)
_RUN = cast(Table, t.FlowRun.__table__)


def _select() -> Any:
    return select(_DEP, _FLOW.c.name.label("flow_name")).join(_FLOW, _FLOW.c.id == _DEP.c.flow_id)


def _schedule_json(
    schedule: Any, existing: dict[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The JSON to store for ``schedule``: an RRULE without DTSTART anchored at ``now``,
    or at the anchor already stored for the same rule."""
    if schedule is None:
        return None
    if isinstance(schedule, RRuleSchedule) and not schedule.is_anchored:
        if existing and "rrule" in existing:
            stored = str(existing["rrule"])
            first, _, rest = stored.partition("\n")
            if (
                first.upper().startswith("DTSTART")
                and rest.strip() == schedule.rrule.strip()
                and existing.get("timezone") == schedule.timezone
            ):
                return existing
        schedule = schedule.anchored(now)
    data: dict[str, Any] = schedule.model_dump(mode="json")
    return data


def upsert_deployment(
    conn: Connection, data: DeploymentCreate, now: datetime | None = None
) -> Deployment:
    """Create the deployment, or update the one with the same flow and name."""
    now = now or now_utc()
    flow_id = ensure_flow(conn, data.flow_name)
    ensure_work_queue(conn, data.work_queue_name)
    query = select(_DEP).where(_DEP.c.flow_id == flow_id, _DEP.c.name == data.name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    values = data.model_dump(exclude={"flow_name", "schedule"})
    values["schedule"] = _schedule_json(data.schedule, row["schedule"] if row else None, now)
    values["updated"] = now
    if row is None:
        deployment_id = str(uuid.uuid4())
        values.update(id=deployment_id, flow_id=flow_id, created=now, last_scheduled_time=None)
        conn.execute(_DEP.insert(), _sql_nulls(values))
        return read_deployment(conn, deployment_id)
    deployment_id = row["id"]
    if _schedule_changed(row, values):
        values["last_scheduled_time"] = None
        delete_unstarted_auto_runs(conn, deployment_id)
    elif row["work_queue_name"] != values["work_queue_name"]:
        _move_unstarted_runs(conn, deployment_id, values["work_queue_name"])
    conn.execute(update(_DEP).where(_DEP.c.id == deployment_id).values(**_sql_nulls(values)))
    return read_deployment(conn, deployment_id)


def _sql_nulls(values: dict[str, Any]) -> dict[str, Any]:
    """JSON columns store ``None`` as JSON ``null`` unless told; store SQL NULL, so
    ``schedule IS NULL`` means "no schedule" in queries."""
    out = dict(values)
    for key in ("schedule", "storage", "parameter_openapi_schema"):
        if key in out and out[key] is None:
            out[key] = null()
    return out


def _schedule_changed(row: Any, values: dict[str, Any]) -> bool:
    return bool(
        row["schedule"] != values["schedule"]
        or bool(row["is_schedule_active"]) != bool(values["is_schedule_active"])
    )


def read_deployment(conn: Connection, deployment_id: str) -> Deployment:
    """One deployment, or ``ObjectNotFound``."""
    row = conn.execute(_select().where(_DEP.c.id == deployment_id)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Deployment {deployment_id!r} not found")
    return Deployment.model_validate(dict(row))


def read_deployment_by_name(conn: Connection, full_name: str) -> Deployment:
    """The deployment called ``flow-name/deployment-name``, or ``ObjectNotFound``."""
    flow_name, name = split_deployment_name(full_name)
    row = (
        conn.execute(_select().where(_FLOW.c.name == flow_name, _DEP.c.name == name))
        .mappings()
        .first()
    )
    if row is None:
        raise ObjectNotFound(f"Deployment {full_name!r} not found")
    return Deployment.model_validate(dict(row))


def read_deployments(
    conn: Connection,
    *,
    flow_name: str | None = None,
    work_queue_name: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Deployment]:
    """Deployments sorted by flow name and name."""
    clauses = []
    if flow_name is not None:
        clauses.append(_FLOW.c.name == flow_name)
    if work_queue_name is not None:
        clauses.append(_DEP.c.work_queue_name == work_queue_name)
    stmt = (
        _select()
        .where(and_(True, *clauses))
        .order_by(_FLOW.c.name, _DEP.c.name)
        .limit(limit)
        .offset(offset)
    )
    return [Deployment.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]


def update_deployment(
    conn: Connection, deployment_id: str, data: DeploymentUpdate, now: datetime | None = None
) -> Deployment:
    """Change the fields given in ``data`` (see the module doc for schedule changes)."""
    now = now or now_utc()
    query = select(_DEP).where(_DEP.c.id == deployment_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Deployment {deployment_id!r} not found")
    given = data.model_fields_set
    values: dict[str, Any] = {k: getattr(data, k) for k in given if k != "schedule"}
    if "catchup" in values and values["catchup"] is None:
        del values["catchup"]
    if "is_schedule_active" in values and values["is_schedule_active"] is None:
        del values["is_schedule_active"]
    if "schedule" in given:
        values["schedule"] = _schedule_json(data.schedule, row["schedule"], now)
    merged = {**dict(row), **values}
    if _schedule_changed(row, merged):
        values["last_scheduled_time"] = None
        delete_unstarted_auto_runs(conn, deployment_id)
    if values.get("work_queue_name") and values["work_queue_name"] != row["work_queue_name"]:
        ensure_work_queue(conn, values["work_queue_name"])
        _move_unstarted_runs(conn, deployment_id, values["work_queue_name"])
    values["updated"] = now
    conn.execute(update(_DEP).where(_DEP.c.id == deployment_id).values(**_sql_nulls(values)))
    return read_deployment(conn, deployment_id)


def delete_deployment(conn: Connection, deployment_id: str) -> None:
    """Delete a deployment and its runs that have not started (history is kept)."""
    read_deployment(conn, deployment_id)
    delete_unstarted_auto_runs(conn, deployment_id, only_auto=False)
    conn.execute(delete(_DEP).where(_DEP.c.id == deployment_id))


def _unstarted(deployment_id: str) -> Any:
    return and_(
        _RUN.c.deployment_id == deployment_id,
        _RUN.c.state_type == StateType.SCHEDULED.value,
        _RUN.c.start_time.is_(None),
    )


def delete_unstarted_auto_runs(
    conn: Connection, deployment_id: str, *, only_auto: bool = True
) -> int:
    """Delete the deployment's Scheduled (or Late) runs that never started."""
    from tideflow.server.models.retention import delete_flow_runs_by_id

    clause = _unstarted(deployment_id)
    if only_auto:
        clause = and_(clause, _RUN.c.auto_scheduled.is_(True))
    ids = [r[0] for r in conn.execute(select(_RUN.c.id).where(clause))]
    return delete_flow_runs_by_id(conn, ids)


def _move_unstarted_runs(conn: Connection, deployment_id: str, work_queue_name: str) -> None:
    conn.execute(
        update(_RUN).where(_unstarted(deployment_id)).values(work_queue_name=work_queue_name)
    )


def check_parameters(deployment: Deployment, parameters: dict[str, Any]) -> None:
    """Refuse parameter names the flow does not take (per the stored schema)."""
    schema = deployment.parameter_openapi_schema or {}
    properties = schema.get("properties")
    if properties is None or schema.get("additionalProperties"):
        return
    unknown = sorted(set(parameters) - set(properties))
    if unknown:
        raise ValueError(
            f"Deployment {deployment.full_name!r}: unknown parameter(s) {unknown}; "
            f"flow {deployment.flow_name!r} takes {sorted(properties) or 'no parameters'}"
        )


def create_flow_run_from_deployment(
    conn: Connection,
    deployment_id: str,
    data: DeploymentFlowRunCreate,
    now: datetime | None = None,
) -> FlowRun:
    """A Scheduled run of the deployment, due at ``data.scheduled_time`` (default now)."""
    deployment = read_deployment(conn, deployment_id)
    parameters = {**deployment.parameters, **data.parameters}
    check_parameters(deployment, parameters)
    when = data.scheduled_time or now or now_utc()
    if when.tzinfo is None:
        raise ValueError(f"scheduled_time {when.isoformat()} must be timezone-aware")
    ensure_work_queue(conn, deployment.work_queue_name)
    return flow_runs.create_flow_run(
        conn,
        FlowRunCreate(
            flow_name=deployment.flow_name,
            name=data.name,
            flow_version=deployment.version,
            parameters=parameters,
            tags=data.tags if data.tags is not None else list(deployment.tags),
            deployment_id=deployment.id,
            work_queue_name=deployment.work_queue_name,
            idempotency_key=data.idempotency_key,
            state=StateCreate(
                type=StateType.SCHEDULED,
                message="Run requested",
                details={"scheduled_time": when.isoformat()},
            ),
            retries=deployment.retries,
            retry_delay_seconds=deployment.retry_delay_seconds,
            expected_start_time=when,
        ),
    )
