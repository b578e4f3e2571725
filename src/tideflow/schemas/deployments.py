"""Wire schemas for deployments, work queues and the agent's claims.

Requests (``*Create``, ``*Update``, ...) refuse unknown fields, so a typo is an error;
records (``Deployment``, ``WorkQueue``) are what the store returns. Schedules travel as
their JSON form and are validated with :data:`tideflow.schedules.Schedule`, so a
schedule that never fires (``0 0 30 2 *``) is refused at the boundary.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tideflow._ids import new_id
from tideflow.schedules import Schedule

Catchup = Literal["latest", "all", "none"]
"""What the scheduler does with runs missed while it was down: create only the latest
missed one (default), all of them, or none."""

_NAME = re.compile(r"^[^/%&><]+$")
_NAME_RULE = "1 to 255 characters, none of / % & > <"


def _check_name(kind: str, value: str) -> str:
    if not value or len(value) > 255 or not _NAME.match(value):
        raise ValueError(f"{kind} name {value!r} is not valid: expected {_NAME_RULE}")
    return value


def split_deployment_name(full_name: str) -> tuple[str, str]:
    """``"flow/deployment"`` -> ``("flow", "deployment")``, or a clear ``ValueError``."""
    flow_name, sep, name = full_name.partition("/")
    if not sep or not flow_name or not name or "/" in name:
        raise ValueError(
            f"Deployment name {full_name!r} is not valid: expected 'FLOW_NAME/DEPLOYMENT_NAME', "
            "e.g. 'hello-flow/my-first-deployment'"
        )
    return flow_name, name


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="ignore")


class DeploymentCreate(_Action):
    """Create a deployment, or update the one with the same flow and name (upsert)."""

    flow_name: str = Field(min_length=1, max_length=255)
    name: str
    version: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] | None = None
    schedule: Schedule | None = None
    is_schedule_active: bool = True
    catchup: Catchup = "latest"
    work_queue_name: str = "default"
    infrastructure: dict[str, Any] = Field(default_factory=dict)
    storage: dict[str, Any] | None = None
    path: str | None = None
    entrypoint: str | None = None
    #: the flow's own retries, so a crashed run of this deployment can be retried
    retries: int = Field(default=0, ge=0)
    retry_delay_seconds: float = Field(default=0.0, ge=0)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name("Deployment", value)

    @field_validator("work_queue_name")
    @classmethod
    def _valid_queue(cls, value: str) -> str:
        return _check_name("Work queue", value)


class DeploymentUpdate(_Action):
    """Change some fields of a deployment; fields not given are left alone.

    ``schedule=None`` given explicitly removes the schedule.
    """

    version: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    parameters: dict[str, Any] | None = None
    schedule: Schedule | None = None
    is_schedule_active: bool | None = None
    catchup: Catchup | None = None
    work_queue_name: str | None = None

    @field_validator("work_queue_name")
    @classmethod
    def _valid_queue(cls, value: str | None) -> str | None:
        return None if value is None else _check_name("Work queue", value)


class Deployment(_Record):
    """A deployment as the store returns it."""

    id: str
    flow_id: str
    flow_name: str
    name: str
    version: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] | None = None
    schedule: Schedule | None = None
    is_schedule_active: bool = True
    catchup: Catchup = "latest"
    work_queue_name: str = "default"
    infrastructure: dict[str, Any] = Field(default_factory=dict)
    storage: dict[str, Any] | None = None
    path: str | None = None
    entrypoint: str | None = None
    retries: int = 0
    retry_delay_seconds: float = 0.0
    last_scheduled_time: datetime | None = None
    created: datetime
    updated: datetime

    @property
    def full_name(self) -> str:
        """``flow-name/deployment-name``, how the CLI and ``run_deployment`` name it."""
        return f"{self.flow_name}/{self.name}"


class DeploymentFlowRunCreate(_Action):
    """Start a run of a deployment (``run_deployment``, ``deployment run``).

    ``parameters`` are merged over the deployment's defaults; ``scheduled_time`` defaults
    to now. ``idempotency_key`` makes a retried request create one run.
    """

    parameters: dict[str, Any] = Field(default_factory=dict)
    scheduled_time: datetime | None = None
    name: str | None = Field(default=None, max_length=255)
    tags: list[str] | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)


class BackfillRequest(_Action):
    """Create the runs a deployment's schedule would have made in ``[start, end]``."""

    start: datetime
    end: datetime


class WorkQueueCreate(_Action):
    """Create a work queue."""

    name: str
    description: str | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    is_paused: bool = False

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name("Work queue", value)


class WorkQueueUpdate(_Action):
    """Change a work queue; fields not given are left alone.

    ``concurrency_limit=None`` given explicitly removes the limit.
    """

    description: str | None = None
    concurrency_limit: int | None = Field(default=None, ge=0)
    is_paused: bool | None = None


class WorkQueue(_Record):
    """A work queue as the store returns it."""

    id: str
    name: str
    description: str | None = None
    concurrency_limit: int | None = None
    is_paused: bool = False
    last_polled: datetime | None = None
    created: datetime


class WorkQueueStatus(WorkQueue):
    """A work queue with counts of its runs (``work-queue inspect``)."""

    scheduled_runs: int = 0
    late_runs: int = 0
    active_runs: int = 0


class ClaimRequest(_Action):
    """An agent asks for runs to start.

    The store moves up to ``limit`` Scheduled runs of these queues, due at or before
    ``scheduled_before``, to Pending and returns them: each run is handed to one caller
    only. Paused queues are skipped and queue concurrency limits are honoured.
    """

    work_queue_names: list[str] = Field(min_length=1)
    scheduled_before: datetime | None = None
    limit: int = Field(default=10, ge=0, le=200)
    #: who claims (shown in the Pending state's message)
    claimant: str | None = Field(default=None, max_length=200)
    #: makes the claim idempotent: a retry with the same id (e.g. after a lost
    #: response) gets back the runs this claim already took, and takes no others
    claim_id: str = Field(default_factory=new_id, min_length=1, max_length=64)


class CrashReport(_Action):
    """The process running a flow run died: Crashed, then AwaitingRetry if it has
    retries left and belongs to a deployment."""

    message: str = Field(min_length=1, max_length=4000)


class InfrastructureReport(_Action):
    """Where a flow run is running (the agent records its process id)."""

    infrastructure_pid: str | None = Field(default=None, max_length=255)


__all__ = [
    "BackfillRequest",
    "Catchup",
    "ClaimRequest",
    "CrashReport",
    "Deployment",
    "DeploymentCreate",
    "DeploymentFlowRunCreate",
    "DeploymentUpdate",
    "InfrastructureReport",
    "WorkQueue",
    "WorkQueueCreate",
    "WorkQueueStatus",
    "WorkQueueUpdate",
    "split_deployment_name",
]
