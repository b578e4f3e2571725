"""The agent: poll work queues, claim runs, run each in its own process, report.

One loop, one pass every ``poll_interval`` seconds (``run_once`` is one pass):

1. forget runs whose process has finished;
2. read the state of every run it holds: a run moved to Cancelling is stopped (SIGTERM
   to its process group, a grace period, SIGKILL) and ends Cancelled; a claimed run
   cancelled before it started is dropped;
3. heartbeat the runs it claimed but has not started yet (so if the agent dies, the
   crash detector hands them back to their queue);
4. start each claimed run that is due: download its code from storage (or use its local
   path), start ``python -m tideflow.agent.run_flow`` through the deployment's
   ``Process`` infrastructure, forward its output, record its pid;
5. claim more runs due within ``prefetch_seconds``, up to ``limit`` runs held at once.

A flow process that dies without reporting a final state is recorded Crashed at once
(and rescheduled when it has retries left). Stopping (SIGTERM/SIGINT to the agent, or
``stop()``): the agent claims nothing more, hands back runs it has not started, lets
running flows finish for ``shutdown_grace_seconds``, then interrupts the rest (SIGINT,
then SIGKILL) and records them Crashed ("abandoned"). If the agent is killed outright
(SIGKILL), its flow processes notice within about a second and kill themselves; the
crash detector then marks their runs Crashed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tideflow.agent._exits import EXIT_NOT_CLAIMED
from tideflow.agent.code import FlowLoadError, prepare_code
from tideflow.client import OrchestrationClient, get_client
from tideflow.infrastructure.process import Process, ProcessHandle
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import ClaimRequest
from tideflow.schemas.filters import FlowRunFilter
from tideflow.states import TERMINAL_STATES, StateType, now_utc

_log = logging.getLogger("tideflow.agent")

#: how long an interrupted (abandoned) flow gets to record its state before SIGKILL
INTERRUPT_GRACE_SECONDS = 5.0


@dataclass
class _Slot:
    """One run the agent holds: claimed, then running in a process."""

    run: FlowRun
    due: datetime
    thread: threading.Thread | None = None
    handle: ProcessHandle | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None

    @property
    def started(self) -> bool:
        return self.thread is not None


class Agent:
    """Runs the flow runs of some work queues (see the module doc).

    Args:
        work_queues: the queue names to poll (created when first polled).
        limit: most runs held at once (claimed or running); None for no limit.
        prefetch_seconds: claim runs due this far ahead and start each when it is due.
        poll_interval: seconds between passes.
        cancel_grace_seconds: after SIGTERM, how long a cancelled flow may clean up.
        shutdown_grace_seconds: on stop, how long running flows may go on.
        client: the store (default: from settings).
        clock: the current time (tests may pass a settable one).
        output: receives each line of the flow processes' output (default: stdout).
        name: shown in claimed runs' state messages.
    """

    def __init__(
        self,
        work_queues: Sequence[str],
        *,
        limit: int | None = None,
        prefetch_seconds: float = 10.0,
        poll_interval: float = 5.0,
        cancel_grace_seconds: float = 10.0,
        shutdown_grace_seconds: float = 30.0,
        client: OrchestrationClient | None = None,
        clock: Callable[[], datetime] = now_utc,
        output: Callable[[str], None] | None = None,
        name: str | None = None,
    ) -> None:
        if not work_queues:
            raise ValueError("An agent needs at least one work queue (-q NAME)")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if prefetch_seconds < 0 or poll_interval <= 0:
            raise ValueError("prefetch_seconds must be >= 0 and poll_interval > 0")
        self.work_queues = list(dict.fromkeys(work_queues))
        self.limit = limit
        self.prefetch = timedelta(seconds=prefetch_seconds)
        self.poll_interval = poll_interval
        self.cancel_grace_seconds = cancel_grace_seconds
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self.client = client or get_client()
        self.clock = clock
        self.output = output
        self.name = name or f"agent {socket.gethostname()}:{os.getpid()}"
        self.slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # ------------------------------------------------------------------ the loop

    def run_once(self) -> list[FlowRun]:
        """One pass of the loop; returns the runs claimed in it."""
        now = self.clock()
        self._reap()
        self._check_states()
        self._heartbeat_waiting()
        self._start_due(now)
        if self._stop.is_set():
            return []
        claimed = self._claim(now)
        if claimed:
            self._start_due(now)
        return claimed

    def start(self, *, install_signal_handlers: bool = False) -> None:
        """Run passes until ``stop()`` (or SIGTERM/SIGINT with signal handlers), then
        shut down gracefully."""
        if install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
        _log.info(
            "Agent started on work queue(s) %s (limit %s, prefetch %ss)",
            ", ".join(self.work_queues),
            self.limit if self.limit is not None else "none",
            self.prefetch.total_seconds(),
        )
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception:
                    _log.exception("Agent pass failed; retrying in %.1fs", self.poll_interval)
                self._stop.wait(self.poll_interval)
        finally:
            self.shutdown()

    def stop(self) -> None:
        """Ask the loop to stop (it then shuts down; see ``shutdown``)."""
        self._stop.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        _log.warning("Agent received %s: stopping", signal.Signals(signum).name)
        self.stop()

    # ---------------------------------------------------------------- shutdown

    def shutdown(self, grace_seconds: float | None = None) -> None:
        """Release unstarted runs, wait for running ones, abandon the rest."""
        self._stop.set()
        grace = self.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        with self._lock:
            waiting = [s for s in self.slots.values() if not s.started]
        for slot in waiting:
            self._release(slot, "Released: its agent shut down before starting it")
        running = self._running_slots()
        if running:
            _log.info("Waiting up to %.0fs for %d running flow run(s)", grace, len(running))
        deadline = threading.Event()
        timer = threading.Timer(grace, deadline.set)
        timer.start()
        try:
            for slot in running:
                while slot.thread is not None and slot.thread.is_alive() and not deadline.is_set():
                    slot.thread.join(0.1)
        finally:
            timer.cancel()
        for slot in self._running_slots():
            slot.abandon.set()
        for slot in self._running_slots():
            if slot.thread is not None:
                slot.thread.join(INTERRUPT_GRACE_SECONDS + 30)
        self._reap()

    def _running_slots(self) -> list[_Slot]:
        with self._lock:
            return [s for s in self.slots.values() if s.thread is not None and s.thread.is_alive()]

    # ------------------------------------------------------------------ steps

    def _reap(self) -> None:
        with self._lock:
            done = [
                run_id
                for run_id, slot in self.slots.items()
                if slot.thread is not None and not slot.thread.is_alive()
            ]
            for run_id in done:
                del self.slots[run_id]

    def _check_states(self) -> None:
        with self._lock:
            ids = list(self.slots)
        if not ids:
            return
        runs = self.client.read_flow_runs(FlowRunFilter(id_any=ids), limit=len(ids))
        for run in runs:
            slot = self.slots.get(run.id)
            if slot is None:
                continue
            if run.state_type is StateType.CANCELLING and slot.started:
                if not slot.cancel.is_set():
                    _log.info("Flow run %r is being cancelled: stopping its process", run.name)
                    slot.cancel.set()
            elif not slot.started and run.state_type is not StateType.PENDING:
                # Cancelled (or otherwise moved) before we started it: not ours any more.
                _log.info("Flow run %r is now %s; not starting it", run.name, run.state_name)
                with self._lock:
                    self.slots.pop(run.id, None)

    def _heartbeat_waiting(self) -> None:
        with self._lock:
            waiting = [s for s in self.slots.values() if not s.started]
        for slot in waiting:
            try:
                self.client.heartbeat(slot.run.id)
            except Exception as exc:
                _log.warning("Heartbeat for claimed run %r failed: %s", slot.run.name, exc)

    def _start_due(self, now: datetime) -> None:
        with self._lock:
            due = [s for s in self.slots.values() if not s.started and s.due <= now]
        for slot in sorted(due, key=lambda s: s.due):
            slot.thread = threading.Thread(
                target=self._execute, args=(slot,), name=f"tideflow-run-{slot.run.name}",
                daemon=True,
            )  # fmt: skip
            slot.thread.start()

    def _claim(self, now: datetime) -> list[FlowRun]:
        with self._lock:
            held = len(self.slots)
        room = 10 if self.limit is None else self.limit - held
        if room <= 0:
            return []
        runs = self.client.claim_flow_runs(
            ClaimRequest(
                work_queue_names=self.work_queues,
                scheduled_before=now + self.prefetch,
                limit=min(room, 200),
                claimant=self.name,
            )
        )
        with self._lock:
            for run in runs:
                due = run.next_scheduled_start_time or run.expected_start_time or now
                self.slots[run.id] = _Slot(run=run, due=due)
        for run in runs:
            _log.info("Claimed flow run %r of %s", run.name, run.work_queue_name)
        return runs

    def _release(self, slot: _Slot, message: str) -> None:
        try:
            self.client.release_flow_run(slot.run.id, message)
        except Exception as exc:
            _log.warning("Could not release flow run %r: %s", slot.run.name, exc)
        with self._lock:
            self.slots.pop(slot.run.id, None)

    # -------------------------------------------------------------- one run

    def _execute(self, slot: _Slot) -> None:
        """Run one claimed flow run to the end (on its own thread)."""
        run = slot.run
        scratch: Path | None = None
        try:
            deployment = self.client.read_deployment(run.deployment_id or "")
            if deployment.storage:
                scratch = Path(tempfile.mkdtemp(prefix="tideflow-code-"))
            try:
                code_dir = prepare_code(deployment, scratch)
                infrastructure = Process.model_validate(deployment.infrastructure or {})
            except (FlowLoadError, ValueError) as exc:
                self._fail(run, f"Could not prepare flow run {run.name!r}: {exc}")
                return
            env = self._flow_environment()
            env["TIDEFLOW_AGENT_PID"] = str(os.getpid())
            env["TIDEFLOW_FLOW_CODE_DIR"] = str(code_dir)
            _log.info("Starting flow run %r of deployment %r", run.name, deployment.full_name)
            handle = infrastructure.start(run.id, working_dir=code_dir, env=env, output=self.output)
            slot.handle = handle
            try:
                self.client.set_flow_run_infrastructure_pid(
                    run.id, f"{socket.gethostname()}:{handle.pid}"
                )
            except Exception as exc:
                _log.warning("Could not record the pid of flow run %r: %s", run.name, exc)
            slot.exit_code = self._supervise(slot, handle)
            self._after_exit(slot)
        except Exception as exc:
            _log.exception("Flow run %r could not be run", run.name)
            self._crash(run, f"The agent could not run it: {type(exc).__name__}: {exc}")
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _flow_environment(self) -> dict[str, str]:
        """This process's environment, pointed at the agent's own store."""
        env = dict(os.environ)
        api_url = getattr(self.client, "api_url", None)
        database = getattr(self.client, "db", None)
        if isinstance(api_url, str):
            env["TIDEFLOW_API_URL"] = api_url
        elif database is not None and isinstance(getattr(database, "url", None), str):
            env.pop("TIDEFLOW_API_URL", None)
            env["TIDEFLOW_DATABASE_URL"] = database.url
        return env

    def _supervise(self, slot: _Slot, handle: ProcessHandle) -> int:
        while True:
            code = handle.wait(0.1)
            if code is not None:
                return code
            if slot.cancel.is_set():
                return handle.terminate(self.cancel_grace_seconds, signal.SIGTERM)
            if slot.abandon.is_set():
                return handle.terminate(INTERRUPT_GRACE_SECONDS, signal.SIGINT)

    def _after_exit(self, slot: _Slot) -> None:
        run, code = slot.run, slot.exit_code
        if code == EXIT_NOT_CLAIMED:
            return
        current = self.client.read_flow_run(run.id)
        if slot.abandon.is_set() and not slot.cancel.is_set():
            self._crash(
                run,
                f"Abandoned: the agent shut down and the flow did not finish within "
                f"{self.shutdown_grace_seconds:g}s",
            )
            return
        if current.state_type is StateType.CANCELLING:
            self.client.set_flow_run_state(
                run.id,
                StateCreate(
                    type=StateType.CANCELLED,
                    message="Cancelled: the agent terminated the flow's process group",
                ),
            )
            return
        if current.state_type in TERMINAL_STATES:
            if current.state_type is StateType.CRASHED:
                self._crash(run, current.state_message or "The flow process crashed")
            return
        self._crash(run, f"The flow process exited ({_describe_exit(code)}) before the run ended")

    def _crash(self, run: FlowRun, message: str) -> None:
        try:
            result = self.client.crash_flow_run(run.id, message)
        except Exception as exc:
            _log.warning("Could not record flow run %r as crashed: %s", run.name, exc)
            return
        if result.state is not None:
            _log.warning("Flow run %r: %s -> %s", run.name, message, result.state.name)

    def _fail(self, run: FlowRun, message: str) -> None:
        _log.error(message)
        self.client.set_flow_run_state(run.id, StateCreate(type=StateType.FAILED, message=message))


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
