"""``/api/logs``: batched create and filtered reads of run log lines."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tideflow.schemas.actions import LogCreate
from tideflow.schemas.core import LogRecord
from tideflow.schemas.filters import LogFilter
from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import logs, task_runs

router = APIRouter(prefix="/logs", tags=["logs"])

#: Log lines per page of ``POST /logs/filter``.
MAX_LOG_PAGE = 1000


class LogQuery(BaseModel):
    """Body of ``POST /logs/filter``."""

    model_config = ConfigDict(extra="forbid")

    logs: LogFilter | None = None
    limit: int = Field(default=MAX_LOG_PAGE, ge=1, le=MAX_LOG_PAGE)
    offset: int = Field(default=0, ge=0)


class LogsWritten(BaseModel):
    logs: int


@router.post("", status_code=201)
def create_logs(lines: list[LogCreate], conn: WriteConn) -> LogsWritten:
    """Insert log lines in one transaction; lines with a ``key`` are stored once."""
    written = task_runs.write_batch(conn, (), [vars(line) for line in lines])
    return LogsWritten(logs=written["logs"])


@router.post("/filter")
def read_logs(query: LogQuery, conn: ReadConn) -> list[LogRecord]:
    """Log lines matching a filter, oldest first (at most 1000 per page)."""
    return logs.read_logs(conn, query.logs, limit=query.limit, offset=query.offset)
