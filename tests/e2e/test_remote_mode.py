"""Remote mode end to end: flows in subprocesses report to a real server subprocess.

Nothing lost, nothing twice: every task run and log line a flow makes arrives exactly
once, also when the server is SIGKILLed and restarted mid-flow, when ten processes
write at once to one SQLite server, and when a flow has 100,000 tasks. And no per-task
HTTP round trip: the server's access log counts the requests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from serverkit import ServerProcess, empty_database, wait_for
from tideflow.client.http import HttpClient
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

FLOW = '''
import os, sys, time
from pathlib import Path
from tideflow import flow, task, get_run_logger

GATES = Path(os.environ.get("GATES", "."))
LOG_EVERY = int(os.environ.get("LOG_EVERY", "1"))

def wait_for_gate(name):
    """Let the test act (kill or restart the server) at a known point of the flow."""
    (GATES / f"at-{name}").write_text("")
    deadline = time.monotonic() + 120
    while not (GATES / name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} never opened")
        time.sleep(0.01)

@task
def step(i: int) -> int:
    if i % LOG_EVERY == 0:
        get_run_logger().info("step %d", i)
    return i

@flow(name=os.environ.get("FLOW_NAME", "remote"))
def remote(n: int, gates: str = "") -> int:
    get_run_logger().info("flow starts with %d steps", n)
    total = 0
    for i in range(n):
        total += step(i)
        for gate in gates.split(","):
            if gate and i == int(gate.split(":")[1]):
                wait_for_gate(gate.split(":")[0])
    return total

if __name__ == "__main__":
    n = int(sys.argv[1])
    assert remote(n, sys.argv[2] if len(sys.argv) > 2 else "") == n * (n - 1) // 2
'''


@pytest.fixture
def server(sqlite_url: str, sqlite_server: ServerProcess) -> ServerProcess:
    """The session's SQLite server subprocess, on an emptied database."""
    empty_database(sqlite_url)
    return sqlite_server


