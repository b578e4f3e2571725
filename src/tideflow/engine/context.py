"""Run contexts: what a running flow or task knows about itself.

Held in context variables so they follow threads started through the task runner and
asyncio tasks alike.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tideflow.exceptions import MissingContextError

if TYPE_CHECKING:
    from tideflow.client.base import OrchestrationClient
    from tideflow.engine.futures import TideflowFuture
    from tideflow.engine.recorder import Recorder
    from tideflow.flows import Flow
    from tideflow.states import State
    from tideflow.task_runners import TaskRunner
    from tideflow.tasks import Task


@dataclass(eq=False)
class FlowRunContext:
    """The state of one running flow run."""

    flow: Flow[..., Any]
    flow_run_id: str
    flow_run_name: str
    parameters: dict[str, Any]
    client: OrchestrationClient
    recorder: Recorder
    task_runner: TaskRunner
    log_prints: bool
    parent: FlowRunContext | None = None
    tags: frozenset[str] = frozenset()
    #: how many runs of each task key this flow run has started (for dynamic keys)
    dynamic_keys: dict[str, int] = field(default_factory=dict)
    #: completed task states by (task key, dynamic key), reused when the flow retries
    completed: dict[tuple[str, str], State[Any]] = field(default_factory=dict)
    #: futures submitted in this run, waited for before the run ends
    futures: list[TideflowFuture[Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: (when read, tags that have a concurrency limit), see engine.concurrency
    limited_tags: tuple[float, frozenset[str]] | None = None

    @property
    def flow_run(self) -> RunView:
        """The running flow run (``id``, ``name``, ``parameters``), as Prefect's
        ``get_run_context().flow_run``."""
        return RunView(self.flow_run_id, self.flow_run_name, self.parameters)

    def next_dynamic_key(self, task_key: str) -> str:
        with self.lock:
            n = self.dynamic_keys.get(task_key, 0)
            self.dynamic_keys[task_key] = n + 1
        return str(n)


@dataclass(eq=False, slots=True)
class TaskRunContext:
    """The state of one running task run."""

    task: Task[..., Any]
    task_run_id: str
    task_run_name: str
    parameters: dict[str, Any]
    flow_run_context: FlowRunContext | None
    log_prints: bool
    retry_count: int = 0

    @property
    def task_run(self) -> RunView:
        """The running task run (``id``, ``name``, ``parameters``, ``run_count``), as
        Prefect's ``get_run_context().task_run``."""
        return RunView(self.task_run_id, self.task_run_name, self.parameters, self.retry_count + 1)

    @property
    def flow_run(self) -> RunView | None:
        """The flow run this task run belongs to (None outside any flow)."""
        ctx = self.flow_run_context
        return ctx.flow_run if ctx is not None and ctx.flow_run_id is not None else None


@dataclass(frozen=True, slots=True)
class RunView:
    """What user code sees of a run through its context (and in state hooks)."""

    id: str
    name: str
    parameters: dict[str, Any]
    run_count: int = 1

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, id={self.id!r})"


flow_run_ctx: ContextVar[FlowRunContext | None] = ContextVar("tideflow_flow_run", default=None)
task_run_ctx: ContextVar[TaskRunContext | None] = ContextVar("tideflow_task_run", default=None)
#: tags added with ``with tags(...)``
tags_ctx: ContextVar[frozenset[str]] = ContextVar("tideflow_tags", default=frozenset())


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The innermost run context (a task run's, else a flow run's).

    Raises:
        MissingContextError: outside any flow or task run.
    """
    task_ctx = task_run_ctx.get()
    if task_ctx is not None:
        return task_ctx
    flow_ctx = flow_run_ctx.get()
    if flow_ctx is not None:
        return flow_ctx
    raise MissingContextError("No flow or task run is active: call this inside a @flow or @task.")


__all__ = [
    "FlowRunContext",
    "RunView",
    "TaskRunContext",
    "flow_run_ctx",
    "get_run_context",
    "tags_ctx",
    "task_run_ctx",
]
