"""Loggers for flow and task runs (``from tideflow.logging import get_run_logger``).

Lines logged through a run logger appear on the console and are stored with the run,
readable later with ``tideflow flow-run logs ID`` or in the UI.
"""

from __future__ import annotations

import logging
from typing import Any

from tideflow.engine.context import flow_run_ctx, task_run_ctx
from tideflow.exceptions import MissingContextError


class RunLoggerAdapter(logging.LoggerAdapter):
    """A logger bound to one run: every record carries the run's ids and name."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def get_run_logger(**extra: Any) -> logging.LoggerAdapter:
    """The logger of the current task run or flow run.

    Raises:
        MissingContextError: when called outside a flow or task run.

    Example:
        >>> from tideflow import flow, get_run_logger
        >>> @flow
        ... def hello():
        ...     get_run_logger().info("hi")
    """
    task_ctx = task_run_ctx.get()
    flow_ctx = flow_run_ctx.get()
    if task_ctx is not None:
        return RunLoggerAdapter(
            logging.getLogger("tideflow.task_runs"),
            {
                "task_run_id": task_ctx.task_run_id,
                "task_run_name": task_ctx.task_run_name,
                "flow_run_id": flow_ctx.flow_run_id if flow_ctx else None,
                "flow_run_name": flow_ctx.flow_run_name if flow_ctx else None,
                **extra,
            },
        )
    if flow_ctx is not None:
        return RunLoggerAdapter(
            logging.getLogger("tideflow.flow_runs"),
            {"flow_run_id": flow_ctx.flow_run_id, "flow_run_name": flow_ctx.flow_run_name, **extra},
        )
    raise MissingContextError(
        "get_run_logger() needs a running flow or task; call it inside a @flow or @task "
        "(use logging.getLogger(...) elsewhere)."
    )


def get_logger(name: str | None = None) -> logging.Logger:
    """A logger under the ``tideflow`` namespace (not bound to a run)."""
    return logging.getLogger(f"tideflow.{name}" if name else "tideflow")


__all__ = ["RunLoggerAdapter", "get_logger", "get_run_logger"]
