"""Log lines of runs."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, select

from tideflow.schemas.core import LogRecord
from tideflow.schemas.filters import LogFilter
from tideflow.server.database import tables as t

_LOG = t.table_of(t.Log)


def read_logs(
    conn: Connection, log_filter: LogFilter | None = None, *, limit: int = 1000, offset: int = 0
) -> list[LogRecord]:
    """Log lines matching the filter, oldest first."""
    clauses: list[ColumnElement[bool]] = []
    f = log_filter
    if f is not None:
        if f.flow_run_id_any is not None:
            clauses.append(_LOG.c.flow_run_id.in_(f.flow_run_id_any))
        if f.task_run_id_any is not None:
            clauses.append(_LOG.c.task_run_id.in_(f.task_run_id_any))
        if f.level_ge is not None:
            clauses.append(_LOG.c.level >= f.level_ge)
    stmt = (
        select(_LOG)
        .where(and_(True, *clauses))
        .order_by(_LOG.c.timestamp, _LOG.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [LogRecord.model_validate(dict(r)) for r in conn.execute(stmt).mappings()]
