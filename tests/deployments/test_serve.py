"""``flow.serve``: scheduled and on-demand runs executed in the serving process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from deploykit import wait_final, wait_for
from tideflow import flow
from tideflow.client import get_client
from tideflow.deployments import run_deployment
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.filters import FlowRunFilter
from tideflow.states import StateType

CALLS: list[Any] = []
HOOKS: list[str] = []


@flow
def greet(name: str = "world") -> str:
    CALLS.append((name, threading.current_thread().name))
    return f"Hello, {name}!"


def _note_cancel(flow: Any, run: Any, state: Any) -> None:
    HOOKS.append(state.name)


@flow(on_cancellation=[_note_cancel])
def forever() -> None:
    CALLS.append("forever started")
    while True:  # pure Python, so the cancellation can interrupt it
        time.sleep(0.01)


@contextmanager
def serving(target: Any, name: str, **options: Any) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=target.serve, args=(name,),
        kwargs={"stop_event": stop, "poll_interval": 0.05, **options}, daemon=True,
    )  # fmt: skip
    thread.start()
    try:
        wait_for(lambda: _exists(f"{target.name}/{name}"), what="the deployment")
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def _exists(full_name: str) -> bool:
    try:
        get_client().read_deployment_by_name(full_name)
    except Exception:
        return False
    return True


def test_on_demand_runs_execute_in_the_serving_process() -> None:
    CALLS.clear()
    with serving(greet, "on-demand", parameters={"name": "default"}):
        run = run_deployment("greet/on-demand", {"name": "served"}, timeout=30)
    assert run.state_type is StateType.COMPLETED
    assert [("served", CALLS[0][1])] == CALLS
    assert CALLS[0][1].startswith("tideflow-serve-")
    deployment = get_client().read_deployment_by_name("greet/on-demand")
    assert deployment.work_queue_name == "serve:greet:on-demand"
    assert deployment.parameters == {"name": "default"}


def test_scheduled_runs_fire_and_serve_stops_after_max_runs() -> None:
    CALLS.clear()
    started = time.monotonic()
    greet.serve("every-second", interval=1, max_runs=2, poll_interval=0.05)
    assert time.monotonic() - started < 30
    assert len(CALLS) == 2
    deployment = get_client().read_deployment_by_name("greet/every-second")
    runs = get_client().read_flow_runs(
        FlowRunFilter(deployment_id_any=[deployment.id], state_type_any=[StateType.COMPLETED])
    )
    assert len(runs) == 2 and all(r.auto_scheduled for r in runs)


def test_cancelling_a_served_run_interrupts_it_and_runs_hooks() -> None:
    CALLS.clear()
    HOOKS.clear()
    with serving(forever, "cancel-me"):
        run = run_deployment("forever/cancel-me", timeout=0)
        wait_for(lambda: "forever started" in CALLS, what="the flow to start")
        result = get_client().set_flow_run_state(run.id, StateCreate(type=StateType.CANCELLING))
        assert result.status == "ACCEPT"
        done = wait_final(run.id, timeout=30)
    assert done.state_type is StateType.CANCELLED
    assert HOOKS == ["Cancelled"]


def test_serve_refuses_two_schedules() -> None:
    import pytest

    with pytest.raises(ValueError, match="one of cron, interval and rrule"):
        greet.serve("x", cron="* * * * *", interval=60)
