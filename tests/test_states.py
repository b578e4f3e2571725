"""States: the model itself and the final-state semantics of flow runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.exceptions import FailedRun, MissingResult
from tideflow.schemas.filters import FlowRunFilter, TaskRunFilter
from tideflow.states import (
    TERMINAL_STATES,
    AwaitingRetry,
    Cached,
    Cancelled,
    Completed,
    Crashed,
    ErrorInfo,
    Failed,
    Late,
    Paused,
    Pending,
    RemoteError,
    Running,
    Scheduled,
    State,
    StateType,
    TimedOut,
)
from tideflow.task_runners import ConcurrentTaskRunner


def only_run(name: str) -> Any:
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=[name]))
    return run


# ---------------------------------------------------------------------- the model
def test_predicates_and_terminal_states() -> None:
    assert Completed().is_completed() and Completed().is_final()
    assert Cached().is_completed() and Cached().name == "Cached"
    assert Failed().is_failed() and TimedOut().is_failed() and TimedOut().is_final()
    assert Crashed().is_crashed() and Cancelled().is_cancelled()
    assert Running().is_running() and not Running().is_final()
    assert Pending().is_pending() and Scheduled().is_scheduled() and Late().is_scheduled()
    assert Paused().is_paused()
    assert AwaitingRetry().is_scheduled() and AwaitingRetry().name == "AwaitingRetry"
    assert {
        StateType.COMPLETED,
        StateType.FAILED,
        StateType.CANCELLED,
        StateType.CRASHED,
    } == TERMINAL_STATES


def test_states_are_enum_typed_and_timestamped() -> None:
    before = datetime.now(UTC)
    state = Completed(data=1)
    assert isinstance(state.type, StateType) and state.type == "COMPLETED"
    assert before <= state.timestamp <= datetime.now(UTC)
    assert state.timestamp.tzinfo is not None
    assert Completed().id != Completed().id


def test_result_returns_or_raises() -> None:
    assert Completed(data={"a": 1}).result() == {"a": 1}
    assert Completed().result() is None
    error = ValueError("bad")
    failed = Failed(data=error, message="it failed")
    with pytest.raises(ValueError, match="bad") as info:
        failed.result()
    assert info.value is error
    assert failed.result(raise_on_failure=False) is error
    with pytest.raises(FailedRun, match="no data"):
        Failed(message="no data").result()
    assert isinstance(Crashed(message="died").result(raise_on_failure=False), FailedRun)
    with pytest.raises(FailedRun):
        Cancelled().result()
    with pytest.raises(MissingResult):
        Pending().result()
    with pytest.raises(MissingResult):
        Running().result()


def test_error_info_and_round_trip_through_records() -> None:
    try:
        raise KeyError("missing column")
    except KeyError as exc:
        failed = Failed(data=exc, message="task failed")
    info = failed.error
    assert isinstance(info, ErrorInfo)
    assert info.type == "KeyError" and "missing column" in info.message
    assert "Traceback" in info.traceback and "raise KeyError" in info.traceback

    record = failed.to_record()
    assert record["details"]["error"]["type"] == "KeyError"
    back = State.from_record(record)
    assert back.id == failed.id and back.name == "Failed" and back.message == "task failed"
    assert back.error is not None and back.error.type == "KeyError"
    assert "raise KeyError" in back.error.traceback
    with pytest.raises(RemoteError, match="KeyError") as raised:
        back.result()
    assert raised.value.info.type == "KeyError"


def test_non_builtin_error_type_is_qualified() -> None:
    from tideflow.exceptions import CacheKeyError

    info = ErrorInfo.from_exception(CacheKeyError("x"))
    assert info.type == "tideflow.exceptions.CacheKeyError"


def test_record_round_trip_of_scheduled_and_literal_states() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    scheduled = Scheduled(scheduled_time=when, message="later")
    record = scheduled.to_record()
    assert record["details"]["scheduled_time"] == when.isoformat()
    back = State.from_record(record)
    assert back.scheduled_time == when and back.type is StateType.SCHEDULED

    for literal in (None, True, False):
        completed = State.from_record(Completed(data=literal).to_record())
        assert completed.result() is literal


def test_copy_and_equality() -> None:
    state = Completed(data=1, message="m", details={"k": 1})
    copy = state.copy()
    assert copy.id != state.id and copy != state
    assert (copy.name, copy.message, copy.data, copy.details) == ("Completed", "m", 1, {"k": 1})
    assert copy.details is not state.details
    same = state.copy(id=state.id)
    assert same == state and hash(same) == hash(state)
    assert state.copy(data=2).result() == 2
    assert "Completed" in repr(state) and "m" in repr(state)


# ---------------------------------------------------------------------- semantics
def test_exception_in_task_fails_the_flow() -> None:
    @task
    def boom() -> None:
        raise ValueError("task exploded")

    @flow
    def f() -> None:
        boom()

    state = f(return_state=True)
    assert state.is_failed() and "task exploded" in state.message
    assert isinstance(state.data, ValueError)
    run = only_run("f")
    assert run.state_type is StateType.FAILED


def test_caught_task_exception_leaves_the_flow_completed() -> None:
    @task
    def boom() -> None:
        raise ValueError("task exploded")

    @flow
    def f() -> str:
        try:
            boom()
        except ValueError:
            return "recovered"
        return "unreachable"

    assert f() == "recovered"
    assert only_run("f").state_name == "Completed"
    (task_run,) = get_client().read_task_runs(TaskRunFilter())
    assert task_run.state_name == "Failed"


def test_returning_a_failed_future_or_state_fails_the_flow() -> None:
    @task
    def boom() -> int:
        raise RuntimeError("nope")

    @flow
    def returns_future() -> Any:
        return boom.submit()

    @flow
    def returns_state() -> Any:
        return boom(return_state=True)

    @flow
    def returns_list() -> Any:
        return [boom.submit(), 1]

    for f in (returns_future, returns_state, returns_list):
        state = f(return_state=True)
        assert state.is_failed(), f.name
        with pytest.raises((RuntimeError, FailedRun)):
            state.result()
        assert only_run(f.name).state_type is StateType.FAILED


def test_returning_completed_futures_gives_their_values() -> None:
    @task
    def one(x: int) -> int:
        return x

    @flow
    def f() -> Any:
        return [one.submit(1), one(2, return_state=True), 3]

    @flow
    def g() -> Any:
        return (one.submit(1), one.submit(2))

    assert f() == [1, 2, 3]
    assert g() == (1, 2)
    assert only_run("f").state_name == "Completed"


def test_returning_an_explicit_state() -> None:
    @flow
    def explicit_failure() -> State[Any]:
        return Failed(message="explicit")

    @flow
    def explicit_ok() -> State[Any]:
        return Completed(data=5, message="done")

    state = explicit_failure(return_state=True)
    assert state.is_failed() and state.message == "explicit"
    assert explicit_ok() == 5
    assert only_run("explicit-failure").state_message == "explicit"


@pytest.mark.parametrize("runner", [None, ConcurrentTaskRunner(4)])
def test_unawaited_submitted_failure_fails_a_flow_returning_none(runner: Any) -> None:
    """Our documented rule: a submitted task run that failed and whose outcome nobody
    looked at fails a flow that returns None (Prefect does the same)."""

    @task
    def fine() -> int:
        return 1

    @task(name="silent_failure")
    def silent_failure() -> None:
        raise ValueError("nobody waits for me")

    @flow(task_runner=runner)
    def fire_and_forget() -> None:
        fine.submit()
        silent_failure.submit()

    state = fire_and_forget(return_state=True)
    assert state.is_failed()
    assert "silent_failure" in state.message and "1 submitted task run" in state.message
    assert only_run("fire-and-forget").state_type is StateType.FAILED


def test_observed_failures_and_non_none_returns_do_not_fail_the_flow() -> None:
    @task
    def boom() -> None:
        raise ValueError("x")

    @flow
    def looked_at() -> None:
        fut = boom.submit()
        assert fut.wait().is_failed()

    @flow
    def returns_value() -> str:
        boom.submit()
        return "value"

    @flow
    def upstream_used() -> None:
        # The failure reached a downstream task (NotReady), so it was not ignored.
        # The downstream's own failure was never looked at, which fails the flow.
        task(lambda x: x, name="down").submit(boom.submit())

    assert looked_at(return_state=True).is_completed()
    assert returns_value() == "value"
    state = upstream_used(return_state=True)
    assert state.is_failed() and "down" in state.message


def test_flow_exception_state_carries_error_also_from_the_store() -> None:
    @flow
    def broken() -> None:
        raise LookupError("flow body failed")

    state = broken(return_state=True)
    assert state.error is not None and state.error.type == "LookupError"
    run = only_run("broken")
    final = get_client().read_flow_run_states(run.id)[-1].to_state()
    assert final.is_failed()
    assert final.error is not None
    assert final.error.type == "LookupError" and final.error.message == "flow body failed"
    assert "raise LookupError" in final.error.traceback
    with pytest.raises(RemoteError, match="LookupError: flow body failed"):
        final.result()
    assert "flow body failed" in (run.state_message or "")


def test_task_failure_error_is_stored_with_type_message_and_traceback() -> None:
    @task
    def parse() -> None:
        int("not a number")

    @flow
    def f() -> None:
        parse(return_state=True)

    f()
    (task_run,) = get_client().read_task_runs(TaskRunFilter())
    assert task_run.state_name == "Failed"
    details = task_run.state_details or {}
    assert details["error"]["type"] == "ValueError"
    assert "not a number" in details["error"]["message"]
    assert 'int("not a number")' in details["error"]["traceback"]
    final = get_client().read_task_run_states(task_run.id)[-1].to_state()
    assert final.error is not None and final.error.type == "ValueError"


def test_every_run_keeps_its_history_with_timestamps_and_messages() -> None:
    attempts: list[int] = []

    @task(retries=1)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first attempt")
        return 1

    @flow
    def f() -> int:
        return flaky()

    f()
    run = only_run("f")
    flow_history = get_client().read_flow_run_states(run.id)
    assert [s.name for s in flow_history] == ["Pending", "Running", "Completed"]
    (task_run,) = get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    task_history = get_client().read_task_run_states(task_run.id)
    assert [s.name for s in task_history] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    for states in (flow_history, task_history):
        stamps = [s.timestamp for s in states]
        assert stamps == sorted(stamps)
        assert all(s.tzinfo is not None for s in stamps)
        assert stamps[-1] - stamps[0] < timedelta(minutes=1)
        assert len({s.id for s in states}) == len(states)
    assert "first attempt" in (task_history[2].message or "")
    assert task_history[-1].timestamp == task_run.state_timestamp
    assert flow_history[-1].id == run.state_id


def test_timed_out_is_a_failed_state_in_the_store() -> None:
    @task(timeout_seconds=0.1)
    def spins() -> None:
        while True:
            pass

    @flow
    def f() -> None:
        spins()

    state = f(return_state=True)
    assert state.is_failed()
    (task_run,) = get_client().read_task_runs(TaskRunFilter())
    assert (task_run.state_type, task_run.state_name) == (StateType.FAILED, "TimedOut")
    assert only_run("f").state_type is StateType.FAILED


def test_unpersisted_result_read_back_from_the_store_raises_missing_result() -> None:
    @task
    def answer() -> int:
        return 42

    @task
    def nothing() -> None:
        return None

    @flow
    def f() -> int:
        nothing()
        return answer()

    assert f() == 42
    runs = {r.name.split("-")[0]: r for r in get_client().read_task_runs(TaskRunFilter())}
    # 42 was never persisted: the store cannot give it back, and must not say None.
    stored = runs["answer"].state
    assert stored is not None and stored.is_completed()
    with pytest.raises(MissingResult, match="not persisted"):
        stored.result()
    # None (like True/False) is recorded as a literal, so it round-trips.
    assert runs["nothing"].state is not None and runs["nothing"].state.result() is None
    flow_state = only_run("f").state
    with pytest.raises(MissingResult):
        flow_state.result()
