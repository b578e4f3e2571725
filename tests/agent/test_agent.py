"""The agent with real flow subprocesses on the embedded store: runs, parameters,
limits, cancellation, crashes and retries."""

from __future__ import annotations

import itertools
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploykit import agent_thread, deploy, pid_alive, read_run, wait_final, wait_for
from tideflow.client import get_client
from tideflow.deployments import run_deployment
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.deployments import ClaimRequest, WorkQueueUpdate
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

ECHO = """
from pathlib import Path
from tideflow import flow, task

@task
def double(n: int) -> int:
    return 2 * n

@flow
def echo(n: int, out: str):
    value = double(n)
    print(f"echo says {value}")
    Path(out).write_text(f"{value} {type(n).__name__}")
    return value
"""


def test_agent_runs_a_deployment_with_validated_parameters(tmp_path: Path) -> None:
    deploy(tmp_path / "code", ECHO, "echo", parameters={"out": str(tmp_path / "out.txt")})
    lines: list[str] = []
    run = run_deployment("echo/dep", {"n": "21"}, timeout=0)
    with agent_thread(output=lines.append):
        done = wait_final(run.id)
    assert done.state_type is StateType.COMPLETED, done.state_message
    assert (tmp_path / "out.txt").read_text() == "42 int"
    assert "echo says 42" in lines
    assert done.infrastructure_pid and done.infrastructure_pid.endswith(
        tuple(str(d) for d in range(10))
    )


def test_bad_parameters_fail_the_run_before_the_flow_body(tmp_path: Path) -> None:
    deploy(tmp_path / "code", ECHO, "echo", parameters={"out": str(tmp_path / "out.txt")})
    run = run_deployment("echo/dep", {"n": "not a number"}, timeout=0)
    with agent_thread():
        done = wait_final(run.id)
    assert done.state_type is StateType.FAILED
    assert "'n'" in (done.state_message or "")
    assert not (tmp_path / "out.txt").exists()


SLEEPER = """
import os, time
from pathlib import Path
from tideflow import flow

def note_cancel(flow, run, state):
    Path(os.environ["MARKS"], "cancel-hook").write_text(state.name)

@flow(on_cancellation=[note_cancel])
def sleeper(seconds: float, tag: str):
    marks = Path(os.environ["MARKS"])
    (marks / f"start-{tag}").write_text(f"{time.time()} {os.getpid()}")
    time.sleep(seconds)
    (marks / f"end-{tag}").write_text(str(time.time()))
"""


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    monkeypatch.setenv("MARKS", str(path))
    return path


def test_the_agent_limit_bounds_concurrent_runs(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", SLEEPER, "sleeper")
    runs = [
        run_deployment("sleeper/dep", {"seconds": 0.3, "tag": str(i)}, timeout=0) for i in range(3)
    ]
    with agent_thread(limit=1):
        for run in runs:
            assert wait_final(run.id).state_type is StateType.COMPLETED
    spans = sorted(
        (
            float((marks / f"start-{i}").read_text().split()[0]),
            float((marks / f"end-{i}").read_text()),
        )
        for i in range(3)
    )
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))


def test_paused_work_queues_are_not_run(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", SLEEPER, "sleeper", work_queue_name="slow")
    client = get_client()
    client.update_work_queue("slow", WorkQueueUpdate(is_paused=True))
    run = run_deployment("sleeper/dep", {"seconds": 0, "tag": "p"}, timeout=0)
    with agent_thread("slow") as agent:
        wait_for(lambda: client.read_work_queue_by_name("slow").last_polled, what="a poll")
        agent.run_once()
        assert read_run(run.id).state_type is StateType.SCHEDULED
        client.update_work_queue("slow", WorkQueueUpdate(is_paused=False))
        assert wait_final(run.id).state_type is StateType.COMPLETED


def test_cancelling_a_running_run_stops_its_process_group(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", SLEEPER, "sleeper")
    run = run_deployment("sleeper/dep", {"seconds": 120, "tag": "c"}, timeout=0)
    client = get_client()
    with agent_thread(cancel_grace_seconds=10):
        wait_for(lambda: (marks / "start-c").exists(), what="the flow to start")
        pid = int((marks / "start-c").read_text().split()[1])
        result = client.set_flow_run_state(run.id, StateCreate(type=StateType.CANCELLING))
        assert result.status == "ACCEPT"
        done = wait_final(run.id)
    assert done.state_type is StateType.CANCELLED
    assert (marks / "cancel-hook").read_text() == "Cancelled"
    assert not (marks / "end-c").exists()
    wait_for(lambda: not pid_alive(pid), timeout=10, what="the flow process to exit")


def test_a_scheduled_run_is_cancelled_directly(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", SLEEPER, "sleeper")
    later = datetime.now(UTC) + timedelta(hours=1)
    run = run_deployment("sleeper/dep", {"seconds": 0, "tag": "s"}, timeout=0, scheduled_time=later)
    client = get_client()
    result = client.set_flow_run_state(run.id, StateCreate(type=StateType.CANCELLED))
    assert result.status == "ACCEPT"
    assert (
        client.claim_flow_runs(
            ClaimRequest(work_queue_names=["default"], scheduled_before=later + timedelta(hours=1))
        )
        == []
    )


def test_a_claimed_run_cancelled_before_it_starts_is_not_started(
    tmp_path: Path, marks: Path
) -> None:
    deploy(tmp_path / "code", SLEEPER, "sleeper")
    soon = datetime.now(UTC) + timedelta(seconds=3)
    run = run_deployment("sleeper/dep", {"seconds": 0, "tag": "x"}, timeout=0, scheduled_time=soon)
    with agent_thread(prefetch_seconds=60) as agent:
        wait_for(lambda: run.id in agent.slots, what="the agent to claim the run")
        assert read_run(run.id).state_type is StateType.PENDING
        get_client().set_flow_run_state(run.id, StateCreate(type=StateType.CANCELLED))
        wait_for(lambda: run.id not in agent.slots, what="the agent to drop the run")
    assert not (marks / "start-x").exists()


FLAKY = """
import os, time
from pathlib import Path
from tideflow import flow

@flow(retries=1)
def flaky():
    marks = Path(os.environ["MARKS"])
    first = marks / "first-attempt"
    if not first.exists():
        first.write_text(str(os.getpid()))
        time.sleep(300)
    (marks / "second-attempt").write_text(str(os.getpid()))
    return "ok"
"""


def test_a_killed_flow_process_is_crashed_and_retried(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", FLAKY, "flaky")
    run = run_deployment("flaky/dep", timeout=0)
    with agent_thread():
        wait_for(lambda: (marks / "first-attempt").exists(), what="the first attempt")
        os.kill(int((marks / "first-attempt").read_text()), signal.SIGKILL)
        done = wait_final(run.id, timeout=90)
    assert done.state_type is StateType.COMPLETED
    names = [s.name for s in get_client().read_flow_run_states(run.id)]
    assert "Crashed" in names and names.index("Crashed") < names.index("AwaitingRetry")
    crashed = next(s for s in get_client().read_flow_run_states(run.id) if s.name == "Crashed")
    assert "killed by SIGKILL" in (crashed.message or "")
    assert (marks / "second-attempt").exists()
