"""``/api/flow_runs``: create, read, filter, count, orchestrate, cancel, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import FlowRun, OrchestrationResult, StateRecord
from tideflow.schemas.filters import MAX_PAGE_SIZE, FlowRunFilter, FlowRunSort
from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import flow_runs, task_runs

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowRunQuery(_Body):
    """Body of ``POST /flow_runs/filter``."""

    flow_runs: FlowRunFilter | None = None
    sort: FlowRunSort = FlowRunSort.START_TIME_DESC
    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)


class FlowRunCount(_Body):
    """Body of ``POST /flow_runs/count``."""

    flow_runs: FlowRunFilter | None = None


class SetState(_Body):
    """Body of ``POST /flow_runs/{id}/set_state``."""

    state: StateCreate
    force: bool = False


class Cancel(_Body):
    """Body of ``POST /flow_runs/{id}/cancel`` (optional)."""

    message: str | None = None


@router.post("", status_code=201)
def create_flow_run(data: FlowRunCreate, conn: WriteConn) -> FlowRun:
    """Create a flow run; idempotent on ``id`` and on ``(flow, idempotency_key)``."""
    return flow_runs.create_flow_run(conn, data)


@router.post("/filter")
def read_flow_runs(query: FlowRunQuery, conn: ReadConn) -> list[FlowRun]:
    """Flow runs matching a filter, sorted and paginated (at most 200 per page)."""
    return flow_runs.read_flow_runs(
        conn, query.flow_runs, sort=query.sort, limit=query.limit, offset=query.offset
    )


@router.post("/count")
def count_flow_runs(query: FlowRunCount, conn: ReadConn) -> int:
    """How many flow runs match a filter."""
    return flow_runs.count_flow_runs(conn, query.flow_runs)


@router.get("/{flow_run_id}")
def read_flow_run(flow_run_id: str, conn: ReadConn) -> FlowRun:
    """One flow run."""
    return flow_runs.read_flow_run(conn, flow_run_id)


@router.delete("/{flow_run_id}", status_code=204)
def delete_flow_run(flow_run_id: str, conn: WriteConn) -> Response:
    """Delete a flow run with its states, task runs and logs."""
    flow_runs.delete_flow_run(conn, flow_run_id)
    return Response(status_code=204)


@router.post("/{flow_run_id}/set_state")
def set_flow_run_state(flow_run_id: str, body: SetState, conn: WriteConn) -> OrchestrationResult:
    """Propose a state; the orchestration rules accept, reject or abort it.

    Proposing a state ``id`` that was already accepted returns that state again, so a
    client may retry after a timeout without causing a second transition.
    """
    return flow_runs.set_flow_run_state(conn, flow_run_id, body.state, force=body.force)


@router.post("/{flow_run_id}/cancel")
def cancel_flow_run(
    flow_run_id: str, conn: WriteConn, body: Cancel | None = None
) -> OrchestrationResult:
    """Cancel: Cancelling for a running or paused run, Cancelled for one not started."""
    return flow_runs.cancel_flow_run(conn, flow_run_id, body.message if body else None)


@router.post("/{flow_run_id}/heartbeat", status_code=204)
def heartbeat(flow_run_id: str, conn: WriteConn) -> Response:
    """Record that the process running this flow run is alive."""
    flow_runs.heartbeat(conn, flow_run_id)
    return Response(status_code=204)


@router.get("/{flow_run_id}/states")
def read_flow_run_states(flow_run_id: str, conn: ReadConn) -> list[StateRecord]:
    """The flow run's state history, oldest first."""
    flow_runs.read_flow_run(conn, flow_run_id)
    return flow_runs.read_flow_run_states(conn, flow_run_id)


@router.get("/{flow_run_id}/task_run_states")
def read_task_run_states_for_flow_run(
    flow_run_id: str, conn: ReadConn
) -> dict[str, list[StateRecord]]:
    """State histories of every task run of the flow run, keyed by task-run id."""
    flow_runs.read_flow_run(conn, flow_run_id)
    return task_runs.read_task_run_states_for_flow_run(conn, flow_run_id)
