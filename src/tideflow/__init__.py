"""tideflow: turn Python functions into observable, resilient, schedulable pipelines.

Example:
    >>> from tideflow import flow, task
    >>> @task
    ... def say_hello(name):
    ...     return f"Hello, {name}!"
    >>> @flow
    ... def hello_flow(name="world"):
    ...     return say_hello(name)
"""

from __future__ import annotations

from tideflow.client import get_client
from tideflow.engine.context import get_run_context
from tideflow.engine.futures import TideflowFuture, allow_failure, quote, unmapped
from tideflow.engine.tagging import tags
from tideflow.flows import Flow, flow
from tideflow.logging import get_run_logger
from tideflow.states import State
from tideflow.tasks import Task, task

__version__ = "0.1.0"

#: Prefect's name for a future, so ``from tideflow import PrefectFuture``-style code ports.
PrefectFuture = TideflowFuture

__all__ = [
    "Flow",
    "PrefectFuture",
    "State",
    "Task",
    "TideflowFuture",
    "__version__",
    "allow_failure",
    "flow",
    "get_client",
    "get_run_context",
    "get_run_logger",
    "quote",
    "tags",
    "task",
    "unmapped",
]
