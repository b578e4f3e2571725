"""The ``OrchestrationClient`` protocol: everything the engine, CLI and agent ask of a
store. Two implementations: ``EmbeddedClient`` (in-process, on the database) and
``HttpClient`` (a tideflow server's REST API)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Only for annotations: importing the pydantic schemas costs ~0.1 s, and
    # `import tideflow` must stay cheap.
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
    from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter

from tideflow.schemas.sorting import FlowRunSort


@runtime_checkable
class OrchestrationClient(Protocol):
    """What a store offers the engine, the CLI and agents."""

    #: a short description of where records go ("sqlite:///..." or "http://...")
    location: str

    # flows and flow runs
    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[Flow]: ...
    def create_flow_run(self, data: FlowRunCreate) -> FlowRun: ...
    def read_flow_run(self, flow_run_id: str) -> FlowRun: ...
    def read_flow_runs(
        self,
        flow_run_filter: FlowRunFilter | None = None,
        *,
        sort: FlowRunSort = FlowRunSort.START_TIME_DESC,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRun]: ...
    def count_flow_runs(self, flow_run_filter: FlowRunFilter | None = None) -> int: ...
    def set_flow_run_state(
        self, flow_run_id: str, state: StateCreate, *, force: bool = False
    ) -> OrchestrationResult: ...
    def read_flow_run_states(self, flow_run_id: str) -> list[StateRecord]: ...
    def delete_flow_run(self, flow_run_id: str) -> None: ...
    def heartbeat(self, flow_run_id: str) -> None: ...

    # task runs and logs (batched)
    def write_batch(
        self,
        task_runs: Sequence[dict[str, Any]],
        logs: Sequence[dict[str, Any]],
    ) -> None: ...
    def read_task_runs(
        self, task_run_filter: TaskRunFilter | None = None, *, limit: int | None = None,
        offset: int = 0,
    ) -> list[TaskRun]: ...
    def read_task_run(self, task_run_id: str) -> TaskRun: ...
    def read_task_run_states(self, task_run_id: str) -> list[StateRecord]: ...
    def read_task_run_states_for_flow_run(
        self, flow_run_id: str
    ) -> dict[str, list[StateRecord]]: ...
    def read_logs(
        self, log_filter: LogFilter | None = None, *, limit: int = 1000, offset: int = 0
    ) -> list[LogRecord]: ...

    # concurrency limits
    def create_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimit: ...
    def read_concurrency_limit(self, tag: str) -> ConcurrencyLimit: ...
    def read_concurrency_limits(self) -> list[ConcurrencyLimit]: ...
    def delete_concurrency_limit(self, tag: str) -> None: ...
    def acquire_concurrency_slots(
        self, tags: Sequence[str], holder: str, lease_seconds: float
    ) -> bool: ...
    def renew_concurrency_slots(self, holder: str, lease_seconds: float) -> None: ...
    def release_concurrency_slots(self, holder: str) -> None: ...

    # block documents (secret fields encrypted by the store; see server/models/blocks.py)
    def save_block_document(
        self, slug: str, name: str, data: dict[str, Any], overwrite: bool = False
    ) -> dict[str, Any]: ...
    def read_block_document(
        self, slug: str, name: str, include_secrets: bool = False
    ) -> dict[str, Any]: ...
    def read_block_documents(self, slug: str | None = None) -> list[dict[str, Any]]: ...
    def delete_block_document(self, slug: str, name: str) -> None: ...

    # maintenance
    def vacuum(self, older_than: timedelta) -> int: ...
    def close(self) -> None: ...
