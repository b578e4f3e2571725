"""``/api/task_runs``: the batch write path, filters and state histories.

Engines never send one request per task run: their recorder coalesces task-run states
and log lines and sends them here in batches, each written in one transaction.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection

from tideflow.schemas.actions import TaskRunBatch
from tideflow.schemas.core import StateRecord, TaskRun
from tideflow.schemas.filters import TaskRunFilter
from tideflow.server.api.dependencies import DatabaseDep, ReadConn, write_connection
from tideflow.server.models import task_runs

router = APIRouter(prefix="/task_runs", tags=["task runs"])

#: Task runs per page of ``POST /task_runs/filter``.
MAX_TASK_RUN_PAGE = 1000


class TaskRunQuery(BaseModel):
    """Body of ``POST /task_runs/filter``."""

    model_config = ConfigDict(extra="forbid")

    task_runs: TaskRunFilter | None = None
    limit: int = Field(default=MAX_TASK_RUN_PAGE, ge=1, le=MAX_TASK_RUN_PAGE)
    offset: int = Field(default=0, ge=0)


class BatchWritten(BaseModel):
    """How many records of each kind a batch carried."""

    task_runs: int
    logs: int


def _parse_batch(body: bytes) -> TaskRunBatch:
    try:
        return TaskRunBatch.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _write(conn: Connection, batch: TaskRunBatch) -> dict[str, int]:
    # A model's __dict__ holds exactly its validated fields (extra="forbid"): the
    # service layer reads those rows as they are, far cheaper than model_dump() or
    # dict(model) on the hottest write path.
    return task_runs.write_batch(
        conn, [vars(run) for run in batch.task_runs], [vars(line) for line in batch.logs]
    )


@router.post(
    "/batch",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "title": "TaskRunBatch",
                        "type": "object",
                        "description": "{task_runs: [TaskRunWrite], logs: [LogCreate]}",
                    }
                }
            },
        }
    },
)
async def write_batch(request: Request, database: DatabaseDep) -> BatchWritten:
    """Upsert task-run snapshots and insert log lines in one transaction (idempotent).

    More than ``MAX_BATCH_ITEMS`` records in one batch is refused with 413. The body is
    parsed and validated in one pass from the raw JSON, in a worker thread and before
    the write lock is taken, so a large batch neither blocks the event loop nor other
    writers.
    """
    batch = await run_in_threadpool(_parse_batch, await request.body())
    async with write_connection(request, database) as conn:
        written = await run_in_threadpool(_write, conn, batch)
    return BatchWritten.model_validate(written)


@router.post("/filter")
def read_task_runs(query: TaskRunQuery, conn: ReadConn) -> list[TaskRun]:
    """Task runs matching a filter, in creation order (at most 1000 per page)."""
    return task_runs.read_task_runs(conn, query.task_runs, limit=query.limit, offset=query.offset)


@router.get("/{task_run_id}")
def read_task_run(task_run_id: str, conn: ReadConn) -> TaskRun:
    """One task run."""
    return task_runs.read_task_run(conn, task_run_id)


@router.get("/{task_run_id}/states")
def read_task_run_states(task_run_id: str, conn: ReadConn) -> list[StateRecord]:
    """The task run's state history, oldest first."""
    return task_runs.read_task_run_states(conn, task_run_id)
