"""The REST API under ``/api``: one router module per resource.

To add a resource, write ``server/api/<resource>.py`` defining ``router`` and add one
line to ``ROUTERS`` below; ``create_app`` mounts every router in the list under
``/api`` (behind the API key when one is set).
"""

from __future__ import annotations

from fastapi import APIRouter

from tideflow.server.api import (
    admin,
    blocks,
    concurrency_limits,
    deployments,
    flow_runs,
    flows,
    logs,
    task_runs,
    work_queues,
)

ROUTERS: list[APIRouter] = [
    admin.router,
    flows.router,
    flow_runs.router,
    task_runs.router,
    logs.router,
    concurrency_limits.router,
    deployments.router,
    work_queues.router,
    blocks.router,
]

__all__ = ["ROUTERS"]
