"""Calling users' state hooks (on_completion, on_failure, ...)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

_log = logging.getLogger("tideflow.hooks")


def run_hooks(
    hooks: Iterable[Callable[..., Any]], owner: Any, run: Any, state: Any, kind: str
) -> None:
    """Call each ``hook(owner, run, state)``; a failing hook is logged, never fatal.

    ``owner`` is the Task or Flow, ``run`` the task run or flow run record. A hook may
    also be an object with a ``notify(body, subject=...)`` method (a notification block),
    which receives a short summary instead.
    """
    for hook in hooks:
        name = getattr(hook, "__name__", type(hook).__name__)
        try:
            if hasattr(hook, "notify") and not _is_function(hook):
                _notify(hook, owner, run, state)
            else:
                hook(owner, run, state)
        except Exception as exc:
            _log.error("%s hook %r of %r raised %r", kind, name, getattr(owner, "name", owner), exc)


def _is_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)


def _notify(block: Any, owner: Any, run: Any, state: Any) -> None:
    kind = "Flow" if type(owner).__name__ == "Flow" else "Task"
    subject = (
        f"{kind} run {getattr(run, 'name', '?')!r} of {getattr(owner, 'name', '?')!r}: {state.name}"
    )
    body = f"{subject}\n{state.message or ''}".strip()
    block.notify(body, subject=subject)