def _flow_env(tmp_path: Path, server: ServerProcess, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "TIDEFLOW_HOME": str(tmp_path / "flow-home"),
        "TIDEFLOW_API_URL": server.url,
        "TIDEFLOW_LOGGING_LEVEL": "WARNING",
        "GATES": str(tmp_path),
        **extra,
    }
    env.pop("TIDEFLOW_DATABASE_URL", None)
    return env


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "remote_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def _run_flow(tmp_path: Path, server: ServerProcess, n: int, **extra: str) -> None:
    done = subprocess.run(
        [sys.executable, str(_script(tmp_path)), str(n)],
        env=_flow_env(tmp_path, server, **extra),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _assert_recorded_exactly_once(client: HttpClient, flow_name: str, n: int) -> None:
    (run,) = client.read_flow_runs(FlowRunFilter(flow_name_any=[flow_name]))
    assert run.state_type is StateType.COMPLETED
    task_runs = client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    assert len(task_runs) == n
    assert {t.state_type for t in task_runs} == {StateType.COMPLETED}
    for task_run in task_runs:
        assert [s.type for s in task_run.state_history] == [
            StateType.PENDING,
            StateType.RUNNING,
            StateType.COMPLETED,
        ]
    lines = client.read_logs(LogFilter(flow_run_id_any=[run.id]), limit=None)  # type: ignore[arg-type]
    steps = Counter(line.message for line in lines if line.message.startswith("step "))
    assert steps == Counter(f"step {i}" for i in range(n))
    assert sum(1 for line in lines if line.message.startswith("flow starts")) == 1
    by_task = Counter(line.task_run_id for line in lines if line.message.startswith("step "))
    assert set(by_task) == {t.id for t in task_runs}


def _api_requests(log: str) -> Counter[str]:
    """``POST /api/task_runs/batch`` -> count, from uvicorn's access log."""
    found = re.findall(r'"(GET|POST|DELETE) (/api/[^ ?"]*)', log)
    return Counter(f"{method} {path}" for method, path in found if path != "/api/health")


def test_a_remote_flow_is_recorded_on_both_databases(
    tmp_path: Path, database_url: str, server_process: Callable[..., ServerProcess]
) -> None:
    server = server_process(database_url)
    _run_flow(tmp_path, server, 50, FLOW_NAME="both-databases")
    with HttpClient(server.url) as client:
        _assert_recorded_exactly_once(client, "both-databases", 50)
        (run,) = client.read_flow_runs()
        assert run.parameters == {"n": 50, "gates": ""}
        assert [s.name for s in client.read_flow_run_states(run.id)] == [
            "Pending",
            "Running",
            "Completed",
        ]


def test_flow_reports_to_the_server_without_a_request_per_task(
    tmp_path: Path, server: ServerProcess
) -> None:
    n = 2000
    before = len(server.log())
    _run_flow(tmp_path, server, n, FLOW_NAME="few-requests")
    with HttpClient(server.url) as client:
        _assert_recorded_exactly_once(client, "few-requests", n)
    requests = _api_requests(server.log()[before:])
    batches = requests["POST /api/task_runs/batch"]
    assert batches >= 1
    # create run, Running, Completed, the batches, and little else: far below one per task
    assert sum(requests.values()) <= 10 + batches, requests
    assert batches <= n // 20, requests


def test_kill_and_restart_the_server_mid_flow_loses_and_duplicates_nothing(
    tmp_path: Path, server_process: Callable[..., ServerProcess]
) -> None:
    database_url = f"sqlite:///{tmp_path / 'restart.db'}"
    server = server_process(database_url)
    n = 300
    flow = subprocess.Popen(
        [sys.executable, str(_script(tmp_path)), str(n), "killed:100,restarted:200"],
        env=_flow_env(tmp_path, server, FLOW_NAME="survivor"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (tmp_path / "at-killed").exists(), what="the flow's first 100 steps")
        with HttpClient(server.url) as client:
            wait_for(
                lambda: len(client.read_task_runs(limit=None)) >= 50,
                what="some task runs on the server before the kill",
            )
        server.kill()
        (tmp_path / "killed").write_text("")  # steps 101-200 run with the server down
        wait_for(lambda: (tmp_path / "at-restarted").exists(), what="steps 101-200")
        server.start()
        (tmp_path / "restarted").write_text("")
        _, stderr = flow.communicate(timeout=300)
    finally:
        if flow.poll() is None:
            flow.kill()
    assert flow.returncode == 0, stderr[-3000:]
    with HttpClient(server.url) as client:
        _assert_recorded_exactly_once(client, "survivor", n)
    # and straight from the database: no duplicate rows of any kind
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM task_run")).scalar() == n
        assert (
            conn.execute(text("SELECT count(*) FROM log WHERE message LIKE 'step %'")).scalar() == n
        )
        states = conn.execute(text("SELECT type FROM flow_run_state ORDER BY timestamp")).scalars()
        assert list(states) == ["PENDING", "RUNNING", "COMPLETED"]
    engine.dispose()
    assert server.starts == 2


def test_ten_processes_against_one_sqlite_server(tmp_path: Path, server: ServerProcess) -> None:
    n, processes = 300, 10
    script = _script(tmp_path)
    for i in range(processes):
        (tmp_path / f"p{i}").mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(n)],
            env=_flow_env(tmp_path / f"p{i}", server, FLOW_NAME=f"parallel-{i}"),
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    errors = [proc.communicate(timeout=600)[1] for proc in procs]
    for proc, stderr in zip(procs, errors, strict=True):
        assert proc.returncode == 0, stderr[-3000:]
        assert "database is locked" not in stderr
    assert "database is locked" not in server.log()
    with HttpClient(server.url) as client:
        for i in range(processes):
            _assert_recorded_exactly_once(client, f"parallel-{i}", n)


@pytest.mark.slow
def test_a_100000_task_flow_records_everything(
    tmp_path: Path, server: ServerProcess, sqlite_url: str
) -> None:
    n = 100_000
    _run_flow(tmp_path, server, n, FLOW_NAME="huge", LOG_EVERY="10")
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        (run_id, state) = conn.execute(
            text("SELECT id, state_type FROM flow_run WHERE name IS NOT NULL")
        ).one()
        assert state == "COMPLETED"
        counts = dict(
            conn.execute(
                text("SELECT state_type, count(*) FROM task_run WHERE flow_run_id = :r GROUP BY 1"),
                {"r": run_id},
            ).all()
        )
        assert counts == {"COMPLETED": n}
        lines = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT message) FROM log "
                "WHERE flow_run_id = :r AND message LIKE 'step %'"
            ),
            {"r": run_id},
        ).one()
        assert tuple(lines) == (n // 10, n // 10)
    engine.dispose()
