"""``@task``: definition, retries, timeouts, calling (call/submit/map), inputs, hooks."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from tideflow import Task, allow_failure, flow, quote, tags, task, unmapped
from tideflow.client import get_client
from tideflow.engine.futures import TideflowFuture
from tideflow.engine.task_engine import retry_delay
from tideflow.exceptions import MappingError, SignatureMismatchError, TaskTimeoutError
from tideflow.schemas.filters import FlowRunFilter, TaskRunFilter
from tideflow.states import State, StateType
from tideflow.task_runners import ConcurrentTaskRunner
from tideflow.tasks import exponential_backoff


def in_flow(fn: Any, **flow_options: Any) -> Any:
    """Run ``fn()`` as the body of a fresh flow and return what it returns (wrapped so
    the flow's own final-state rules do not interfere)."""

    @flow(name="harness", **flow_options)
    def harness() -> dict[str, Any]:
        return {"value": fn()}

    return harness()["value"]


def the_task_run(name: str) -> Any:
    (run,) = get_client().read_task_runs(TaskRunFilter(name_like=name))
    return run


def history(task_run_id: str) -> list[State[Any]]:
    return [s.to_state() for s in get_client().read_task_run_states(task_run_id)]


def names(task_run_id: str) -> list[str]:
    return [s.name for s in history(task_run_id)]


# ---------------------------------------------------------------------- definition
def test_bare_decorator_and_attributes() -> None:
    @task
    def add_numbers(x: int, y: int = 1) -> int:
        """Adds."""
        return x + y

    assert isinstance(add_numbers, Task)
    assert add_numbers.name == "add_numbers"  # tasks keep the function name as is
    assert add_numbers.description == "Adds."
    assert add_numbers.fn(1, 2) == 3
    assert get_client().read_task_runs(TaskRunFilter()) == []  # .fn records nothing
    assert inspect.signature(add_numbers) == inspect.signature(add_numbers.fn)
    assert add_numbers.__name__ == "add_numbers" and add_numbers.__doc__ == "Adds."


def test_decorator_with_arguments() -> None:
    @task(
        name="extract_data",
        description="Extract data from a given URL",
        tags=["io", "etl"],
        version="2",
        retries=3,
        retry_delay_seconds=30,
        timeout_seconds=10,
        log_prints=True,
    )
    def extract(url: str) -> str:
        return url

    assert extract.name == "extract_data"
    assert extract.description == "Extract data from a given URL"
    assert extract.tags == frozenset({"io", "etl"})
    assert (extract.version, extract.retries, extract.retry_delay_seconds) == ("2", 3, 30)
    assert extract.timeout_seconds == 10 and extract.log_prints is True
    assert in_flow(lambda: extract("u")) == "u"
    run = the_task_run("extract_data")
    assert sorted(run.tags) == ["etl", "io"] and run.task_version == "2"


def test_with_options() -> None:
    @task(retries=1, name="base")
    def t() -> str:
        return "x"

    t2 = t.with_options(retries=5, name="t2", tags={"a"})
    assert (t2.retries, t2.name, t2.tags) == (5, "t2", frozenset({"a"}))
    assert (t.retries, t.name, t.tags) == (1, "base", frozenset())
    assert t2.fn is t.fn
    assert inspect.signature(t2) == inspect.signature(t.fn)
    with pytest.raises(TypeError, match="retry_delay"):
        t.with_options(retry_delay=3)
    with pytest.raises(ValueError, match="retries"):
        t.with_options(retries=-2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": 1.5}, ValueError, "retries"),
        ({"retry_jitter_factor": -0.1}, ValueError, "retry_jitter_factor"),
        ({"timeout_seconds": 0}, ValueError, "timeout_seconds"),
        ({"timeout_seconds": -3}, ValueError, "timeout_seconds"),
        ({"cache_expiration": 3600}, TypeError, "cache_expiration"),
        ({"retry_delay_seconds": -1}, ValueError, "retry_delay_seconds"),
        ({"retry_delay_seconds": [1, -1]}, ValueError, "retry_delay_seconds"),
        ({"bogus": 1}, TypeError, "bogus"),
    ],
)
def test_bad_decorator_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):

        @task(**kwargs)
        def t() -> None: ...


