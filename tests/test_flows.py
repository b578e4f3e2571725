"""``@flow``: definition, parameters, retries, timeouts, subflows, async flows, hooks."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import time
from typing import Any

import pytest
from pydantic import BaseModel

from tideflow import Flow, flow, get_run_logger, task
from tideflow.client import get_client
from tideflow.exceptions import ParameterTypeError, SignatureMismatchError
from tideflow.flows import Flow as FlowFromModule
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from tideflow.states import State, StateType
from tideflow.task_runners import ConcurrentTaskRunner, SequentialTaskRunner


def flow_runs(name: str) -> list[Any]:
    return get_client().read_flow_runs(FlowRunFilter(flow_name_any=[name]))


def only_run(name: str) -> Any:
    (run,) = flow_runs(name)
    return run


def history(run_id: str) -> list[str]:
    return [s.name for s in get_client().read_flow_run_states(run_id)]


def task_runs(flow_run_id: str) -> list[Any]:
    return get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[flow_run_id]))


# ---------------------------------------------------------------------- definition
def test_bare_decorator() -> None:
    @flow
    def my_pipeline_flow(x: int = 1) -> int:
        """Doubles x."""
        return x * 2

    assert isinstance(my_pipeline_flow, Flow)
    assert Flow is FlowFromModule
    assert my_pipeline_flow.name == "my-pipeline-flow"
    assert my_pipeline_flow.description == "Doubles x."
    assert my_pipeline_flow.fn(4) == 8  # the raw function, no run recorded
    assert get_client().count_flow_runs() == 0
    assert my_pipeline_flow(3) == 6
    assert get_client().count_flow_runs() == 1


def test_decorator_with_arguments() -> None:
    @flow(
        name="Data Processing Pipeline",
        description="Extracts, transforms, and loads data",
        version="1.0.0",
        task_runner=ConcurrentTaskRunner(),
        retries=2,
    )
    def process_data(date: str | None = None) -> str | None:
        return date

    assert process_data.name == "Data Processing Pipeline"
    assert process_data.description == "Extracts, transforms, and loads data"
    assert process_data.version == "1.0.0"
    assert process_data.retries == 2
    assert process_data("2024-01-01") == "2024-01-01"
    run = only_run("Data Processing Pipeline")
    assert run.flow_version == "1.0.0"
    assert run.retries == 2
    assert run.parameters == {"date": "2024-01-01"}


def test_signature_and_metadata_preserved() -> None:
    def fn(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """Doc."""
        return f"{a}{b}{c}"

    f = flow(fn)
    assert inspect.signature(f) == inspect.signature(fn)
    assert f.__doc__ == "Doc."
    assert f.__name__ == "fn"
    assert f.fn is fn


def test_version_defaults_to_source_hash_and_changes_with_source() -> None:
    @flow
    def one() -> int:
        return 1

    @flow
    def two() -> int:
        return 2

    assert isinstance(one.version, str) and len(one.version) == 16
    int(one.version, 16)  # hex
    assert one.version != two.version
    assert flow(one.fn).version == one.version  # deterministic
    one()
    assert only_run("one").flow_version == one.version


def test_version_is_none_without_source() -> None:
    namespace: dict[str, Any] = {}
    exec("def nosource():\n    return 5\n", namespace)
    f = flow(namespace["nosource"])
    assert f.version is None
    assert f() == 5


def test_with_options_copies_and_rejects_unknown_options() -> None:
    @flow(name="orig", retries=1)
    def f() -> str:
        return "ok"

    g = f.with_options(name="copy", retries=3, tags=["a"])
    assert (g.name, g.retries, g.tags) == ("copy", 3, frozenset({"a"}))
    assert (f.name, f.retries, f.tags) == ("orig", 1, frozenset())
    assert g.fn is f.fn
    assert g() == "ok"
    assert only_run("copy").tags == ["a"]
    with pytest.raises(TypeError, match="retires"):
        f.with_options(retires=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"retries": -1}, ValueError, "retries"),
        ({"retries": "3"}, ValueError, "retries"),
        ({"retries": True}, ValueError, "retries"),
        ({"retry_delay_seconds": -1}, ValueError, "retry_delay_seconds"),
        ({"timeout_seconds": 0}, ValueError, "timeout_seconds"),
        ({"on_failure": lambda *a: None}, TypeError, "on_failure"),
        ({"on_completion": ["not callable"]}, TypeError, "on_completion"),
        ({"no_such_option": 1}, TypeError, "no_such_option"),
    ],
)
def test_bad_decorator_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):

        @flow(**kwargs)
        def f() -> None: ...


def test_flow_of_non_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="function"):
        flow(42)  # type: ignore[call-overload]


# ---------------------------------------------------------------------- parameters
def test_parameters_are_coerced_from_type_hints() -> None:
    seen: list[Any] = []

    @flow
    def typed(n: int, ratio: float, flag: bool, names: list[str]) -> None:
        seen.append((n, ratio, flag, names))

    typed("3", "0.5", "true", ("a", "b"))  # type: ignore[arg-type]
    assert seen == [(3, 0.5, True, ["a", "b"])]
    assert type(seen[0][0]) is int


class TrainConfig(BaseModel):
    lr: float
    epochs: int = 3


def test_pydantic_model_parameter_is_built_from_a_dict() -> None:
    # This module uses `from __future__ import annotations`: the hints are strings that
    # must be resolved in the flow's module, not in tideflow's.
    @flow
    def train(config: TrainConfig, when: datetime.date) -> tuple[float, int, datetime.date]:
        assert isinstance(config, TrainConfig)
        return config.lr, config.epochs, when

    result = train({"lr": "0.1"}, "2024-01-31")  # type: ignore[arg-type]
    assert result == (0.1, 3, datetime.date(2024, 1, 31))
    state = train({"lr": "fast"}, "2024-01-31", return_state=True)  # type: ignore[arg-type]
    assert state.is_failed() and "lr" in state.message and "'fast'" in state.message


def test_unresolvable_hints_are_not_validated_and_do_not_break_the_flow() -> None:
    class Local(BaseModel):  # a string hint naming it cannot be resolved from globals
        a: int

    @flow
    def f(x: Local, n: int) -> Any:
        return x, n

    assert f("anything", "2") == ("anything", 2)  # type: ignore[arg-type]
    assert only_run("f").state_name == "Completed"


def test_bad_parameter_fails_the_run_before_the_body_runs() -> None:
    ran: list[int] = []

    @flow
    def needs_int(n: int) -> int:
        ran.append(n)
        return n

    state = needs_int("abc", return_state=True)  # type: ignore[arg-type]
    assert ran == []
    assert state.is_failed()
    assert "'n'" in state.message and "'abc'" in state.message and "integer" in state.message
    assert "needs-int" in state.message
    assert isinstance(state.data, ParameterTypeError)
    with pytest.raises(ParameterTypeError, match="'n'"):
        state.result()

    run = only_run("needs-int")
    assert run.state_type is StateType.FAILED
    assert "'abc'" in (run.state_message or "")
    assert history(run.id) == ["Pending", "Failed"]
    assert run.start_time is None or run.state_name == "Failed"


def test_bad_parameter_raises_without_return_state() -> None:
    @flow
    def needs_int(n: int) -> int:
        raise AssertionError("body must not run")

    with pytest.raises(ParameterTypeError) as info:
        needs_int([1, 2])  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert "'n'" in str(info.value) and "[1, 2]" in str(info.value)


def test_all_bad_parameters_are_named() -> None:
    @flow
    def two(a: int, b: float) -> None: ...

    state = two("x", "y", return_state=True)  # type: ignore[arg-type]
    assert "'a'" in state.message and "'b'" in state.message


def test_defaults_are_trusted_as_written() -> None:
    # The seed writes `date: str = None`.
    @flow
    def process_data(date: str = None) -> str:  # type: ignore[assignment]  # noqa: RUF013
        return date or "today"

    assert process_data() == "today"
    assert process_data("2023-01-01") == "2023-01-01"


def test_validate_parameters_false_skips_coercion() -> None:
    @flow(validate_parameters=False)
    def raw(n: int) -> Any:
        return n

    assert raw("3") == "3"  # type: ignore[arg-type]


def test_wrong_arguments_raise_before_any_run_is_recorded() -> None:
    @flow
    def f(a: int) -> int:
        return a

    with pytest.raises(SignatureMismatchError, match="'f'") as info:
        f(1, 2)  # type: ignore[call-arg]
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError):
        f(b=1)  # type: ignore[call-arg]
    assert get_client().count_flow_runs() == 0


def test_unjsonable_parameters_are_recorded_as_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    @flow
    def f(x: Any, y: int = 2) -> None: ...

    f(Thing())
    assert only_run("f").parameters == {"x": "<Thing>", "y": 2}


def test_flow_run_name_template() -> None:
    @flow(flow_run_name="train-{lr}")
    def train(lr: float) -> None: ...

    train(0.5)
    assert only_run("train").name == "train-0.5"

    @flow(flow_run_name="train-{missing}")
    def broken(lr: float) -> None: ...

    with pytest.raises(ValueError, match="missing"):
        broken(0.5)


# ---------------------------------------------------------------------- retries
def test_flow_retries_rerun_the_body_and_reuse_completed_tasks() -> None:
    executed = {"load": 0, "train": 0, "body": 0}

    @task
    def load() -> int:
        executed["load"] += 1
        return 10

    @task
    def train(x: int) -> int:
        executed["train"] += 1
        if executed["train"] == 1:
            raise RuntimeError("flaky training")
        return x + 1

    @flow(retries=2)
    def pipeline() -> int:
        executed["body"] += 1
        return train(load())

    assert pipeline() == 11
    assert executed == {"load": 1, "train": 2, "body": 2}
    run = only_run("pipeline")
    assert run.state_name == "Completed"
    names = history(run.id)
    assert names == ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]
    states = get_client().read_flow_run_states(run.id)
    assert "flaky training" in (states[2].message or "")
    # load ran once: only one task run of it exists, in a final state.
    load_runs = [tr for tr in task_runs(run.id) if tr.name.startswith("load")]
    assert [tr.state_name for tr in load_runs] == ["Completed"]


def test_flow_retries_exhausted_ends_failed() -> None:
    attempts: list[int] = []

    @flow(retries=2, retry_delay_seconds=0.01)
    def always_fails() -> None:
        attempts.append(1)
        raise ValueError(f"attempt {len(attempts)}")

    state = always_fails(return_state=True)
    assert len(attempts) == 3
    assert state.is_failed() and "attempt 3" in state.message
    names = history(only_run("always-fails").id)
    assert names.count("AwaitingRetry") == 2 and names.count("Retrying") == 2
    assert names[-1] == "Failed"


def test_flow_retry_reuses_submitted_task_results() -> None:
    executed: list[int] = []

    @task
    def work(i: int) -> int:
        executed.append(i)
        return i

    attempt = [0]

    @flow(retries=1, task_runner=ConcurrentTaskRunner(4))
    def f() -> int:
        attempt[0] += 1
        total = sum(fut.result() for fut in work.map(range(5)))
        if attempt[0] == 1:
            raise RuntimeError("after the tasks")
        return total

    assert f() == 10
    assert sorted(executed) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------------- timeouts
def test_flow_timeout_ends_timed_out() -> None:
    @flow(timeout_seconds=0.3)
    def spins() -> None:
        while True:
            pass

    state = spins(return_state=True)
    assert state.name == "TimedOut" and state.type is StateType.FAILED
    assert "0.3" in state.message
    run = only_run("spins")
    assert run.state_name == "TimedOut"
    with pytest.raises(TimeoutError):
        state.result()


def test_async_flow_timeout() -> None:
    @flow(timeout_seconds=0.2)
    async def slow() -> None:
        await asyncio.sleep(30)

    state = asyncio.run(slow(return_state=True))
    assert state.name == "TimedOut"


def test_flow_continues_after_a_task_times_out() -> None:
    @task(timeout_seconds=0.2)
    def spins() -> None:
        while True:
            pass

    @task
    def after() -> str:
        return "after"

    @flow
    def f() -> tuple[str, str]:
        state = spins(return_state=True)
        return state.name, after()

    assert f() == ("TimedOut", "after")


# ---------------------------------------------------------------------- subflows
def test_subflow_is_linked_to_its_parent() -> None:
    @flow
    def child(x: int) -> int:
        return x + 1

    @flow
    def parent() -> int:
        return child(1) + child(10)

    assert parent() == 13
    parent_run = only_run("parent")
    children = flow_runs("child")
    assert len(children) == 2
    parent_task_runs = {tr.id: tr for tr in task_runs(parent_run.id)}
    for child_run in children:
        assert child_run.parent_task_run_id in parent_task_runs
        link = parent_task_runs[child_run.parent_task_run_id]
        assert link.state_name == "Completed"
        assert link.task_key == "subflow:child"
        assert child_run.state_name == "Completed"
    assert {c.parameters["x"] for c in children} == {1, 10}
    for link in parent_task_runs.values():
        states = get_client().read_task_run_states(link.id)
        assert [s.name for s in states] == ["Pending", "Running", "Completed"]
        assert link.start_time is not None and link.end_time is not None
        assert link.start_time <= link.end_time
    assert get_client().read_flow_runs(FlowRunFilter(parent_task_run_id_any=list(parent_task_runs)))


def test_failing_subflow_fails_the_parent_unless_caught() -> None:
    @flow
    def child() -> None:
        raise KeyError("child broke")

    @flow
    def parent_raises() -> None:
        child()

    @flow
    def parent_catches() -> str:
        try:
            child()
        except KeyError:
            return "handled"
        return "unreachable"

    state = parent_raises(return_state=True)
    assert state.is_failed() and "child broke" in state.message
    assert parent_catches() == "handled"
    assert only_run("parent-catches").state_name == "Completed"
    link = task_runs(only_run("parent-raises").id)[0]
    assert link.state_type is StateType.FAILED


def test_subflow_with_return_state() -> None:
    @flow
    def child() -> None:
        raise ValueError("no")

    @flow
    def parent() -> str:
        return child(return_state=True).name

    assert parent() == "Failed"


def test_subflow_inherits_tags_and_log_prints() -> None:
    @flow
    def child() -> None:
        print("from-child")

    @flow(log_prints=True, tags=["outer"])
    def parent() -> None:
        child()

    parent()
    child_run = only_run("child")
    assert "outer" in child_run.tags
    messages = [
        rec.message for rec in get_client().read_logs(LogFilter(flow_run_id_any=[child_run.id]))
    ]
    assert "from-child" in messages


# ---------------------------------------------------------------------- async
def test_async_flow_with_async_and_sync_tasks() -> None:
    @task
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    async def af(x: int) -> int:
        y = await double(x)
        z = inc(y)
        fut = double.submit(z)
        return fut.result()

    assert asyncio.run(af("3")) == 14  # type: ignore[arg-type]
    run = only_run("af")
    assert run.state_name == "Completed"
    assert sorted(tr.state_name for tr in task_runs(run.id)) == ["Completed"] * 3


def test_async_flow_run_with_asyncio_run() -> None:
    @flow
    async def af() -> str:
        await asyncio.sleep(0)
        return "done"

    assert asyncio.run(af()) == "done"


def test_async_subflow_from_sync_and_async_parents() -> None:
    @flow
    async def achild(x: int) -> int:
        await asyncio.sleep(0)
        return x * 3

    @flow
    def sync_parent() -> int:
        return achild(2)  # type: ignore[return-value]

    @flow
    async def async_parent() -> int:
        return await achild(3)

    assert sync_parent() == 6
    assert asyncio.run(async_parent()) == 9
    children = flow_runs("achild")
    assert len(children) == 2 and all(c.parent_task_run_id for c in children)


# ---------------------------------------------------------------------- hooks
def test_flow_hooks_called_with_flow_run_and_state() -> None:
    calls: list[tuple[str, str, str]] = []

    def on_ok(fl: Flow[..., Any], run: Any, state: State[Any]) -> None:
        calls.append(("completion", fl.name, state.name))

    def on_bad(fl: Flow[..., Any], run: Any, state: State[Any]) -> None:
        calls.append(("failure", run.name, state.name))

    @flow(on_completion=[on_ok], on_failure=[on_bad], flow_run_name="the-run")
    def maybe(fail: bool) -> None:
        if fail:
            raise RuntimeError("x")

    maybe(False)
    maybe(True, return_state=True)
    assert calls == [("completion", "maybe", "Completed"), ("failure", "the-run", "Failed")]


def test_failing_flow_hook_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    after: list[str] = []

    def bad_hook(*_: Any) -> None:
        raise RuntimeError("hook exploded")

    def good_hook(*_: Any) -> None:
        after.append("ran")

    @flow(on_completion=[bad_hook, good_hook])
    def f() -> int:
        return 1

    logger = logging.getLogger("tideflow")
    logger.addHandler(caplog.handler)
    try:
        assert f() == 1
    finally:
        logger.removeHandler(caplog.handler)
    assert after == ["ran"]
    assert only_run("f").state_name == "Completed"
    assert any("hook exploded" in r.getMessage() for r in caplog.records)


def test_flow_hooks_not_called_for_other_outcomes() -> None:
    calls: list[str] = []

    @flow(on_failure=[lambda *a: calls.append("failure")])
    def ok() -> None: ...

    ok()
    assert calls == []


# ---------------------------------------------------------------------- misc
def test_flow_logger_lines_are_stored_with_the_flow_run() -> None:
    @flow
    def f() -> None:
        get_run_logger().info("hello from the flow")

    f()
    run = only_run("f")
    lines = get_client().read_logs(LogFilter(flow_run_id_any=[run.id]))
    mine = [line for line in lines if line.message == "hello from the flow"]
    assert len(mine) == 1 and mine[0].task_run_id is None


def test_default_task_runner_is_sequential() -> None:
    from tideflow.engine.context import flow_run_ctx

    seen: list[Any] = []

    @flow
    def f() -> None:
        ctx = flow_run_ctx.get()
        assert ctx is not None
        seen.append(ctx.task_runner)

    f()
    assert isinstance(seen[0], SequentialTaskRunner)


def test_task_runner_class_or_instance_gives_a_fresh_runner_per_run() -> None:
    from tideflow.engine.context import flow_run_ctx

    seen: list[Any] = []
    runner = ConcurrentTaskRunner(max_workers=3)

    @flow(task_runner=runner)
    def f() -> None:
        ctx = flow_run_ctx.get()
        assert ctx is not None
        seen.append(ctx.task_runner)

    @flow(task_runner=ConcurrentTaskRunner)
    def g() -> None:
        ctx = flow_run_ctx.get()
        assert ctx is not None
        seen.append(ctx.task_runner)

    f()
    f()
    g()
    assert seen[0] is not runner and seen[0] is not seen[1]
    assert seen[0].max_workers == 3
    assert isinstance(seen[2], ConcurrentTaskRunner)


def test_flow_run_times_are_recorded() -> None:
    @flow
    def f() -> None: ...

    f()
    run = only_run("f")
    assert run.start_time is not None and run.end_time is not None
    assert run.start_time <= run.end_time
    assert run.run_count >= 1


def test_subflow_called_with_futures_and_states_gets_their_values() -> None:
    @task
    def make(x: int) -> int:
        return x

    @task
    def broken() -> int:
        raise ValueError("upstream of the subflow broke")

    @flow
    def child(a: int, b: int, items: list[int]) -> int:
        return a + b + sum(items)

    @flow
    def parent() -> int:
        return child(make.submit(1), make(2, return_state=True), [make.submit(3), 4])

    @flow
    def parent_with_failed_input() -> int:
        return child(broken.submit(), 1, [])

    assert parent() == 10
    assert only_run("child").parameters == {"a": 1, "b": 2, "items": [3, 4]}
    state = parent_with_failed_input(return_state=True)
    assert state.is_failed()
    assert "'child'" in state.message and "broken" in state.message
    assert len(flow_runs("child")) == 1  # no subflow run was created for the bad call


def test_flow_hooks_run_in_the_flow_run_context() -> None:
    def notify(fl: Flow[..., Any], run: Any, state: State[Any]) -> None:
        get_run_logger().info("hook saw %s", state.name)

    def explode(*_: Any) -> None:
        raise RuntimeError("notification service down")

    @flow(on_completion=[notify, explode])
    def hooked() -> None: ...

    hooked()
    run = only_run("hooked")

    def messages() -> list[str]:
        return [r.message for r in get_client().read_logs(LogFilter(flow_run_id_any=[run.id]))]

    # Hooks run after the final state is recorded: their lines arrive shortly after.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("service down" in m for m in messages()):
        time.sleep(0.02)
    assert "hook saw Completed" in messages()
    assert any("explode" in m and "notification service down" in m for m in messages())
