"""Helpers for deployment, agent and end-to-end tests: write a flow file, deploy it, run
agents (in a thread, or as ``tideflow agent start`` subprocesses), wait for states.

Everything polls with a deadline; nothing sleeps to wait.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serverkit import wait_for
from tideflow.agent import Agent
from tideflow.agent.code import load_flow_from_entrypoint
from tideflow.client import get_client
from tideflow.deployments import Deployment
from tideflow.schemas.core import FlowRun
from tideflow.states import TERMINAL_STATES

__all__ = [
    "AgentProcess",
    "agent_thread",
    "deploy",
    "pid_alive",
    "read_run",
    "wait_final",
    "wait_for",
    "write_flow",
]


def write_flow(directory: Path, source: str, filename: str = "flows.py") -> Path:
    """Write a flow module (dedented) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def deploy(
    directory: Path,
    source: str,
    function: str,
    name: str = "dep",
    *,
    filename: str = "flows.py",
    **build: Any,
) -> Deployment:
    """Write ``source``, import ``function`` from it, build and apply a deployment."""
    write_flow(directory, source, filename)
    flow = load_flow_from_entrypoint(f"{filename}:{function}", directory)
    deployment = Deployment.build_from_flow(flow, name, **build)
    deployment.apply()
    return deployment


def read_run(run_id: str) -> FlowRun:
    return get_client().read_flow_run(run_id)


def wait_final(run_id: str, timeout: float = 60) -> FlowRun:
    """Poll until the run is in a final state; returns it."""

    def final() -> FlowRun | None:
        run = read_run(run_id)
        return run if run.state_type in TERMINAL_STATES else None

    result: FlowRun = wait_for(final, timeout=timeout, what=f"flow run {run_id} to finish")
    return result


@contextmanager
def agent_thread(*queues: str, **options: Any) -> Iterator[Agent]:
    """An ``Agent`` looping on a thread of this process (its flows run as subprocesses)."""
    options.setdefault("poll_interval", 0.1)
    options.setdefault("shutdown_grace_seconds", 10)
    agent = Agent(list(queues) or ["default"], **options)
    thread = threading.Thread(target=agent.start, daemon=True)
    thread.start()
    try:
        yield agent
    finally:
        agent.stop()
        thread.join(60)


class AgentProcess:
    """``tideflow agent start`` as a subprocess in its own session (so signals to it do
    not reach the test), output in a log file."""

    def __init__(self, workdir: Path, *queues: str, args: list[str] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"agent-{len(list(workdir.glob('agent-*.log')))}.log"
        cmd = [
            sys.executable, "-m", "tideflow.cli.main", "agent", "start",
            *[a for q in (queues or ("default",)) for a in ("-q", q)],
            "--poll-interval", "0.2", *(args or []),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TIDEFLOW_LOGGING_LEVEL": "INFO"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return True
    return status != "Z"
