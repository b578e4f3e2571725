"""Task runners: sequential by default, real thread concurrency, many async tasks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from contextvars import Context
from typing import Any

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.engine.futures import TideflowFuture
from tideflow.schemas.filters import TaskRunFilter
from tideflow.states import State
from tideflow.task_runners import ConcurrentTaskRunner, SequentialTaskRunner, TaskRunner


class ConcurrencyMeter:
    """Counts how many calls are inside ``running()`` at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *_: Any) -> None:
        with self.lock:
            self.now -= 1


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()  # type: ignore[no-any-return]


def test_concurrent_runner_runs_sync_tasks_in_parallel() -> None:
    parties = 4
    barrier = threading.Barrier(parties, timeout=10)

    @task
    def meet(i: int) -> int:
        # Returns only once all four runs are inside the task at the same time.
        barrier.wait()
        return i

    @flow(task_runner=ConcurrentTaskRunner(max_workers=parties))
    def together() -> list[int]:
        return [f.result() for f in meet.map(range(parties))]

    assert together() == [0, 1, 2, 3]
    runs = get_client().read_task_runs(TaskRunFilter(name_like="meet"))
    assert [r.state_name for r in runs] == ["Completed"] * parties


def test_sequential_runner_runs_one_task_at_a_time() -> None:
    meter = ConcurrencyMeter()
    order: list[int] = []

    @task
    def step(i: int) -> int:
        with meter:
            time.sleep(0.005)
            order.append(i)
        return i

    @flow(task_runner=SequentialTaskRunner())
    def in_order() -> list[int]:
        return [f.result() for f in step.map(range(6))]

    assert in_order() == list(range(6))
    assert meter.peak == 1 and order == list(range(6))


def test_sequential_runner_cannot_meet_at_a_barrier() -> None:
    barrier = threading.Barrier(2, timeout=0.2)

    @task
    def meet() -> None:
        barrier.wait()

    @flow  # the default runner is sequential
    def alone() -> list[str]:
        return [f.wait().name for f in [meet.submit(), meet.submit()]]

    assert alone() == ["Failed", "Failed"]


def test_max_workers_bounds_concurrency() -> None:
    meter = ConcurrencyMeter()
    two_inside = threading.Event()

    @task
    def work(i: int) -> int:
        with meter:
            if meter.now >= 2:
                two_inside.set()
            two_inside.wait(5)
        return i

    @flow(task_runner=ConcurrentTaskRunner(max_workers=2))
    def bounded() -> list[int]:
        return [f.result() for f in work.map(range(8))]

    assert bounded() == list(range(8))
    assert meter.peak == 2


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), ("4", TypeError), (2.5, TypeError), (True, TypeError)],
)
def test_max_workers_validation(value: Any, error: type) -> None:
    with pytest.raises(error, match="max_workers"):
        ConcurrentTaskRunner(max_workers=value)


def test_max_workers_default_and_repr() -> None:
    runner = ConcurrentTaskRunner()
    assert 1 <= runner.max_workers <= 32
    assert repr(ConcurrentTaskRunner(3)) == "ConcurrentTaskRunner(max_workers=3)"
    assert ConcurrentTaskRunner(max_workers=5).duplicate().max_workers == 5
    assert isinstance(SequentialTaskRunner().duplicate(), SequentialTaskRunner)


def test_dependent_chain_does_not_deadlock_a_single_worker() -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    def chain() -> int:
        fut = inc.submit(0)
        for _ in range(49):
            fut = inc.submit(fut)
        return fut.result()

    assert chain() == 50


def test_fan_in_waits_for_all_upstreams() -> None:
    @task
    def part(i: int) -> int:
        time.sleep(0.01 * (i % 3))
        return i

    @task
    def total(parts: list[int]) -> int:
        return sum(parts)

    @flow(task_runner=ConcurrentTaskRunner(max_workers=4))
    def fan_in() -> int:
        return total.submit(part.map(range(20))).result()

    assert fan_in() == sum(range(20))


def test_pool_threads_are_released_after_the_flow() -> None:
    @task
    def t(i: int) -> int:
        return i

    @flow(task_runner=ConcurrentTaskRunner(max_workers=6))
    def f() -> None:
        for fut in t.map(range(12)):
            fut.wait()

    f()
    assert wait_until(
        lambda: not [th for th in threading.enumerate() if th.name.startswith("tideflow-task")]
    )