def test_task_of_non_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="function"):
        task("nope")  # type: ignore[call-overload]


def test_task_run_name_template() -> None:
    @task(task_run_name="fetch-{city}")
    def fetch(city: str) -> str:
        return city

    @task(task_run_name="bad-{nope}")
    def bad(city: str) -> str:
        return city

    in_flow(lambda: fetch("paris"))
    assert the_task_run("fetch-paris").name == "fetch-paris"
    with pytest.raises(ValueError, match="nope"):
        in_flow(lambda: bad("x"))


def test_wrong_arguments_raise_signature_mismatch() -> None:
    @task
    def t(a: int) -> int:
        return a

    with pytest.raises(SignatureMismatchError, match="'t'"):
        in_flow(lambda: t(1, 2))
    with pytest.raises(TypeError):
        in_flow(lambda: t(b=2))


def test_exponential_backoff() -> None:
    assert exponential_backoff(10)(3) == [10, 20, 40]
    assert exponential_backoff(backoff_factor=0.5)(4) == [0.5, 1, 2, 4]
    assert exponential_backoff(1)(0) == []
    with pytest.raises(ValueError, match="backoff_factor"):
        exponential_backoff(-1)


# ---------------------------------------------------------------------- retries
def test_retries_count_and_state_history() -> None:
    attempts: list[int] = []

    @task(retries=2)
    def always_fails() -> None:
        attempts.append(1)
        raise ValueError(f"failure {len(attempts)}")

    state = in_flow(lambda: always_fails(return_state=True))
    assert len(attempts) == 3
    assert state.is_failed() and "failure 3" in state.message
    run = the_task_run("always_fails")
    assert run.run_count == 3 and run.state_name == "Failed"
    assert names(run.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    steps = history(run.id)
    assert "failure 1" in (steps[2].message or "")
    assert steps[2].type is StateType.SCHEDULED and steps[3].type is StateType.RUNNING
    stamps = [s.timestamp for s in steps]
    assert stamps == sorted(stamps)


def test_retry_then_succeed() -> None:
    attempts: list[int] = []

    @task(retries=3)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("transient")
        return "ok"

    assert in_flow(flaky) == "ok"
    run = the_task_run("flaky")
    assert run.state_name == "Completed" and run.run_count == 3


def _waits(task_run_id: str) -> list[float]:
    """Seconds between each AwaitingRetry and the time it scheduled the retry for."""
    steps = history(task_run_id)
    out = []
    for s in steps:
        if s.name == "AwaitingRetry":
            assert s.scheduled_time is not None
            out.append((s.scheduled_time - s.timestamp).total_seconds())
    return out


def _failing(name: str, **options: Any) -> Task[..., Any]:
    def fails() -> None:
        raise RuntimeError("no")

    return task(name=name, **options)(fails)


def test_retry_delay_number() -> None:
    t = _failing("fixed", retries=2, retry_delay_seconds=0.05)
    started = time.monotonic()
    in_flow(lambda: t(return_state=True))
    assert time.monotonic() - started >= 0.1  # two delays were actually waited
    waits = _waits(the_task_run("fixed").id)
    assert len(waits) == 2 and all(0.04 <= w <= 0.06 for w in waits)


def test_retry_delay_list_repeats_its_last_entry() -> None:
    t = _failing("listed", retries=3, retry_delay_seconds=[0.01, 0.03])
    in_flow(lambda: t(return_state=True))
    waits = _waits(the_task_run("listed").id)
    assert [round(w, 2) for w in waits] == [0.01, 0.03, 0.03]


def test_retry_delay_exponential_backoff() -> None:
    t = _failing("backoff", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=0.01))
    in_flow(lambda: t(return_state=True))
    waits = _waits(the_task_run("backoff").id)
    assert [round(w, 3) for w in waits] == [0.01, 0.02, 0.04]


