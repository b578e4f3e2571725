"""Request bodies: what a client sends to create or change something.

Unknown fields are refused (``extra="forbid"``) so a typo is an error, not a no-op.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tideflow.states import StateType


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StateCreate(_Action):
    """A proposed state. ``id`` makes retrying the same proposal idempotent."""

    id: str | None = None
    type: StateType
    name: str | None = None
    message: str | None = None
    timestamp: AwareDatetime | None = None
    details: dict[str, Any] | None = None


class FlowRunCreate(_Action):
    """A new flow run."""

    id: str | None = None
    flow_name: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    parent_task_run_id: str | None = None
    deployment_id: str | None = None
    work_queue_name: str | None = None
    idempotency_key: str | None = None
    state: StateCreate | None = None
    retries: int = Field(default=0, ge=0)
    retry_delay_seconds: float = Field(default=0.0, ge=0)
    expected_start_time: AwareDatetime | None = None
    auto_scheduled: bool = False


class TaskRunWrite(_Action):
    """A task run snapshot in a batch (insert, or update to a newer state)."""

    id: str
    flow_run_id: str | None = None
    name: str
    task_key: str
    dynamic_key: str
    task_version: str | None = None
    cache_key: str | None = None
    tags: list[str] = Field(default_factory=list)
    task_inputs: dict[str, Any] = Field(default_factory=dict)
    state_id: str
    state_type: StateType
    state_name: str
    state_timestamp: AwareDatetime
    state_message: str | None = None
    state_details: dict[str, Any] | None = None
    state_history: list[dict[str, Any]] = Field(default_factory=list)
    start_time: AwareDatetime | None = None
    end_time: AwareDatetime | None = None
    run_count: int = 0
    created: AwareDatetime


class LogCreate(_Action):
    """One log line. ``key`` makes a retried batch store it once."""

    key: str | None = None
    flow_run_id: str | None = None
    task_run_id: str | None = None
    name: str
    level: int
    message: str
    timestamp: AwareDatetime


class TaskRunBatch(_Action):
    """Task-run snapshots (with their state histories) and log lines, written in one
    transaction."""

    task_runs: list[TaskRunWrite] = Field(default_factory=list)
    logs: list[LogCreate] = Field(default_factory=list)


class ConcurrencyLimitCreate(_Action):
    """Create or update the limit for a tag."""

    tag: str = Field(min_length=1, max_length=255)
    concurrency_limit: int = Field(ge=0)
