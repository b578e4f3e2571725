"""Filters and sort orders for reading runs and logs.

Each filter compiles to bound SQLAlchemy expressions on the server; sort keys are enums
so no user string ever reaches SQL.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tideflow.schemas.sorting import FlowRunSort
from tideflow.states import StateType

__all__ = ["MAX_PAGE_SIZE", "FlowRunFilter", "FlowRunSort", "LogFilter", "Page", "TaskRunFilter"]

MAX_PAGE_SIZE = 200


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowRunFilter(_Filter):
    """Which flow runs to return; every given field must match."""

    id_any: list[str] | None = None
    flow_name_any: list[str] | None = None
    flow_id_any: list[str] | None = None
    state_type_any: list[StateType] | None = None
    state_name_any: list[str] | None = None
    tags_all: list[str] | None = None
    deployment_id_any: list[str] | None = None
    parent_task_run_id_any: list[str] | None = None
    start_time_after: AwareDatetime | None = None
    start_time_before: AwareDatetime | None = None
    expected_start_time_after: AwareDatetime | None = None
    expected_start_time_before: AwareDatetime | None = None
    name_like: str | None = None


class TaskRunFilter(_Filter):
    """Which task runs to return."""

    flow_run_id_any: list[str] | None = None
    state_type_any: list[StateType] | None = None
    name_like: str | None = None


class LogFilter(_Filter):
    """Which log lines to return (oldest first)."""

    flow_run_id_any: list[str] | None = None
    task_run_id_any: list[str] | None = None
    level_ge: int | None = None


class Page(_Filter):
    """Limit/offset with a server-side cap."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(default=0, ge=0)