def test_retry_jitter_factor() -> None:
    t = _failing("jitter", retries=1, retry_delay_seconds=10, retry_jitter_factor=0.5)
    delays = [retry_delay(t, 1) for _ in range(300)]
    assert all(10 <= d <= 15 for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # actually random
    plain = _failing("plain", retries=1, retry_delay_seconds=10)
    assert {retry_delay(plain, 1) for _ in range(20)} == {10.0}

    tiny = _failing("tiny-jitter", retries=2, retry_delay_seconds=0.01, retry_jitter_factor=1.0)
    in_flow(lambda: tiny(return_state=True))
    waits = _waits(the_task_run("tiny-jitter").id)
    assert len(waits) == 2 and all(0.009 <= w <= 0.021 for w in waits)


def test_retry_condition_fn() -> None:
    attempts: dict[str, int] = {"value": 0, "type": 0}
    seen: list[tuple[str, str]] = []

    def only_connection_errors(t: Task[..., Any], run: Any, state: State[Any]) -> bool:
        seen.append((t.name, state.name))
        return isinstance(state.data, ConnectionError)

    @task(retries=3, retry_condition_fn=only_connection_errors)
    def value_error() -> None:
        attempts["value"] += 1
        raise ValueError("permanent")

    @task(retries=2, retry_condition_fn=only_connection_errors)
    def conn_error() -> None:
        attempts["type"] += 1
        raise ConnectionError("transient")

    assert in_flow(lambda: value_error(return_state=True)).is_failed()
    assert in_flow(lambda: conn_error(return_state=True)).is_failed()
    assert attempts == {"value": 1, "type": 3}
    assert ("value_error", "Failed") in seen
    assert "AwaitingRetry" not in names(the_task_run("value_error").id)


def test_raising_retry_condition_fn_means_no_retry() -> None:
    attempts: list[int] = []

    def broken(*_: Any) -> bool:
        raise RuntimeError("condition broke")

    @task(retries=3, retry_condition_fn=broken)
    def t() -> None:
        attempts.append(1)
        raise ValueError("x")

    assert in_flow(lambda: t(return_state=True)).is_failed()
    assert attempts == [1]


def test_async_task_retries() -> None:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=0.01)
    async def flaky() -> str:
        attempts.append(1)
        await asyncio.sleep(0)
        if len(attempts) < 2:
            raise ValueError("once")
        return "ok"

    @flow
    async def f() -> str:
        return await flaky()

    assert asyncio.run(f()) == "ok"
    assert len(attempts) == 2


# ---------------------------------------------------------------------- timeouts
def test_sync_busy_loop_is_interrupted_by_timeout() -> None:
    exited = threading.Event()
    iterations = [0]

    @task(timeout_seconds=0.2)
    def spins() -> None:
        try:
            while True:
                iterations[0] += 1
        finally:
            exited.set()

    started = time.monotonic()
    state = in_flow(lambda: spins(return_state=True))
    assert time.monotonic() - started < 5
    assert state.name == "TimedOut" and state.type is StateType.FAILED
    assert state.is_failed()
    assert "0.2" in state.message
    with pytest.raises(TaskTimeoutError) as info:
        state.result()
    assert isinstance(info.value, TimeoutError)
    # The loop itself was stopped, not just abandoned.
    assert exited.wait(5)
    count = iterations[0]
    assert iterations[0] == count
    run = the_task_run("spins")
    assert run.state_name == "TimedOut" and run.state_type is StateType.FAILED


