"""Records as the store returns them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tideflow.states import State, StateType


class _Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class StateRecord(_Record):
    """One entry of a run's state history."""

    id: str
    type: StateType
    name: str
    timestamp: datetime
    message: str | None = None
    details: dict[str, Any] | None = None

    def to_state(self) -> State[Any]:
        """The ``State`` this record describes."""
        return State.from_record(self.model_dump())

    @classmethod
    def from_state(cls, state: State[Any]) -> StateRecord:
        """The record of ``state``."""
        return cls.model_validate(state.to_record())


class _RunStateFields(_Record):
    state_id: str | None = None
    state_type: StateType | None = None
    state_name: str | None = None
    state_timestamp: datetime | None = None
    state_message: str | None = None
    state_details: dict[str, Any] | None = None

    @property
    def state(self) -> State[Any] | None:
        """The current state, rebuilt from the denormalised columns."""
        if self.state_type is None:
            return None
        return State.from_record(
            {
                "id": self.state_id,
                "type": self.state_type,
                "name": self.state_name,
                "timestamp": self.state_timestamp,
                "message": self.state_message,
                "details": self.state_details,
            }
        )


class Flow(_Record):
    """A flow known to the store (by name)."""

    id: str
    name: str
    tags: list[str] = Field(default_factory=list)
    created: datetime


class FlowRun(_RunStateFields):
    """A flow run with its current state."""

    id: str
    flow_id: str
    flow_name: str | None = None
    name: str
    flow_version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    parent_task_run_id: str | None = None
    deployment_id: str | None = None
    work_queue_name: str | None = None
    idempotency_key: str | None = None
    expected_start_time: datetime | None = None
    next_scheduled_start_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    total_run_time: float = 0.0
    run_count: int = 0
    retries: int = 0
    retry_delay_seconds: float = 0.0
    heartbeat: datetime | None = None
    infrastructure_pid: str | None = None
    auto_scheduled: bool = False
    created: datetime
    updated: datetime


class TaskRun(_RunStateFields):
    """A task run with its current state and the upstream runs that fed it."""

    id: str
    flow_run_id: str | None = None
    name: str
    task_key: str
    dynamic_key: str
    task_version: str | None = None
    cache_key: str | None = None
    tags: list[str] = Field(default_factory=list)
    task_inputs: dict[str, Any] = Field(default_factory=dict)
    state_history: list[StateRecord] = Field(default_factory=list)
    start_time: datetime | None = None
    end_time: datetime | None = None
    run_count: int = 0
    created: datetime


class LogRecord(_Record):
    """One log line of a flow run or task run."""

    id: int
    flow_run_id: str | None = None
    task_run_id: str | None = None
    name: str
    level: int
    message: str
    timestamp: datetime


class ConcurrencyLimit(_Record):
    """A limit on how many task runs with ``tag`` may run at once."""

    id: str
    tag: str
    concurrency_limit: int
    created: datetime
    active_slots: int = 0


class SetStateStatus(StrEnum):
    """What the orchestrator did with a proposed state."""

    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"


class OrchestrationResult(_Record):
    """The answer to a proposed state change."""

    status: SetStateStatus
    state: StateRecord | None = None
    reason: str | None = None
