"""One lifecycle, two drivers.

The task and flow lifecycles are written once, as generators that *yield* the steps
that differ between sync and async code (call the user's function, sleep) and receive
the outcome back. ``drive_sync`` and ``drive_async`` run such a generator; neither
holds any orchestration logic, so the sync and async paths cannot drift apart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import ctypes
import inspect
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from contextvars import copy_context
from typing import Any, TypeVar

from tideflow.exceptions import TaskTimeoutError

T = TypeVar("T")


class Call:
    """Step: call ``fn(*args, **kwargs)``; awaited if it returns a coroutine."""

    __slots__ = ("args", "fn", "kwargs", "label", "timeout")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        label: str,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout
        self.label = label


class Sleep:
    """Step: wait ``seconds``."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


Lifecycle = Generator[Call | Sleep, Any, T]


def drive_sync(gen: Lifecycle[T]) -> T:
    """Run a lifecycle generator in this thread."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = gen.throw(error) if error is not None else gen.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        if type(step) is Call:
            try:
                send = _call_sync(step)
            except BaseException as exc:
                error = exc
        else:
            time.sleep(step.seconds)  # type: ignore[union-attr]


async def drive_async(gen: Lifecycle[T]) -> T:
    """Run a lifecycle generator on the running event loop."""
    send: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = gen.throw(error) if error is not None else gen.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        if type(step) is Call:
            try:
                send = await _call_async(step)
            except BaseException as exc:
                error = exc
        else:
            await asyncio.sleep(step.seconds)  # type: ignore[union-attr]


def _call_sync(step: Call) -> Any:
    if step.timeout is None:
        result = step.fn(*step.args, **step.kwargs)
        if inspect.iscoroutine(result):
            return run_coroutine_blocking(result)
        return result
    return _call_with_timeout(step)


async def _call_async(step: Call) -> Any:
    result = step.fn(*step.args, **step.kwargs) if step.timeout is None else None
    if step.timeout is None:
        if inspect.isawaitable(result):
            return await result
        return result
    if inspect.iscoroutinefunction(step.fn):
        try:
            return await asyncio.wait_for(step.fn(*step.args, **step.kwargs), step.timeout)
        except TimeoutError:
            raise _timeout_error(step) from None
    # A sync function with a timeout inside an async run: run it in a worker thread
    # so the event loop stays responsive, then apply the same thread timeout.
    # run_in_executor does not carry contextvars over to the worker thread by itself.
    return await asyncio.get_running_loop().run_in_executor(
        None, copy_context().run, _call_with_timeout, step
    )


def _timeout_error(step: Call) -> TaskTimeoutError:
    return TaskTimeoutError(f"{step.label} exceeded its timeout of {step.timeout} seconds")


def _call_with_timeout(step: Call) -> Any:
    """Run a sync call in a helper thread and stop waiting after ``step.timeout``.

    Python cannot kill a thread. On timeout we raise ``TaskTimeoutError`` in the caller
    at once, and also ask the interpreter to raise it inside the helper thread
    (``PyThreadState_SetAsyncExc``), which interrupts pure-Python code at its next
    bytecode; code blocked inside a C call (e.g. ``time.sleep``, a socket read) stops
    only when that call returns. The helper is a daemon thread, so it never blocks exit.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()
    ctx = copy_context()

    def target() -> None:
        try:
            result = step.fn(*step.args, **step.kwargs)
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            outcome["value"] = result
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    # All of target() runs in the caller's context, including the event loop that
    # asyncio.run starts for an async function (its task copies the current context):
    # run contexts and loggers must follow the call into the helper thread.
    thread = threading.Thread(
        target=ctx.run, args=(target,), name=f"tideflow-timeout-{step.label}", daemon=True
    )
    thread.start()
    if not done.wait(step.timeout):
        if thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeoutError)
            )
        raise _timeout_error(step)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --------------------------------------------------------------------- async portal
_portal_loop: asyncio.AbstractEventLoop | None = None
_portal_lock = threading.Lock()


def portal_loop() -> asyncio.AbstractEventLoop:
    """A process-wide event loop on a daemon thread, for running coroutines from sync
    code (async tasks in sync flows, async tasks submitted to a task runner)."""
    global _portal_loop
    if _portal_loop is None:
        with _portal_lock:
            if _portal_loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    ready.set()
                    loop.run_forever()

                threading.Thread(target=run, name="tideflow-async-portal", daemon=True).start()
                ready.wait()
                _portal_loop = loop
    return _portal_loop


def submit_to_portal(coro: Coroutine[Any, Any, T]) -> cf.Future[T]:
    """Start ``coro`` on the portal loop, in a copy of the caller's context (so run
    contexts and loggers follow it), and return a thread-safe future."""
    ctx = copy_context()
    future: cf.Future[T] = cf.Future()
    loop = portal_loop()

    def start() -> None:
        task = loop.create_task(coro, context=ctx)

        def done(t: asyncio.Task[T]) -> None:
            if t.cancelled():
                future.cancel()
            elif (exc := t.exception()) is not None:
                future.set_exception(exc)
            else:
                future.set_result(t.result())

        task.add_done_callback(done)

    loop.call_soon_threadsafe(start)
    return future


def run_coroutine_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code and return its result."""
    if threading.current_thread() is threading.main_thread() and not in_async_context():
        return asyncio.run(coro)
    return submit_to_portal(coro).result()


def in_async_context() -> bool:
    """Whether an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