def test_sleeping_task_times_out_at_once_but_its_thread_stops_after_the_sleep() -> None:
    """Documented behaviour: Python cannot interrupt a blocking C call such as
    ``time.sleep``. The run ends TimedOut on time; the task's thread finishes its
    current sleep and is then stopped before running any more of the task's code."""
    exited = threading.Event()
    after_sleep = []

    @task(timeout_seconds=0.1)
    def sleeps() -> None:
        try:
            time.sleep(0.6)
            after_sleep.append("ran")
        finally:
            exited.set()

    started = time.monotonic()
    state = in_flow(lambda: sleeps(return_state=True))
    assert state.name == "TimedOut"
    assert time.monotonic() - started < 0.6 + 0.5  # the flow did not wait for the sleep
    assert exited.wait(5)
    assert after_sleep == []


def test_async_task_timeout() -> None:
    cancelled = threading.Event()

    @task(timeout_seconds=0.1)
    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @flow
    async def f() -> str:
        state = await slow(return_state=True)
        return state.name

    started = time.monotonic()
    assert asyncio.run(f()) == "TimedOut"
    assert time.monotonic() - started < 5
    assert cancelled.is_set()


def test_async_task_timeout_in_sync_flow() -> None:
    @task(timeout_seconds=0.1)
    async def slow() -> None:
        await asyncio.sleep(30)

    assert in_flow(lambda: slow(return_state=True)).name == "TimedOut"
    assert in_flow(lambda: slow.submit().wait()).name == "TimedOut"


def test_timed_out_task_is_retried() -> None:
    attempts: list[int] = []

    @task(timeout_seconds=0.1, retries=1)
    def slow_once() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            while True:
                pass
        return "second try"

    assert in_flow(slow_once) == "second try"
    assert "TimedOut" not in names(the_task_run("slow_once").id)[-1:]


def test_timeout_with_concurrent_runner() -> None:
    @task(timeout_seconds=0.2)
    def spins() -> None:
        while True:
            pass

    @task
    def quick(i: int) -> int:
        return i

    def body() -> list[str]:
        futures = [spins.submit(), *quick.map(range(3))]
        return [f.wait().name for f in futures]

    assert in_flow(body, task_runner=ConcurrentTaskRunner(4)) == [
        "TimedOut",
        "Completed",
        "Completed",
        "Completed",
    ]


# ---------------------------------------------------------------------- calling
def test_call_returns_the_result() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    assert in_flow(lambda: double(21)) == 42
    assert in_flow(lambda: double(x=4)) == 8


def test_submit_returns_a_future() -> None:
    gate = threading.Event()

    @task
    def waits(x: int) -> int:
        assert gate.wait(10)
        return x + 1

    def body() -> tuple[Any, ...]:
        fut = waits.submit(1)
        assert isinstance(fut, TideflowFuture)
        before = (fut.done(), fut.state.type)
        gate.set()
        state = fut.wait()
        return before, state, fut.result(), fut.state, fut.task_run_id

    before, state, result, after, run_id = in_flow(body, task_runner=ConcurrentTaskRunner(2))
    assert before[0] is False and before[1] in (StateType.PENDING, StateType.RUNNING)
    assert state.is_completed() and result == 2 and after.is_completed()
    assert get_client().read_task_run(run_id).state_name == "Completed"


def test_future_result_timeout_and_failure() -> None:
    gate = threading.Event()

    @task
    def blocked() -> None:
        gate.wait(10)

    @task
    def fails() -> None:
        raise KeyError("bad key")

    def body() -> Any:
        fut = blocked.submit()
        with pytest.raises(TimeoutError, match="blocked"):
            fut.result(timeout=0.05)
        gate.set()
        bad = fails.submit()
        with pytest.raises(KeyError, match="bad key"):
            bad.result()
        exc = bad.result(raise_on_failure=False)
        assert isinstance(exc, KeyError)
        return bad.wait().name

    assert in_flow(body, task_runner=ConcurrentTaskRunner(2)) == "Failed"


