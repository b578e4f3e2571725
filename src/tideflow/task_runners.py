"""Task runners decide where submitted task runs execute.

One small interface (``start``, ``submit``, ``submit_async``, ``shutdown``):

- ``SequentialTaskRunner`` (the default) runs each submitted task at once, in order.
- ``ConcurrentTaskRunner(max_workers)`` runs sync tasks on a thread pool and async
  tasks on an event loop, so many async tasks run at once.
- ``DaskTaskRunner`` (``pip install tideflow[dask]``) runs task functions on a Dask
  cluster.

A submitted run starts only when every upstream future it depends on is done; waiting
happens in callbacks, not in worker threads, so a pool can never deadlock on its own
queue.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Coroutine, Sequence
from contextvars import Context
from typing import TYPE_CHECKING, Any

from tideflow.engine.steps import submit_to_portal

if TYPE_CHECKING:
    from tideflow.engine.futures import TideflowFuture
    from tideflow.states import State

RunCall = Callable[[], "State[Any]"]
AsyncRunCall = Callable[[], Coroutine[Any, Any, "State[Any]"]]


class TaskRunner:
    """Base class: runs everything immediately in the calling thread."""

    #: shown in logs
    name = "base"

    def start(self) -> None:
        """Acquire resources (called when a flow run starts)."""

    def shutdown(self) -> None:
        """Release resources (called when a flow run ends, after its futures finish)."""

    def abandon(self) -> None:
        """Drop queued work and stop waiting for running tasks (a timed-out flow run);
        ``shutdown`` is called right after."""

    def duplicate(self) -> TaskRunner:
        """A fresh, unstarted runner with the same settings (one per flow run)."""
        return type(self)()

    def submit(
        self, call: RunCall, upstream: Sequence[TideflowFuture[Any]], context: Context
    ) -> cf.Future[State[Any]]:
        """Run a task run's lifecycle once ``upstream`` futures are done."""
        future: cf.Future[State[Any]] = cf.Future()
        _after(upstream, lambda: _run_into(future, context, call))
        return future

    def submit_async(
        self, call: AsyncRunCall, upstream: Sequence[TideflowFuture[Any]], context: Context
    ) -> cf.Future[State[Any]]:
        """Run an async task run's lifecycle once ``upstream`` futures are done."""
        future: cf.Future[State[Any]] = cf.Future()

        def start() -> None:
            inner = context.run(lambda: submit_to_portal(call()))
            _chain(inner, future)

        _after(upstream, start)
        return future

    #: True when ``invoke`` is overridden (the engine then routes calls through it)
    routes_calls = False

    def invoke(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call a task's function. The orchestration (states, retries, caching) always
        stays in this process; a runner like Dask overrides this to run the function
        itself elsewhere."""
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SequentialTaskRunner(TaskRunner):
    """Runs submitted tasks one after another, in the flow's thread (the default)."""

    name = "sequential"


_worker_of = threading.local()


class ConcurrentTaskRunner(TaskRunner):
    """Runs submitted sync tasks on a thread pool, async tasks on an event loop.

    A task that itself submits tasks runs them inline, in its own worker thread: a
    worker waiting on work queued behind it in the same pool could deadlock it.

    Args:
        max_workers: threads for sync tasks (default ``min(32, cpu_count + 4)``).
    """

    name = "concurrent"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None:
            if not isinstance(max_workers, int) or isinstance(max_workers, bool):
                raise TypeError(
                    f"max_workers must be an int, got {type(max_workers).__name__} {max_workers!r}"
                )
            if max_workers < 1:
                raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: cf.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def duplicate(self) -> ConcurrentTaskRunner:
        return ConcurrentTaskRunner(self.max_workers)

    def _executor(self) -> cf.ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = cf.ThreadPoolExecutor(
                        self.max_workers,
                        thread_name_prefix="tideflow-task",
                        initializer=self._mark_worker,
                    )
        return self._pool

    def _mark_worker(self) -> None:
        _worker_of.runner = self

    def submit(
        self, call: RunCall, upstream: Sequence[TideflowFuture[Any]], context: Context
    ) -> cf.Future[State[Any]]:
        if getattr(_worker_of, "runner", None) is self:
            return super().submit(call, upstream, context)  # nested: run inline
        pool = self._executor()
        if not upstream or all(f.done() for f in upstream):
            # Common case: nothing to wait for, so the pool's own future is ours.
            return pool.submit(context.run, call)
        future: cf.Future[State[Any]] = cf.Future()
        _after(upstream, lambda: pool.submit(_run_into, future, context, call))
        return future

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def abandon(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"ConcurrentTaskRunner(max_workers={self.max_workers})"


def _run_into(future: cf.Future[State[Any]], context: Context, call: RunCall) -> None:
    try:
        future.set_result(context.run(call))
    except BaseException as exc:
        future.set_exception(exc)


def _chain(source: cf.Future[Any], target: cf.Future[Any]) -> None:
    def copy(f: cf.Future[Any]) -> None:
        if f.cancelled():
            target.cancel()
        elif (exc := f.exception()) is not None:
            target.set_exception(exc)
        else:
            target.set_result(f.result())

    source.add_done_callback(copy)


def _after(upstream: Sequence[TideflowFuture[Any]], start: Callable[[], Any]) -> None:
    """Call ``start()`` once every future in ``upstream`` is done (now if none pending)."""
    pending = [f for f in upstream if not f.done()]
    if not pending:
        start()
        return
    remaining = [len(pending)]
    lock = threading.Lock()

    def one_done(_f: Any) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            start()

    for f in pending:
        f.add_done_callback(one_done)


def __getattr__(name: str) -> Any:
    # DaskTaskRunner needs the optional `distributed` package; import it only on use.
    if name == "DaskTaskRunner":
        from tideflow._dask import DaskTaskRunner

        return DaskTaskRunner
    raise AttributeError(f"module 'tideflow.task_runners' has no attribute {name!r}")


# DaskTaskRunner is provided lazily by __getattr__ above.
__all__ = ["ConcurrentTaskRunner", "DaskTaskRunner", "SequentialTaskRunner", "TaskRunner"]  # noqa: F822
