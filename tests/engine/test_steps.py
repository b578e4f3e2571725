"""One lifecycle, two drivers: ``drive_sync``/``drive_async`` and timed calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Generator
from contextvars import ContextVar
from typing import Any

import pytest

from tideflow import flow, get_run_logger, task
from tideflow.client import get_client
from tideflow.engine.steps import (
    Call,
    Sleep,
    drive_async,
    drive_sync,
    in_async_context,
    run_coroutine_blocking,
)
from tideflow.exceptions import TaskTimeoutError
from tideflow.schemas.filters import LogFilter, TaskRunFilter

marker: ContextVar[str] = ContextVar("marker", default="unset")


def lifecycle(fn: Any, timeout: float | None = None) -> Generator[Any, Any, list[Any]]:
    """Calls ``fn`` twice (the second time after a short sleep); records outcomes."""
    seen: list[Any] = []
    for attempt in range(2):
        try:
            seen.append((yield Call(fn, (attempt,), {}, timeout, "probe")))
        except Exception as exc:
            seen.append(type(exc).__name__)
        if attempt == 0:
            yield Sleep(0.001)
    return seen


def sync_fn(attempt: int) -> str:
    if attempt == 0:
        raise KeyError("first")
    return f"sync:{marker.get()}"


async def async_fn(attempt: int) -> str:
    await asyncio.sleep(0)
    if attempt == 0:
        raise KeyError("first")
    return f"async:{marker.get()}"


@pytest.mark.parametrize("timeout", [None, 5.0])
@pytest.mark.parametrize("fn", [sync_fn, async_fn])
def test_both_drivers_run_the_same_lifecycle(fn: Any, timeout: float | None) -> None:
    kind = "sync" if fn is sync_fn else "async"
    token = marker.set("outer")
    try:
        assert drive_sync(lifecycle(fn, timeout)) == ["KeyError", f"{kind}:outer"]
        assert asyncio.run(drive_async(lifecycle(fn, timeout))) == ["KeyError", f"{kind}:outer"]
    finally:
        marker.reset(token)


def test_sync_call_with_timeout_inside_async_driver_keeps_context() -> None:
    async def main() -> list[Any]:
        marker.set("in-loop")
        return await drive_async(lifecycle(sync_fn, timeout=5.0))

    assert asyncio.run(main()) == ["KeyError", "sync:in-loop"]


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_timeout_raises_task_timeout_error_into_the_lifecycle(driver: str) -> None:
    def spin(attempt: int) -> None:
        while True:
            pass

    async def nap(attempt: int) -> None:
        await asyncio.sleep(30)

    for fn in (spin, nap):
        gen = lifecycle(fn, timeout=0.05)
        started = time.monotonic()
        seen = drive_sync(gen) if driver == "sync" else asyncio.run(drive_async(gen))
        assert seen == ["TaskTimeoutError", "TaskTimeoutError"]
        assert time.monotonic() - started < 5
    assert issubclass(TaskTimeoutError, TimeoutError)


def test_run_coroutine_blocking_from_main_and_other_threads() -> None:
    async def value() -> str:
        await asyncio.sleep(0)
        return marker.get()

    token = marker.set("main")
    try:
        assert run_coroutine_blocking(value()) == "main"
        results: list[str] = []

        def other() -> None:
            marker.set("thread")
            results.append(run_coroutine_blocking(value()))

        worker = threading.Thread(target=other)
        worker.start()
        worker.join(10)
        assert results == ["thread"]  # ran on the portal loop, in the caller's context
    finally:
        marker.reset(token)
    assert in_async_context() is False
    assert asyncio.run(_in_loop()) is True


async def _in_loop() -> bool:
    return in_async_context()


def test_run_context_follows_timed_out_async_task_in_a_sync_flow() -> None:
    @task(timeout_seconds=5)
    async def logs_with_timeout() -> str:
        await asyncio.sleep(0)
        get_run_logger().info("inside the timed async task")
        return "ok"

    @task(timeout_seconds=5)
    def sync_logs_with_timeout() -> str:
        get_run_logger().info("inside the timed sync task")
        return "ok"

    @flow
    def f() -> list[str]:
        return [logs_with_timeout(), sync_logs_with_timeout()]

    @flow
    async def af() -> list[str]:
        return [await logs_with_timeout(), sync_logs_with_timeout()]

    assert f() == ["ok", "ok"]
    assert asyncio.run(af()) == ["ok", "ok"]
    runs = {r.id: r for r in get_client().read_task_runs(TaskRunFilter())}
    lines = [
        line
        for line in get_client().read_logs(LogFilter())
        if line.message.startswith("inside the timed")
    ]
    assert len(lines) == 4
    assert all(line.task_run_id in runs for line in lines)
