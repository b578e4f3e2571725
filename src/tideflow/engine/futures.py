"""Futures returned by ``Task.submit``/``Task.map``, and the annotations that change how
inputs are passed (``unmapped``, ``allow_failure``, ``quote``)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tideflow.states import Pending, State

if TYPE_CHECKING:
    from tideflow.engine.recorder import TaskRunInfo

R = TypeVar("R")
T = TypeVar("T")


class TideflowFuture(Generic[R]):
    """The eventual outcome of a submitted task run.

    ``result()`` waits and returns the value (raising the task's exception if it failed);
    ``wait()`` waits and returns the final ``State``; ``state`` is the current state
    without waiting.
    """

    __slots__ = ("_future", "info", "observed", "task_name")

    def __init__(self, info: TaskRunInfo, task_name: str, future: cf.Future[State[R]]) -> None:
        self.info = info
        self.task_name = task_name
        self._future = future
        #: set once somebody looked at the outcome (so its failure is not "unseen")
        self.observed = False

    @property
    def task_run_id(self) -> str:
        """The id of the task run this future belongs to."""
        return self.info.id

    @property
    def state(self) -> State[R]:
        """The current state: final once done, else the run's latest recorded state."""
        self.observed = True
        if self._future.done():
            return self._future.result()
        history = self.info.history
        return history[-1] if history else Pending()

    def outcome(self) -> State[R] | None:
        """The final state if done, else None (does not count as looking at it)."""
        if not self._future.done() or self._future.exception() is not None:
            return None
        return self._future.result()

    def done(self) -> bool:
        """Whether the task run reached a final state."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> State[R]:
        """Wait for the final state (or the current one after ``timeout`` seconds)."""
        self.observed = True
        try:
            return self._future.result(timeout)
        except cf.TimeoutError:
            return self.state

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """Wait and return the task's return value.

        Raises:
            TimeoutError: when ``timeout`` passes first.
            The task's own exception, if it failed and ``raise_on_failure``.
        """
        self.observed = True
        try:
            state = self._future.result(timeout)
        except cf.TimeoutError:
            raise TimeoutError(
                f"Task run {self.task_name!r} did not finish within {timeout} seconds"
            ) from None
        return state.result(raise_on_failure=raise_on_failure)

    def add_done_callback(self, fn: Callable[[TideflowFuture[R]], None]) -> None:
        """Call ``fn(self)`` once the task run is final."""
        self._future.add_done_callback(lambda _f: fn(self))

    def __await__(self) -> Generator[Any, None, TideflowFuture[R]]:
        """``await task.submit(...)`` (Prefect 2's async-flow syntax) gives the future
        itself, at once: awaiting submission, not completion, so runs stay concurrent."""
        return self
        yield  # pragma: no cover - makes this a generator

    def __repr__(self) -> str:
        status = "done" if self._future.done() else "pending"
        return f"TideflowFuture({self.task_name!r}, {status})"


class unmapped(Generic[T]):
    """Pass an argument whole to every run of ``Task.map`` instead of iterating it."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __getitem__(self, _index: int) -> T:
        return self.value


class allow_failure(Generic[T]):
    """Let a downstream task run even if this upstream future failed; it receives the
    upstream's exception as the value."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


class quote(Generic[T]):
    """Pass a value as is: tideflow will not look inside it for futures (faster for big
    collections)."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


__all__ = ["TideflowFuture", "allow_failure", "quote", "unmapped"]