def test_submit_and_call_with_return_state() -> None:
    @task
    def fails() -> None:
        raise ValueError("x")

    @task
    def ok() -> int:
        return 1

    def body() -> list[State[Any]]:
        return [
            fails(return_state=True),
            ok(return_state=True),
            fails.submit(return_state=True),  # type: ignore[list-item]
        ]

    states = in_flow(body)
    assert [s.name for s in states] == ["Failed", "Completed", "Failed"]
    assert all(isinstance(s, State) for s in states)
    assert states[1].result() == 1


def test_map_with_unmapped() -> None:
    @task
    def scale(x: int, factor: int, names: list[str]) -> int:
        assert names == ["a", "b"]
        return x * factor

    def body() -> list[int]:
        futures = scale.map([1, 2, 3], factor=unmapped(10), names=unmapped(["a", "b"]))
        assert len(futures) == 3 and all(isinstance(f, TideflowFuture) for f in futures)
        return [f.result() for f in futures]

    assert in_flow(body) == [10, 20, 30]
    assert in_flow(body, task_runner=ConcurrentTaskRunner(3)) == [10, 20, 30]


def test_map_over_several_iterables_and_a_future() -> None:
    @task
    def make() -> list[int]:
        return [1, 2, 3]

    @task
    def add(a: int, b: int, c: str) -> str:
        return f"{a + b}{c}"

    def body() -> list[str]:
        return [f.result() for f in add.map(make.submit(), (10, 20, 30), "!")]

    assert in_flow(body) == ["11!", "22!", "33!"]


def test_map_errors() -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(MappingError, match=r"different lengths.*'a': 3.*'b': 2"):
        in_flow(lambda: add.map([1, 2, 3], [1, 2]))
    with pytest.raises(MappingError, match="at least one iterable"):
        in_flow(lambda: add.map(1, unmapped([1])))
    assert isinstance(MappingError("x"), ValueError)
    assert in_flow(lambda: add.map([], [])) == []


