"""``/api/work_queues`` and the agent's calls on flow runs (claim, release, crash)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tideflow.schemas.core import FlowRun, OrchestrationResult
from tideflow.schemas.deployments import (
    ClaimRequest,
    CrashReport,
    InfrastructureReport,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueStatus,
    WorkQueueUpdate,
)
from tideflow.schemas.filters import MAX_PAGE_SIZE
from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import run_recovery, work_queues

router = APIRouter(tags=["work queues"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkQueueQuery(_Body):
    """Body of ``POST /work_queues/filter``."""

    limit: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)


class Release(_Body):
    """Body of ``POST /flow_runs/{id}/release``."""

    message: str | None = Field(default=None, max_length=4000)


@router.post("/work_queues", status_code=201)
def create_work_queue(data: WorkQueueCreate, conn: WriteConn) -> WorkQueue:
    """Create a work queue (409 when the name is taken)."""
    return work_queues.create_work_queue(conn, data)


@router.post("/work_queues/filter")
def read_work_queues(query: WorkQueueQuery, conn: ReadConn) -> list[WorkQueue]:
    """Work queues sorted by name."""
    return work_queues.read_work_queues(conn, limit=query.limit, offset=query.offset)


@router.post("/work_queues/claim")
def claim_flow_runs(request: ClaimRequest, conn: WriteConn) -> list[FlowRun]:
    """Move due Scheduled runs of the queues to Pending and hand them to the caller."""
    return work_queues.claim_flow_runs(conn, request)


@router.get("/work_queues/name/{name}")
def read_work_queue_by_name(name: str, conn: ReadConn) -> WorkQueue:
    """One work queue."""
    return work_queues.read_work_queue_by_name(conn, name)


@router.get("/work_queues/name/{name}/status")
def read_work_queue_status(name: str, conn: ReadConn) -> WorkQueueStatus:
    """One work queue with counts of its scheduled, late and active runs."""
    return work_queues.work_queue_status(conn, name)


@router.patch("/work_queues/name/{name}")
def update_work_queue(name: str, data: WorkQueueUpdate, conn: WriteConn) -> WorkQueue:
    """Pause, resume, describe or limit a work queue."""
    return work_queues.update_work_queue(conn, name, data)


@router.delete("/work_queues/name/{name}", status_code=204)
def delete_work_queue(name: str, conn: WriteConn) -> Response:
    """Delete a work queue (its runs are kept)."""
    work_queues.delete_work_queue(conn, name)
    return Response(status_code=204)


@router.post("/flow_runs/{flow_run_id}/release")
def release_flow_run(
    flow_run_id: str, conn: WriteConn, body: Release | None = None
) -> OrchestrationResult:
    """Hand a claimed run that never started back to its queue."""
    return run_recovery.release_flow_run(conn, flow_run_id, body.message if body else None)


@router.post("/flow_runs/{flow_run_id}/crash")
def crash_flow_run(flow_run_id: str, report: CrashReport, conn: WriteConn) -> OrchestrationResult:
    """The run's process died: Crashed, then AwaitingRetry when it has retries left."""
    return run_recovery.crash_flow_run(conn, flow_run_id, report.message)


@router.put("/flow_runs/{flow_run_id}/infrastructure", status_code=204)
def set_infrastructure(flow_run_id: str, report: InfrastructureReport, conn: WriteConn) -> Response:
    """Record which process runs the flow run."""
    run_recovery.set_infrastructure_pid(conn, flow_run_id, report.infrastructure_pid)
    return Response(status_code=204)
