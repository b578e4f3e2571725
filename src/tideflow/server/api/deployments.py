"""``/api/deployments``: upsert, read, update, delete, run, schedule, backfill."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import (
    BackfillRequest,
    Deployment,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
)
from tideflow.schemas.filters import MAX_PAGE_SIZE
from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import deployments, scheduling
from tideflow.states import now_utc

router = APIRouter(prefix="/deployments", tags=["deployments"])


class DeploymentQuery(BaseModel):
    """Body of ``POST /deployments/filter``."""

    model_config = ConfigDict(extra="forbid")

    flow_name: str | None = None
    work_queue_name: str | None = None
    limit: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)


class Scheduled(BaseModel):
    """How many runs a scheduling pass created."""

    runs_created: int


class Backfilled(BaseModel):
    """How many runs a backfill created, of how many dates in its window."""

    created: int
    total: int


@router.post("")
def create_deployment(data: DeploymentCreate, conn: WriteConn) -> Deployment:
    """Create a deployment, or update the one with the same flow and name."""
    return deployments.upsert_deployment(conn, data)


@router.post("/filter")
def read_deployments(query: DeploymentQuery, conn: ReadConn) -> list[Deployment]:
    """Deployments sorted by flow and name (at most 200 per page)."""
    return deployments.read_deployments(
        conn,
        flow_name=query.flow_name,
        work_queue_name=query.work_queue_name,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/name/{flow_name}/{deployment_name}")
def read_deployment_by_name(flow_name: str, deployment_name: str, conn: ReadConn) -> Deployment:
    """The deployment ``flow_name/deployment_name``."""
    return deployments.read_deployment_by_name(conn, f"{flow_name}/{deployment_name}")


@router.get("/{deployment_id}")
def read_deployment(deployment_id: str, conn: ReadConn) -> Deployment:
    """One deployment."""
    return deployments.read_deployment(conn, deployment_id)


@router.patch("/{deployment_id}")
def update_deployment(deployment_id: str, data: DeploymentUpdate, conn: WriteConn) -> Deployment:
    """Change some fields; a changed or paused schedule drops its unstarted runs."""
    return deployments.update_deployment(conn, deployment_id, data)


@router.delete("/{deployment_id}", status_code=204)
def delete_deployment(deployment_id: str, conn: WriteConn) -> Response:
    """Delete a deployment and its unstarted runs (finished runs are kept)."""
    deployments.delete_deployment(conn, deployment_id)
    return Response(status_code=204)


@router.post("/{deployment_id}/create_flow_run", status_code=201)
def create_flow_run_from_deployment(
    deployment_id: str, data: DeploymentFlowRunCreate, conn: WriteConn
) -> FlowRun:
    """A Scheduled run of the deployment (idempotent on ``idempotency_key``)."""
    return deployments.create_flow_run_from_deployment(conn, deployment_id, data)


@router.post("/{deployment_id}/schedule")
def schedule_deployment(deployment_id: str, conn: WriteConn) -> Scheduled:
    """Materialise the deployment's upcoming runs now (``flow.serve`` calls this)."""
    deployments.read_deployment(conn, deployment_id)
    result, _ = scheduling.schedule_runs(conn, now_utc(), deployment_ids=[deployment_id])
    return Scheduled(runs_created=result.runs_created)


@router.post("/{deployment_id}/backfill")
def backfill_deployment(deployment_id: str, data: BackfillRequest, conn: WriteConn) -> Backfilled:
    """Create the runs the schedule would have made in ``[start, end]`` (idempotent)."""
    created, total = scheduling.backfill_runs(conn, deployment_id, data.start, data.end)
    return Backfilled(created=created, total=total)
