"""The embedded door: the orchestration service layer called in-process on a local
database (SQLite by default). Same functions, same rules as the server's API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from tideflow.client.embedded_blocks import EmbeddedBlocksMixin
from tideflow.client.embedded_deployments import EmbeddedDeploymentsMixin
from tideflow.exceptions import InvalidRecords
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    LogRecord,
    OrchestrationResult,
    StateRecord,
    TaskRun,
)
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort, LogFilter, TaskRunFilter
from tideflow.server.database.engine import Database, get_database
from tideflow.server.models import concurrency_limits, flow_runs, flows, logs, retention, task_runs
from tideflow.states import now_utc


class EmbeddedClient(EmbeddedBlocksMixin, EmbeddedDeploymentsMixin):
    """An ``OrchestrationClient`` backed directly by a database."""

    def __init__(self, database_url: str) -> None:
        self.db: Database = get_database(database_url)
        self.location = self.db.safe_url
        #: the SQLite write path stores a task run's state history given as JSON text
        #: as is (see engine.recorder.coalesce); PostgreSQL's JSONB needs the objects.
        self.accepts_encoded_history = self.db.dialect == "sqlite"

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[Flow]:
        with self.db.read() as conn:
            return flows.read_flows(conn, limit=limit, offset=offset)

    def create_flow_run(self, data: FlowRunCreate) -> FlowRun:
        with self.db.write() as conn:
            return flow_runs.create_flow_run(conn, data)

    def read_flow_run(self, flow_run_id: str) -> FlowRun:
        with self.db.read() as conn:
            return flow_runs.read_flow_run(conn, flow_run_id)

    def read_flow_runs(
        self,
        flow_run_filter: FlowRunFilter | None = None,
        *,
        sort: FlowRunSort = FlowRunSort.START_TIME_DESC,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRun]:
        with self.db.read() as conn:
            return flow_runs.read_flow_runs(
                conn, flow_run_filter, sort=sort, limit=limit, offset=offset
            )

    def count_flow_runs(self, flow_run_filter: FlowRunFilter | None = None) -> int:
        with self.db.read() as conn:
            return flow_runs.count_flow_runs(conn, flow_run_filter)

    def set_flow_run_state(
        self, flow_run_id: str, state: StateCreate, *, force: bool = False
    ) -> OrchestrationResult:
        with self.db.write() as conn:
            return flow_runs.set_flow_run_state(conn, flow_run_id, state, force=force)

    def read_flow_run_states(self, flow_run_id: str) -> list[StateRecord]:
        with self.db.read() as conn:
            return flow_runs.read_flow_run_states(conn, flow_run_id)

    def delete_flow_run(self, flow_run_id: str) -> None:
        with self.db.write() as conn:
            flow_runs.delete_flow_run(conn, flow_run_id)

    def heartbeat(self, flow_run_id: str) -> None:
        with self.db.write() as conn:
            flow_runs.heartbeat(conn, flow_run_id)

    def write_batch(
        self,
        task_runs: Sequence[dict[str, Any]],
        logs: Sequence[dict[str, Any]],
    ) -> None:
        try:
            with self.db.write() as conn:
                _write_batch(conn, task_runs, logs)
        except (DataError, IntegrityError, ProgrammingError) as exc:
            # The rows themselves are bad (retrying cannot help): say so in the type.
            raise InvalidRecords(f"the database refused the batch: {exc.orig}") from exc

    def read_task_runs(
        self,
        task_run_filter: TaskRunFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]:
        with self.db.read() as conn:
            return task_runs.read_task_runs(conn, task_run_filter, limit=limit, offset=offset)

    def read_task_run(self, task_run_id: str) -> TaskRun:
        with self.db.read() as conn:
            return task_runs.read_task_run(conn, task_run_id)

    def read_task_run_states(self, task_run_id: str) -> list[StateRecord]:
        with self.db.read() as conn:
            return task_runs.read_task_run_states(conn, task_run_id)

    def read_task_run_states_for_flow_run(self, flow_run_id: str) -> dict[str, list[StateRecord]]:
        with self.db.read() as conn:
            return task_runs.read_task_run_states_for_flow_run(conn, flow_run_id)

    def read_logs(
        self, log_filter: LogFilter | None = None, *, limit: int = 1000, offset: int = 0
    ) -> list[LogRecord]:
        with self.db.read() as conn:
            return logs.read_logs(conn, log_filter, limit=limit, offset=offset)

    def create_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit:
        with self.db.write() as conn:
            return concurrency_limits.create_concurrency_limit(conn, tag, limit)

    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit:
        with self.db.read() as conn:
            return concurrency_limits.read_concurrency_limit(conn, tag)

    def read_concurrency_limits(self) -> list[ConcurrencyLimit]:
        with self.db.read() as conn:
            return concurrency_limits.read_concurrency_limits(conn)

    def delete_concurrency_limit(self, tag: str) -> None:
        with self.db.write() as conn:
            concurrency_limits.delete_concurrency_limit(conn, tag)

    def acquire_concurrency_slots(
        self, tags: Sequence[str], holder: str, lease_seconds: float
    ) -> bool:
        with self.db.write() as conn:
            return concurrency_limits.acquire_slots(conn, tags, holder, lease_seconds)

    def renew_concurrency_slots(self, holder: str, lease_seconds: float) -> None:
        with self.db.write() as conn:
            concurrency_limits.renew_slots(conn, holder, lease_seconds)

    def release_concurrency_slots(self, holder: str) -> None:
        with self.db.write() as conn:
            concurrency_limits.release_slots(conn, holder)

    def vacuum(self, older_than: timedelta) -> int:
        with self.db.write() as conn:
            return retention.delete_terminal_runs_before(conn, now_utc() - older_than)

    def close(self) -> None:
        """Nothing to close: the database is shared process-wide."""


_write_batch = task_runs.write_batch