def test_map_return_state() -> None:
    @task
    def maybe(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    states = in_flow(lambda: maybe.map([1, 2, 3], return_state=True))
    assert [s.name for s in states] == ["Completed", "Failed", "Completed"]


def test_wait_for_orders_without_passing_data() -> None:
    order: list[str] = []
    release = threading.Event()

    @task
    def first() -> None:
        assert release.wait(10)
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    def body() -> None:
        a = first.submit()
        b = second.submit(wait_for=[a])
        release.set()
        b.wait()

    in_flow(body, task_runner=ConcurrentTaskRunner(4))
    assert order == ["first", "second"]
    run = the_task_run("second")
    assert run.task_inputs["wait_for"][0]["id"] == the_task_run("first").id


def test_wait_for_a_failed_upstream_means_not_ready() -> None:
    ran: list[str] = []

    @task
    def boom() -> None:
        raise ValueError("upstream broke")

    @task
    def downstream() -> None:
        ran.append("downstream")

    def body() -> State[Any]:
        a = boom.submit()
        return downstream.submit(wait_for=[a]).wait()

    state = in_flow(body)
    assert ran == []
    assert state.name == "NotReady" and state.is_failed()
    assert "boom" in state.message


def test_upstream_failure_stops_downstream_and_fails_the_flow() -> None:
    ran: list[str] = []

    @task
    def extract() -> int:
        raise ConnectionError("source down")

    @task
    def transform(x: int) -> int:
        ran.append("transform")
        return x

    @task
    def load(x: int) -> None:
        ran.append("load")

    @flow
    def etl() -> None:
        data = extract.submit()
        cleaned = transform.submit(data)
        load.submit(cleaned)

    state = etl(return_state=True)
    assert ran == []
    assert state.is_failed()
    assert the_task_run("transform").state_name == "NotReady"
    assert the_task_run("load").state_name == "NotReady"
    assert the_task_run("extract").state_name == "Failed"


def test_allow_failure_passes_the_exception_downstream() -> None:
    @task
    def boom() -> int:
        raise ValueError("upstream broke")

    @task
    def cleanup(x: Any, y: int) -> str:
        return f"{type(x).__name__}:{x}:{y}"

    def body() -> str:
        a = boom.submit()
        return cleanup.submit(allow_failure(a), 1).result()

    assert in_flow(body) == "ValueError:upstream broke:1"


def test_futures_nested_in_arguments_are_resolved_and_recorded() -> None:
    @task
    def one() -> int:
        return 1

    @task
    def two() -> int:
        return 2

    @task
    def combine(items: list[Any], mapping: dict[str, Any], raw: Any) -> tuple[Any, ...]:
        return items, mapping, type(raw).__name__

    def body() -> Any:
        a, b = one.submit(), two.submit()
        return combine.submit([a, (b, 3)], {"k": a}, quote([a])).result()

    items, mapping, raw = in_flow(body)
    assert items == [1, (2, 3)] and mapping == {"k": 1}
    assert raw == "list"  # quote() passes its value as is
    run = the_task_run("combine")
    ids = {one_id["id"] for one_id in run.task_inputs["items"]}
    assert ids == {the_task_run("one").id, the_task_run("two").id}
    assert run.task_inputs["mapping"] == [{"input_type": "task_run", "id": the_task_run("one").id}]


def test_direct_call_result_passed_downstream() -> None:
    @task
    def one() -> int:
        return 1

    @task
    def inc(x: int) -> int:
        return x + 1

    assert in_flow(lambda: inc(inc(one()))) == 3


def test_task_outside_a_flow_runs_and_is_recorded() -> None:
    @task
    def standalone(x: int) -> int:
        return x * 3

    @task
    def standalone_fails() -> None:
        raise ValueError("alone")

    assert standalone(2) == 6
    run = the_task_run("standalone-")
    assert run.flow_run_id is None and run.state_name == "Completed"
    assert names(run.id) == ["Pending", "Running", "Completed"]
    with pytest.raises(ValueError, match="alone"):
        standalone_fails()
    assert the_task_run("standalone_fails").state_name == "Failed"
    assert standalone(5, return_state=True).result() == 15
    fut = standalone.submit(7)
    assert fut.result() == 21
    assert get_client().count_flow_runs() == 0
    # A submitted standalone run is written behind; it shows up shortly.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        recorded = get_client().read_task_run(fut.task_run_id) if _exists(fut.task_run_id) else None
        if recorded is not None and recorded.state_name == "Completed":
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the submitted standalone task run was not recorded")
    assert recorded.flow_run_id is None


def _exists(task_run_id: str) -> bool:
    return any(r.id == task_run_id for r in get_client().read_task_runs(TaskRunFilter()))


def test_async_task_outside_a_flow() -> None:
    @task
    async def at(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    # Outside a flow an async task is awaited like the function it wraps.
    coro = at(1)
    assert inspect.iscoroutine(coro)
    assert asyncio.run(coro) == 2

    async def main() -> int:
        return await at(5)

    assert asyncio.run(main()) == 6
    runs = get_client().read_task_runs(TaskRunFilter(name_like="at"))
    assert sorted(r.state_name for r in runs) == ["Completed", "Completed"]


def test_exception_in_task_raises_in_the_flow() -> None:
    @task
    def boom() -> None:
        raise ZeroDivisionError("div")

    @flow
    def f() -> None:
        boom()

    with pytest.raises(ZeroDivisionError, match="div"):
        f()
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["f"]))
    assert run.state_name == "Failed"


def test_tags_context_and_task_tags() -> None:
    @task(tags=["own"])
    def t() -> None: ...

    def body() -> None:
        with tags("ctx"):
            t()

    in_flow(body)
    assert sorted(the_task_run("t").tags) == ["ctx", "own"]
    with pytest.raises(ValueError, match="tags"), tags(""):
        pass


