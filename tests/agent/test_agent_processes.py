"""Agents as real ``tideflow agent start`` processes: SIGTERM, SIGKILL, two agents on one
queue, and a killed flow process found by the crash detector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from deploykit import AgentProcess, deploy, pid_alive, read_run, wait_final, wait_for
from tideflow.client import get_client
from tideflow.deployments import run_deployment
from tideflow.server.services.crash_detector import CrashDetectorService
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

WORKER = """
import os, time
from pathlib import Path
from tideflow import flow

@flow(log_prints=False)
def worker(tag: str, seconds: float = 0.0):
    marks = Path(os.environ["MARKS"])
    (marks / f"pid-{tag}").write_text(str(os.getpid()))
    time.sleep(seconds)
    with open(marks / "executions.log", "a") as fh:
        fh.write(f"{tag}\\n")
    return tag
"""


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    monkeypatch.setenv("MARKS", str(path))
    # Short heartbeats so a dead flow process is noticed quickly.
    monkeypatch.setenv("TIDEFLOW_HEARTBEAT_SECONDS", "0.5")
    return path


def test_two_agents_run_each_run_exactly_once(tmp_path: Path, marks: Path) -> None:
    deploy(tmp_path / "code", WORKER, "worker")
    runs = [run_deployment("worker/dep", {"tag": f"r{i}"}, timeout=0) for i in range(12)]
    agents = [AgentProcess(tmp_path / "agents", args=["--limit", "3"]) for _ in range(2)]
    try:
        for run in runs:
            assert wait_final(run.id, timeout=120).state_type is StateType.COMPLETED
    finally:
        for agent in agents:
            agent.signal(signal.SIGTERM)
        for agent in agents:
            agent.wait()
    executions = Counter((marks / "executions.log").read_text().split())
    assert executions == Counter({f"r{i}": 1 for i in range(12)})
    claimants = {
        state.message
        for run in runs
        for state in get_client().read_flow_run_states(run.id)
        if state.name == "Pending"
    }
    assert len(claimants) >= 1  # (both agents usually share the work; never a run)


def test_sigterm_lets_running_flows_finish_then_abandons_the_rest(
    tmp_path: Path, marks: Path
) -> None:
    deploy(tmp_path / "code", WORKER, "worker")
    quick = run_deployment("worker/dep", {"tag": "quick", "seconds": 1.5}, timeout=0)
    agent = AgentProcess(tmp_path / "agents", args=["--shutdown-grace", "20"])
    try:
        wait_for(lambda: (marks / "pid-quick").exists(), what="the flow to start")
        agent.signal(signal.SIGTERM)
        assert agent.wait() == 0
    finally:
        agent.stop()
    assert read_run(quick.id).state_type is StateType.COMPLETED

    slow = run_deployment("worker/dep", {"tag": "slow", "seconds": 300}, timeout=0)
    agent = AgentProcess(tmp_path / "agents", args=["--shutdown-grace", "1"])
    try:
        wait_for(lambda: (marks / "pid-slow").exists(), what="the slow flow to start")
        pid = int((marks / "pid-slow").read_text())
        agent.signal(signal.SIGTERM)
        assert agent.wait() == 0
    finally:
        agent.stop()
    done = read_run(slow.id)
    assert done.state_type is StateType.CRASHED
    assert not pid_alive(pid)
    messages = [s.message or "" for s in get_client().read_flow_run_states(slow.id)]
    assert any("interrupted" in m or "Abandoned" in m for m in messages), messages


def test_sigkill_of_the_agent_kills_its_flows_and_the_crash_detector_marks_them(
    tmp_path: Path, marks: Path
) -> None:
    deploy(tmp_path / "code", WORKER, "worker")
    run = run_deployment("worker/dep", {"tag": "orphan", "seconds": 300}, timeout=0)
    agent = AgentProcess(tmp_path / "agents")
    try:
        wait_for(lambda: (marks / "pid-orphan").exists(), what="the flow to start")
        wait_for(
            lambda: read_run(run.id).state_type is StateType.RUNNING, what="the run to be Running"
        )
        pid = int((marks / "pid-orphan").read_text())
        agent.signal(signal.SIGKILL)
        agent.wait()
    finally:
        agent.stop()
    # The flow process notices its agent is gone and kills its own process group.
    wait_for(lambda: not pid_alive(pid), timeout=15, what="the orphaned flow process to exit")
    assert read_run(run.id).state_type is StateType.RUNNING
    detector = CrashDetectorService(get_client().db, crash_after_seconds=2)  # type: ignore[attr-defined]
    wait_for(lambda: detector.run_pass().crashed, timeout=30, what="the crash detector")
    assert read_run(run.id).state_type is StateType.CRASHED


def test_a_killed_flow_process_without_an_agent_is_found_by_the_crash_detector(
    tmp_path: Path, marks: Path
) -> None:
    deploy(tmp_path / "code", WORKER, "worker")
    run = run_deployment("worker/dep", {"tag": "alone", "seconds": 300}, timeout=0)
    process = subprocess.Popen(
        [sys.executable, "-m", "tideflow.agent.run_flow", run.id],
        cwd=tmp_path / "code",
        start_new_session=True,
    )
    try:
        wait_for(lambda: read_run(run.id).state_type is StateType.RUNNING, what="the run to start")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        killed_at = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
    detector = CrashDetectorService(get_client().db, crash_after_seconds=2)  # type: ignore[attr-defined]
    wait_for(lambda: detector.run_pass().crashed, timeout=30, what="the crash detector")
    # Crashed within the bound: crash_after (2 s) after the last heartbeat (<= 0.5 s before
    # the kill), plus this test's polling.
    assert time.monotonic() - killed_at < 10
    crashed = read_run(run.id)
    assert crashed.state_type is StateType.CRASHED
    assert "No heartbeat" in (crashed.state_message or "")
