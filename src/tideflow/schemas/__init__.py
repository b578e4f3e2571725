"""Wire schemas shared by the client and the server (pydantic models)."""

from tideflow.schemas.actions import (
    ConcurrencyLimitCreate,
    FlowRunCreate,
    LogCreate,
    StateCreate,
    TaskRunBatch,
)
from tideflow.schemas.core import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    LogRecord,
    OrchestrationResult,
    SetStateStatus,
    StateRecord,
    TaskRun,
)
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort, LogFilter, TaskRunFilter

__all__ = [
    "ConcurrencyLimit",
    "ConcurrencyLimitCreate",
    "Flow",
    "FlowRun",
    "FlowRunCreate",
    "FlowRunFilter",
    "FlowRunSort",
    "LogCreate",
    "LogFilter",
    "LogRecord",
    "OrchestrationResult",
    "SetStateStatus",
    "StateCreate",
    "StateRecord",
    "TaskRun",
    "TaskRunBatch",
    "TaskRunFilter",
]