def test_dynamic_keys_count_calls_per_task() -> None:
    @task
    def t(i: int) -> int:
        return i

    in_flow(lambda: [t(i) for i in range(3)])
    runs = get_client().read_task_runs(TaskRunFilter(name_like="t-"))
    assert sorted(r.dynamic_key for r in runs) == ["0", "1", "2"]
    assert len({r.task_key for r in runs}) == 1


def test_task_run_times_are_recorded() -> None:
    @task
    def t() -> None: ...

    in_flow(t)
    run = the_task_run("t")
    assert run.start_time is not None and run.end_time is not None
    assert run.created <= run.start_time <= run.end_time


def test_task_returning_a_state_or_future() -> None:
    from tideflow.states import Completed, Failed

    @task
    def gives_state(ok: bool) -> State[Any]:
        return Completed(data="fine") if ok else Failed(message="explicit failure")

    assert in_flow(lambda: gives_state(True)) == "fine"
    state = in_flow(lambda: gives_state(False, return_state=True))
    assert state.is_failed() and state.message == "explicit failure"


# ---------------------------------------------------------------------- hooks
def test_task_hooks() -> None:
    calls: list[tuple[str, str, str]] = []

    def on_ok(t: Task[..., Any], run: Any, state: State[Any]) -> None:
        calls.append(("completion", t.name, state.name))

    def on_bad(t: Task[..., Any], run: Any, state: State[Any]) -> None:
        calls.append(("failure", run.name, state.name))

    @task(on_completion=[on_ok], on_failure=[on_bad], task_run_name="run-{fail}")
    def maybe(fail: bool) -> None:
        if fail:
            raise RuntimeError("x")

    in_flow(lambda: (maybe(False), maybe(True, return_state=True)))
    assert calls == [("completion", "maybe", "Completed"), ("failure", "run-True", "Failed")]


def test_failing_task_hook_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    after: list[str] = []

    def bad(*_: Any) -> None:
        raise RuntimeError("task hook exploded")

    @task(on_completion=[bad, lambda *a: after.append("ok")])
    def t() -> int:
        return 3

    logger = logging.getLogger("tideflow")
    logger.addHandler(caplog.handler)
    try:
        assert in_flow(t) == 3
    finally:
        logger.removeHandler(caplog.handler)
    assert after == ["ok"]
    assert the_task_run("t").state_name == "Completed"
    assert any("task hook exploded" in r.getMessage() for r in caplog.records)


def test_on_failure_hook_after_retries_only() -> None:
    calls: list[str] = []

    @task(retries=2, on_failure=[lambda t, r, s: calls.append(s.name)])
    def t() -> None:
        raise ValueError("x")

    in_flow(lambda: t(return_state=True))
    assert calls == ["Failed"]


def test_cache_expiration_must_be_timedelta_even_via_with_options() -> None:
    @task
    def t() -> None: ...

    with pytest.raises(TypeError, match="cache_expiration"):
        t.with_options(cache_expiration=60)
    assert t.with_options(cache_expiration=timedelta(1)).cache_expiration == timedelta(1)


def test_prefect2_await_submit_syntax_in_async_flows() -> None:
    """Prefect 2 code writes ``future = await task.submit(...)`` in async flows."""
    both_running = threading.Barrier(2, timeout=10)

    @task
    async def meet(x: int) -> int:
        await asyncio.get_running_loop().run_in_executor(None, both_running.wait)
        return x

    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    async def ported() -> int:
        first = await meet.submit(1)  # returns the future at once, without waiting...
        second = await meet.submit(2)  # ...so both runs are in flight together
        third = await double.submit(5)
        assert isinstance(first, TideflowFuture)
        return first.result() + second.result() + third.result()

    assert asyncio.run(ported()) == 13
