"""The seed's "Getting Started" sequence, end to end with real processes:

    tideflow deployment build hello_flow.py:hello_flow -n my-first-deployment -q default
    tideflow deployment apply hello_flow-deployment.yaml
    tideflow deployment run hello-flow/my-first-deployment
    tideflow agent start -q default

first on the embedded store, then against a ``tideflow server start`` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from deploykit import AgentProcess, wait_for, write_flow
from serverkit import ServerProcess
from tideflow.client.http import HttpClient
from tideflow.settings import reload_settings
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

HELLO_FLOW = """
from tideflow import task, flow

@task
def say_hello(name):
    return f"Hello, {name}!"

@flow
def hello_flow(name="world"):
    result = say_hello(name)
    print(result)
    return result

if __name__ == "__main__":
    hello_flow("MLOps Zoomcamp")
"""


def _cli(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tideflow.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, f"tideflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _getting_started(workdir: Path) -> None:
    write_flow(workdir, HELLO_FLOW, "hello_flow.py")
    _cli(workdir, "deployment", "build", "hello_flow.py:hello_flow",
         "-n", "my-first-deployment", "-q", "default")  # fmt: skip
    definition = yaml.safe_load((workdir / "hello_flow-deployment.yaml").read_text())
    assert definition["flow_name"] == "hello-flow"
    assert definition["entrypoint"] == "hello_flow.py:hello_flow"
    assert definition["work_queue_name"] == "default"
    _cli(workdir, "deployment", "apply", "hello_flow-deployment.yaml")
    assert "hello-flow/my-first-deployment" in _cli(workdir, "deployment", "ls")
    out = _cli(workdir, "deployment", "run", "hello-flow/my-first-deployment", "-p", "name=seed")
    assert "Created flow run" in out
    agent = AgentProcess(workdir / "agent", "default")
    try:

        def completed() -> str | None:
            listing = _cli(workdir, "flow-run", "ls")
            return listing if "Completed" in listing else None

        listing = wait_for(completed, timeout=90, what="the run to complete")
        assert "hello-flow" in listing
        wait_for(lambda: "Hello, seed!" in agent.log(), timeout=30, what="the flow's output")
        agent.signal(signal.SIGTERM)
        assert agent.wait() == 0
    finally:
        agent.stop()


def test_getting_started_on_the_embedded_store(tmp_path: Path) -> None:
    _getting_started(tmp_path / "project")


def test_getting_started_against_a_server(
    tmp_path: Path,
    database_url: str,
    server_process: Callable[..., ServerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against ``tideflow server start`` on SQLite and on PostgreSQL."""
    server = server_process(database_url)
    monkeypatch.setenv("TIDEFLOW_API_URL", server.url)
    reload_settings()
    _getting_started(tmp_path / "project")
    with HttpClient(server.url) as client:
        runs = client.read_flow_runs()
        assert [r.state_type for r in runs] == [StateType.COMPLETED]
        assert runs[0].parameters == {"name": "seed"}
        assert client.read_deployment_by_name("hello-flow/my-first-deployment").work_queue_name == (
            "default"
        )
