"""``Process``: run a flow run as a local subprocess (``prefect.infrastructure.Process``).

The subprocess is started in its own session, so it leads its own process group: the
agent stops the flow *and everything the flow started* with one signal to the group
(``ProcessHandle.terminate``: SIGTERM, a grace period, then SIGKILL). Output (stdout and
stderr, merged) is forwarded line by line while the process runs.

Signals the flow process understands (see ``tideflow.agent.run_flow``): SIGTERM cancels
the run (it ends ``Cancelled`` and ``on_cancellation`` hooks run), SIGINT interrupts it
(it ends ``Crashed`` and ``on_crashed`` hooks run).

Example:
    >>> import sys
    >>> from tideflow.infrastructure.process import Process
    >>> lines = []
    >>> handle = Process(command=[sys.executable, "-c", "print('hi')"]).start(
    ...     env={}, output=lines.append
    ... )
    >>> handle.wait(30), lines
    (0, ['hi'])
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field

OutputSink = Callable[[str], None]


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Process(BaseModel):
    """Run the flow in a local subprocess.

    Args:
        env: extra environment variables for the flow process (added to the agent's).
        working_dir: directory to run in; default the flow's code directory.
        stream_output: forward the process's output to the agent's stdout.
        command: the command to run; default ``python -m tideflow.agent.run_flow``
            (the flow run id is passed in ``TIDEFLOW_FLOW_RUN_ID``).
        name: an optional label shown in logs.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["process"] = "process"
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    stream_output: bool = True
    command: list[str] | None = None
    name: str | None = None

    def default_command(self, flow_run_id: str | None = None) -> list[str]:
        """The command that runs one flow run."""
        if self.command:
            return list(self.command)
        command = [sys.executable, "-m", "tideflow.agent.run_flow"]
        return [*command, flow_run_id] if flow_run_id else command

    def start(
        self,
        flow_run_id: str | None = None,
        *,
        working_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        output: OutputSink | None = None,
    ) -> ProcessHandle:
        """Start the process; returns at once with its handle.

        Args:
            flow_run_id: the run to execute (set as ``TIDEFLOW_FLOW_RUN_ID``).
            working_dir: used when the block sets none.
            env: the base environment (default: this process's); ``self.env`` is added.
            output: receives each output line (default: printed to stdout). Ignored
                when ``stream_output`` is false.
        """
        environment = dict(os.environ if env is None else env)
        environment.update(self.env)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        if flow_run_id:
            environment["TIDEFLOW_FLOW_RUN_ID"] = flow_run_id
        cwd = self.working_dir or working_dir
        if cwd is not None and not Path(cwd).is_dir():
            raise FileNotFoundError(f"Process working_dir {str(cwd)!r} is not a directory")
        popen = subprocess.Popen(
            self.default_command(flow_run_id),
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if self.stream_output else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self.stream_output else subprocess.DEVNULL,
            start_new_session=True,
        )
        sink = (output or _print_line) if self.stream_output else None
        return ProcessHandle(popen, sink)


class ProcessHandle:
    """A started flow process: its pid, its exit, and how to stop it."""

    def __init__(self, popen: subprocess.Popen[bytes], output: OutputSink | None) -> None:
        self.popen = popen
        self.pid = popen.pid
        self._reader: threading.Thread | None = None
        if output is not None and popen.stdout is not None:
            self._reader = threading.Thread(
                target=self._forward, args=(popen.stdout, output), daemon=True,
                name=f"tideflow-output-{popen.pid}",
            )  # fmt: skip
            self._reader.start()

    @staticmethod
    def _forward(stream: IO[bytes], output: OutputSink) -> None:
        for raw in iter(stream.readline, b""):
            # A failing sink must not stop the reading: the child would block on a full pipe.
            with contextlib.suppress(Exception):
                output(raw.decode(errors="replace").rstrip("\r\n"))
        stream.close()

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: killed by that signal), None while running."""
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds; the exit code, or None if still running."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(5)
        return code

    def signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the process group; False if it is gone already."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def terminate(self, grace_seconds: float = 10.0, signum: int = signal.SIGTERM) -> int:
        """Stop the whole process group: ``signum``, up to ``grace_seconds``, then SIGKILL.

        Returns the exit code.
        """
        if self.returncode is None:
            self.signal_group(signum)
            deadline = time.monotonic() + grace_seconds
            while self.returncode is None and time.monotonic() < deadline:
                self.wait(0.05)
        if self.returncode is None:
            self.signal_group(signal.SIGKILL)
        else:
            # The leader is gone; make sure nothing it started outlives it.
            self.signal_group(signal.SIGKILL)
        code = self.wait()
        assert code is not None
        return code


__all__ = ["OutputSink", "Process", "ProcessHandle"]