@pytest.mark.parametrize("runner", [SequentialTaskRunner, ConcurrentTaskRunner])
def test_200_async_tasks_run_at_once_in_an_async_flow(runner: type[TaskRunner]) -> None:
    @task
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)
        return i

    @flow(task_runner=runner)
    async def many() -> int:
        futures = [nap.submit(i) for i in range(200)]
        return sum(f.result() for f in futures)

    started = time.monotonic()
    assert asyncio.run(many()) == sum(range(200))
    # Sequentially this would take 200 * 0.2 = 40 s; a loose bound, not a timing test.
    assert time.monotonic() - started < 20
    runs = get_client().read_task_runs(TaskRunFilter(name_like="nap"))
    assert len(runs) == 200 and {r.state_name for r in runs} == {"Completed"}


def test_200_async_tasks_submitted_from_a_sync_flow() -> None:
    @task
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)
        return i

    @flow
    def many() -> int:
        return sum(f.result() for f in nap.map(range(200)))

    started = time.monotonic()
    assert many() == sum(range(200))
    assert time.monotonic() - started < 20


def test_async_tasks_gathered_directly() -> None:
    @task
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)
        return i

    @flow
    async def gathered() -> list[int]:
        return list(await asyncio.gather(*(nap(i) for i in range(100))))

    started = time.monotonic()
    assert asyncio.run(gathered()) == list(range(100))
    assert time.monotonic() - started < 10


def test_mixed_sync_and_async_tasks_on_the_concurrent_runner() -> None:
    barrier = threading.Barrier(2, timeout=10)

    @task
    def sync_meet() -> str:
        barrier.wait()
        return "sync"

    @task
    async def async_meet() -> str:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
        return "async"

    # sync_meet.submit().result() blocks until the barrier releases it, which needs the
    # async task to be running at the same time: submit both before waiting.
    @flow(task_runner=ConcurrentTaskRunner(2))
    def mixed_ok() -> list[str]:
        a, b = sync_meet.submit(), async_meet.submit()
        return [a.result(), b.result()]

    assert mixed_ok() == ["sync", "async"]


class CountingRunner(TaskRunner):
    """A custom runner built on the small interface: counts what it is given."""

    instances: list[CountingRunner] = []

    def __init__(self) -> None:
        self.started = False
        self.stopped = False
        self.submitted = 0
        CountingRunner.instances.append(self)

    def start(self) -> None:
        self.started = True

    def shutdown(self) -> None:
        self.stopped = True

    def submit(self, call: Any, upstream: Sequence[TideflowFuture[Any]], context: Context) -> Any:
        self.submitted += 1
        return super().submit(call, upstream, context)


def test_custom_runner_plugs_into_the_engine() -> None:
    CountingRunner.instances.clear()

    @task
    def t(i: int) -> int:
        return i * 2

    @flow(task_runner=CountingRunner())
    def f() -> list[int]:
        return [fut.result() for fut in t.map(range(3))]

    assert f() == [0, 2, 4]
    used = CountingRunner.instances[-1]  # the per-run duplicate
    assert used.started and used.stopped and used.submitted == 3


def test_submitted_states_resolve_in_flow_end() -> None:
    """Futures nobody waits for are still finished before the flow run ends."""
    done: list[int] = []

    @task
    def slowish(i: int) -> None:
        time.sleep(0.02)
        done.append(i)

    @flow(task_runner=ConcurrentTaskRunner(4))
    def fire() -> str:
        for i in range(8):
            slowish.submit(i)
        return "returned"

    assert fire() == "returned"
    assert sorted(done) == list(range(8))
    runs = get_client().read_task_runs(TaskRunFilter(name_like="slowish"))
    assert sorted(r.state_name for r in runs) == ["Completed"] * 8


def test_future_states_from_the_runner_are_states() -> None:
    @task
    def t() -> int:
        return 1

    @flow(task_runner=ConcurrentTaskRunner(2))
    def f() -> Any:
        return {"state": t.submit().wait()}

    state = f()["state"]
    assert isinstance(state, State) and state.result() == 1


def test_tasks_submitting_tasks_do_not_deadlock_a_full_pool() -> None:
    @task
    def leaf(x: int) -> int:
        return x + 1

    @task
    def branch(x: int) -> int:
        # Waits on work it submitted itself, while every worker is busy with a branch.
        return sum(f.result() for f in leaf.map([x, x]))

    @flow(task_runner=ConcurrentTaskRunner(max_workers=1))
    def one_worker() -> int:
        return branch.submit(1).result()

    @flow(task_runner=ConcurrentTaskRunner(max_workers=2))
    def saturated() -> list[int]:
        return [f.result() for f in branch.map(range(6))]

    assert one_worker() == 4
    assert saturated() == [2 * x + 2 for x in range(6)]
    runs = get_client().read_task_runs(TaskRunFilter(name_like="leaf"))
    assert len(runs) == 2 + 12 and {r.state_name for r in runs} == {"Completed"}
