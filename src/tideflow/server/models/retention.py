"""Deleting old runs (``tideflow server database vacuum``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select

from tideflow.server.database import tables as t
from tideflow.states import TERMINAL_STATES

_RUN = t.table_of(t.FlowRun)


def delete_flow_runs_by_id(conn: Connection, ids: Sequence[str]) -> int:
    """Delete flow runs and everything hanging off them (explicitly, so SQLite databases
    opened without foreign-key enforcement are cleaned the same way)."""
    if not ids:
        return 0
    ids = list(ids)
    total = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(delete(t.table_of(t.Log)).where(t.Log.flow_run_id.in_(chunk)))
        conn.execute(delete(t.table_of(t.TaskRun)).where(t.TaskRun.flow_run_id.in_(chunk)))
        conn.execute(
            delete(t.table_of(t.FlowRunState)).where(t.FlowRunState.flow_run_id.in_(chunk))
        )
        total += conn.execute(delete(_RUN).where(_RUN.c.id.in_(chunk))).rowcount
    return total


def delete_terminal_runs_before(conn: Connection, cutoff: datetime) -> int:
    """Delete finished flow runs whose end (or creation) is older than ``cutoff``.

    Running, scheduled, pending, paused and cancelling runs are never touched.
    """
    terminal = [s.value for s in TERMINAL_STATES]
    ids = [
        r[0]
        for r in conn.execute(
            select(_RUN.c.id).where(
                _RUN.c.state_type.in_(terminal),
                (_RUN.c.end_time < cutoff)
                | (_RUN.c.end_time.is_(None) & (_RUN.c.created < cutoff)),
            )
        )
    ]
    return delete_flow_runs_by_id(conn, ids)
