"""Deployments, work queues, schedules and agents' claims through the HTTP door.

Mixed into ``HttpClient``; every call goes through ``self._request`` (retries, error
mapping). Writes are made safe to retry: upserts are idempotent by nature, and a run
started from a deployment gets a client-chosen idempotency key. A claim retried after
a lost response may leave the first claim's runs Pending; the crash detector hands them
back to their queue once their heartbeat is stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tideflow._ids import new_key
from tideflow.schemas.core import FlowRun, OrchestrationResult
from tideflow.schemas.deployments import (
    ClaimRequest,
    Deployment,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    WorkQueue,
    WorkQueueCreate,
    WorkQueueStatus,
    WorkQueueUpdate,
    split_deployment_name,
)


def _q(value: str) -> str:
    return quote(value, safe="")


def _body(model: Any, *, only_set: bool = False) -> Any:
    return model.model_dump(mode="json", exclude_unset=only_set)


class HttpDeploymentsMixin:
    """The deployment and agent half of the ``OrchestrationClient`` protocol."""

    if TYPE_CHECKING:  # provided by HttpClient

        def _request(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
        ) -> Any: ...

    # deployments
    def create_deployment(self, data: DeploymentCreate) -> Deployment:
        return Deployment.model_validate(self._request("POST", "/deployments", json=_body(data)))

    def read_deployment(self, deployment_id: str) -> Deployment:
        return Deployment.model_validate(self._request("GET", f"/deployments/{_q(deployment_id)}"))

    def read_deployment_by_name(self, name: str) -> Deployment:
        flow_name, deployment_name = split_deployment_name(name)
        path = f"/deployments/name/{_q(flow_name)}/{_q(deployment_name)}"
        return Deployment.model_validate(self._request("GET", path))

    def read_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_queue_name: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Deployment]:
        rows = self._request(
            "POST",
            "/deployments/filter",
            json={
                "flow_name": flow_name,
                "work_queue_name": work_queue_name,
                "limit": limit,
                "offset": offset,
            },
        )
        return [Deployment.model_validate(r) for r in rows]

    def update_deployment(self, deployment_id: str, data: DeploymentUpdate) -> Deployment:
        body = _body(data, only_set=True)
        return Deployment.model_validate(
            self._request("PATCH", f"/deployments/{_q(deployment_id)}", json=body)
        )

    def delete_deployment(self, deployment_id: str) -> None:
        self._request("DELETE", f"/deployments/{_q(deployment_id)}")

    def create_flow_run_from_deployment(
        self, deployment_id: str, data: DeploymentFlowRunCreate
    ) -> FlowRun:
        if data.idempotency_key is None:
            data = data.model_copy(update={"idempotency_key": f"run {new_key()}"})
        path = f"/deployments/{_q(deployment_id)}/create_flow_run"
        return FlowRun.model_validate(self._request("POST", path, json=_body(data)))

    def schedule_deployment_runs(self, deployment_id: str) -> int:
        data = self._request("POST", f"/deployments/{_q(deployment_id)}/schedule")
        return int(data["runs_created"])

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> tuple[int, int]:
        data = self._request(
            "POST",
            f"/deployments/{_q(deployment_id)}/backfill",
            json={"start": start.isoformat(), "end": end.isoformat()},
        )
        return int(data["created"]), int(data["total"])

    # work queues
    def create_work_queue(self, data: WorkQueueCreate) -> WorkQueue:
        return WorkQueue.model_validate(self._request("POST", "/work_queues", json=_body(data)))

    def read_work_queue_by_name(self, name: str) -> WorkQueue:
        return WorkQueue.model_validate(self._request("GET", f"/work_queues/name/{_q(name)}"))

    def read_work_queue_status(self, name: str) -> WorkQueueStatus:
        data = self._request("GET", f"/work_queues/name/{_q(name)}/status")
        return WorkQueueStatus.model_validate(data)

    def read_work_queues(self, *, limit: int = 200, offset: int = 0) -> list[WorkQueue]:
        rows = self._request("POST", "/work_queues/filter", json={"limit": limit, "offset": offset})
        return [WorkQueue.model_validate(r) for r in rows]

    def update_work_queue(self, name: str, data: WorkQueueUpdate) -> WorkQueue:
        body = _body(data, only_set=True)
        return WorkQueue.model_validate(
            self._request("PATCH", f"/work_queues/name/{_q(name)}", json=body)
        )

    def delete_work_queue(self, name: str) -> None:
        self._request("DELETE", f"/work_queues/name/{_q(name)}")

    # agents
    def claim_flow_runs(self, request: ClaimRequest) -> list[FlowRun]:
        rows = self._request("POST", "/work_queues/claim", json=_body(request))
        return [FlowRun.model_validate(r) for r in rows]

    def release_flow_run(self, flow_run_id: str, message: str | None = None) -> OrchestrationResult:
        data = self._request(
            "POST", f"/flow_runs/{_q(flow_run_id)}/release", json={"message": message}
        )
        return OrchestrationResult.model_validate(data)

    def crash_flow_run(self, flow_run_id: str, message: str) -> OrchestrationResult:
        data = self._request(
            "POST", f"/flow_runs/{_q(flow_run_id)}/crash", json={"message": message[:4000]}
        )
        return OrchestrationResult.model_validate(data)

    def set_flow_run_infrastructure_pid(self, flow_run_id: str, pid: str | None) -> None:
        self._request(
            "PUT",
            f"/flow_runs/{_q(flow_run_id)}/infrastructure",
            json={"infrastructure_pid": pid},
        )
