"""Deployments, work queues, schedules and agents' claims through the embedded door.

Mixed into ``EmbeddedClient``: each method is one transaction on ``self.db``, calling
the same service functions as the server's API routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tideflow._lazy import lazy_module
from tideflow.states import now_utc

if TYPE_CHECKING:
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
    )
    from tideflow.server.database.engine import Database
    from tideflow.server.models import deployments, run_recovery, scheduling, work_queues
else:
    # Loaded on first use: they import schedules and croniter, which a script that only
    # runs flows never needs (see tideflow._lazy).
    deployments = lazy_module("tideflow.server.models.deployments")
    run_recovery = lazy_module("tideflow.server.models.run_recovery")
    scheduling = lazy_module("tideflow.server.models.scheduling")
    work_queues = lazy_module("tideflow.server.models.work_queues")


class EmbeddedDeploymentsMixin:
    """The deployment and agent half of the ``OrchestrationClient`` protocol."""

    db: Database

    # deployments
    def create_deployment(self, data: DeploymentCreate) -> Deployment:
        with self.db.write() as conn:
            return deployments.upsert_deployment(conn, data)

    def read_deployment(self, deployment_id: str) -> Deployment:
        with self.db.read() as conn:
            return deployments.read_deployment(conn, deployment_id)

    def read_deployment_by_name(self, name: str) -> Deployment:
        with self.db.read() as conn:
            return deployments.read_deployment_by_name(conn, name)

    def read_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_queue_name: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[Deployment]:
        with self.db.read() as conn:
            return deployments.read_deployments(
                conn,
                flow_name=flow_name,
                work_queue_name=work_queue_name,
                limit=limit,
                offset=offset,
            )

    def update_deployment(self, deployment_id: str, data: DeploymentUpdate) -> Deployment:
        with self.db.write() as conn:
            return deployments.update_deployment(conn, deployment_id, data)

    def delete_deployment(self, deployment_id: str) -> None:
        with self.db.write() as conn:
            deployments.delete_deployment(conn, deployment_id)

    def create_flow_run_from_deployment(
        self, deployment_id: str, data: DeploymentFlowRunCreate
    ) -> FlowRun:
        with self.db.write() as conn:
            return deployments.create_flow_run_from_deployment(conn, deployment_id, data)

    def schedule_deployment_runs(self, deployment_id: str) -> int:
        with self.db.write() as conn:
            result, _ = scheduling.schedule_runs(conn, now_utc(), deployment_ids=[deployment_id])
            return result.runs_created

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> tuple[int, int]:
        with self.db.write() as conn:
            return scheduling.backfill_runs(conn, deployment_id, start, end)

    # work queues
    def create_work_queue(self, data: WorkQueueCreate) -> WorkQueue:
        with self.db.write() as conn:
            return work_queues.create_work_queue(conn, data)

    def read_work_queue_by_name(self, name: str) -> WorkQueue:
        with self.db.read() as conn:
            return work_queues.read_work_queue_by_name(conn, name)

    def read_work_queue_status(self, name: str) -> WorkQueueStatus:
        with self.db.read() as conn:
            return work_queues.work_queue_status(conn, name)

    def read_work_queues(self, *, limit: int = 200, offset: int = 0) -> list[WorkQueue]:
        with self.db.read() as conn:
            return work_queues.read_work_queues(conn, limit=limit, offset=offset)

    def update_work_queue(self, name: str, data: WorkQueueUpdate) -> WorkQueue:
        with self.db.write() as conn:
            return work_queues.update_work_queue(conn, name, data)

    def delete_work_queue(self, name: str) -> None:
        with self.db.write() as conn:
            work_queues.delete_work_queue(conn, name)

    # agents
    def claim_flow_runs(self, request: ClaimRequest) -> list[FlowRun]:
        with self.db.write() as conn:
            return work_queues.claim_flow_runs(conn, request)

    def release_flow_run(self, flow_run_id: str, message: str | None = None) -> OrchestrationResult:
        with self.db.write() as conn:
            return run_recovery.release_flow_run(conn, flow_run_id, message)

    def crash_flow_run(self, flow_run_id: str, message: str) -> OrchestrationResult:
        with self.db.write() as conn:
            return run_recovery.crash_flow_run(conn, flow_run_id, message)

    def set_flow_run_infrastructure_pid(self, flow_run_id: str, pid: str | None) -> None:
        with self.db.write() as conn:
            run_recovery.set_infrastructure_pid(conn, flow_run_id, pid)
