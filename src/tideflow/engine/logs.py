"""Run logs: console output, shipping log lines to the store, and ``log_prints``.

Set up lazily on the first run (not at import), so ``import tideflow`` stays cheap and
a program that never runs a flow keeps its own logging untouched.
"""

from __future__ import annotations

import builtins
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from tideflow._ids import new_key
from tideflow.client import get_client
from tideflow.engine.context import flow_run_ctx, task_run_ctx
from tideflow.engine.recorder import get_recorder
from tideflow.settings import get_settings

_setup_lock = threading.Lock()
_configured = False

LEVEL_STYLES = {
    "DEBUG": "\x1b[2m",
    "INFO": "\x1b[36m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
RESET = "\x1b[0m"


class RecorderHandler(logging.Handler):
    """Sends log records made inside a run to that run's store, in batches.

    A record that names its run (``extra={"flow_run_id": ...}``, as the run loggers and
    the engine's own lines about a run do) is stored with that run even when it is
    logged outside the run's context, e.g. before a subflow's context replaces its
    parent's. Lines of a task run outside any flow are stored with the task run.
    """

    def emit(self, record: logging.LogRecord) -> None:
        flow_ctx = flow_run_ctx.get()
        task_ctx = task_run_ctx.get()
        if flow_ctx is None and task_ctx is not None:
            flow_ctx = task_ctx.flow_run_context  # a task run outside any flow
        named_flow_run = getattr(record, "flow_run_id", None)
        named_task_run = getattr(record, "task_run_id", None)
        if named_flow_run is not None:
            # A line about a particular run: do not attach whatever task is current.
            flow_run_id, task_run_id = named_flow_run, named_task_run
        elif flow_ctx is not None:
            flow_run_id = flow_ctx.flow_run_id
            task_run_id = named_task_run or (task_ctx.task_run_id if task_ctx else None)
        else:
            return
        if flow_ctx is not None:
            recorder = flow_ctx.recorder
        else:
            settings = get_settings()
            recorder = get_recorder(get_client(), settings.flush_interval)
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
        recorder.record_log(
            {
                "key": new_key(),
                "flow_run_id": flow_run_id,
                "task_run_id": task_run_id,
                "name": record.name,
                "level": record.levelno,
                "message": message,
                "timestamp": datetime.fromtimestamp(record.created, UTC),
            }
        )


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.123 | INFO    | Task run 'x' - message`` (coloured on a terminal)."""

    def __init__(self, color: bool) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = record.levelname
        who = ""
        run_name = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        if run_name:
            kind = "Task run" if getattr(record, "task_run_name", None) else "Flow run"
            who = f"{kind} {run_name!r} - "
        text = f"{when} | {level:<7} | {who}{record.getMessage()}"
        if record.exc_info and record.exc_info[0] is not None:
            text += "\n" + self.formatException(record.exc_info)
        if self.color:
            style = LEVEL_STYLES.get(level, "")
            text = f"{style}{when} | {level:<7}{RESET} | {who}{record.getMessage()}" + (
                text[text.index("\n") :] if "\n" in text else ""
            )
        return text


def setup_logging(level: str = "INFO") -> None:
    """Attach tideflow's handlers to the ``tideflow`` logger (once per process)."""
    global _configured
    if _configured:
        return
    with _setup_lock:
        if _configured:
            return
        logger = logging.getLogger("tideflow")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        recorder_handler = RecorderHandler(level=logging.INFO)
        logger.addHandler(recorder_handler)
        console = logging.StreamHandler(sys.stderr)
        try:
            console.setLevel(level.upper())
        except ValueError:
            console.setLevel(logging.INFO)
        console.setFormatter(ConsoleFormatter(color=sys.stderr.isatty()))
        logger.addHandler(console)
        _configured = True


_original_print = builtins.print
_print_patched = False


def _run_print(*args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None,
               flush: bool = False) -> None:  # fmt: skip
    task_ctx = task_run_ctx.get()
    flow_ctx = flow_run_ctx.get()
    enabled = task_ctx.log_prints if task_ctx else (flow_ctx.log_prints if flow_ctx else False)
    if not enabled or file not in (None, sys.stdout):
        _original_print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    from tideflow.logging import get_run_logger

    message = (sep if sep is not None else " ").join(str(a) for a in args)
    get_run_logger().info(message)


def enable_log_prints() -> None:
    """Route ``print`` inside runs with ``log_prints=True`` to the run logger."""
    global _print_patched
    if not _print_patched:
        builtins.print = _run_print
        _print_patched = True
