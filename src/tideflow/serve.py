"""``flow.serve(...)``: deploy a flow and run its runs in this process.

``serve`` registers a deployment of the flow on a work queue of its own
(``serve:FLOW:NAME``), then loops: it keeps the schedule's upcoming runs materialised
(so no server is needed), claims the runs that are due (scheduled ones, and those
started with ``tideflow deployment run`` or ``run_deployment``) and runs each on a
thread of this process. It stops on SIGINT/SIGTERM (when called from the main thread),
when ``stop_event`` is set, or after ``max_runs`` runs; running flows then get
``shutdown_grace_seconds`` to finish before they are interrupted (recorded Crashed).

Cancelling a served run that is running raises ``CancelledRun`` inside its thread at
the next Python bytecode (code blocked in a C call stops when the call returns); the
run ends Cancelled and its ``on_cancellation`` hooks run.

Example:
    >>> from tideflow import flow
    >>> @flow
    ... def hello(name: str = "world") -> str:
    ...     return f"Hello, {name}!"
    >>> hello.serve("hello-every-hour", interval=3600)  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
import time
from datetime import timedelta
from typing import Any

from tideflow.client import OrchestrationClient, get_client
from tideflow.deployments import Deployment
from tideflow.engine.flow_engine import run_existing_flow_run
from tideflow.exceptions import CancelledRun, OrchestrationRejected
from tideflow.flows import Flow
from tideflow.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import ClaimRequest
from tideflow.schemas.filters import FlowRunFilter
from tideflow.states import StateType, now_utc

_log = logging.getLogger("tideflow.serve")

__all__ = ["serve"]


def _schedule(
    cron: str | None, interval: Any, rrule: str | None, timezone: str | None
) -> CronSchedule | IntervalSchedule | RRuleSchedule | None:
    given = [k for k, v in (("cron", cron), ("interval", interval), ("rrule", rrule)) if v]
    if len(given) > 1:
        raise ValueError(f"serve() takes one of cron, interval and rrule, got {given}")
    if cron:
        return CronSchedule(cron, timezone=timezone)
    if interval:
        if not isinstance(interval, timedelta):
            interval = timedelta(seconds=float(interval))
        return IntervalSchedule(interval=interval, timezone=timezone)
    if rrule:
        return RRuleSchedule(rrule, timezone=timezone)
    return None


def _raise_in_thread(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(exc_type)
        )


class _Server:
    def __init__(
        self,
        flow: Flow[..., Any],
        deployment_id: str,
        queue: str,
        client: OrchestrationClient,
        limit: int | None,
        poll_interval: float,
        schedule_interval: float,
    ) -> None:
        self.flow = flow
        self.deployment_id = deployment_id
        self.queue = queue
        self.client = client
        self.limit = limit
        self.poll_interval = poll_interval
        self.schedule_interval = schedule_interval
        self.active: dict[str, threading.Thread] = {}
        self.cancelling: set[str] = set()
        self.finished = 0
        self._last_schedule = 0.0

    def run_once(self) -> None:
        for run_id, thread in list(self.active.items()):
            if not thread.is_alive():
                del self.active[run_id]
                self.cancelling.discard(run_id)
                self.finished += 1
        self._watch_cancellations()
        if time.monotonic() - self._last_schedule >= self.schedule_interval:
            self.client.schedule_deployment_runs(self.deployment_id)
            self._last_schedule = time.monotonic()
        room = 10 if self.limit is None else self.limit - len(self.active)
        if room <= 0:
            return
        claimed = self.client.claim_flow_runs(
            ClaimRequest(
                work_queue_names=[self.queue],
                scheduled_before=now_utc(),
                limit=room,
                claimant=f"serve {self.flow.name}",
            )
        )
        for run in claimed:
            thread = threading.Thread(
                target=self._execute, args=(run,), name=f"tideflow-serve-{run.name}", daemon=True
            )
            self.active[run.id] = thread
            thread.start()

    def _watch_cancellations(self) -> None:
        if not self.active:
            return
        runs = self.client.read_flow_runs(
            FlowRunFilter(id_any=list(self.active), state_type_any=[StateType.CANCELLING]),
            limit=len(self.active),
        )
        for run in runs:
            if run.id not in self.cancelling:
                _log.info("Cancelling served flow run %r", run.name)
                self.cancelling.add(run.id)
                _raise_in_thread(self.active[run.id], CancelledRun)

    def _execute(self, run: FlowRun) -> None:
        try:
            run_existing_flow_run(self.flow, run)
        except OrchestrationRejected as exc:
            _log.info("Not running flow run %r: %s", run.name, exc)
        except CancelledRun:
            self.client.set_flow_run_state(run.id, _cancelled("cancelled before the flow started"))
        except BaseException as exc:  # KeyboardInterrupt from shutdown: recorded Crashed
            _log.warning("Served flow run %r stopped: %r", run.name, exc)

    def shutdown(self, grace_seconds: float) -> None:
        deadline = time.monotonic() + grace_seconds
        for thread in list(self.active.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        for thread in self.active.values():
            _raise_in_thread(thread, KeyboardInterrupt)
        for thread in self.active.values():
            thread.join(10)


def _cancelled(message: str) -> Any:
    from tideflow.schemas.actions import StateCreate

    return StateCreate(type=StateType.CANCELLED, message=f"Flow run was cancelled: {message}")


def serve(
    flow: Flow[..., Any],
    name: str,
    *,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    parameters: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    description: str | None = None,
    version: str | None = None,
    limit: int | None = None,
    poll_interval: float = 1.0,
    schedule_interval: float = 10.0,
    stop_event: threading.Event | None = None,
    max_runs: int | None = None,
    shutdown_grace_seconds: float = 30.0,
    client: OrchestrationClient | None = None,
) -> str:
    """Deploy ``flow`` as ``name`` and run its runs here until stopped (see module doc).

    Args:
        flow: the flow to serve.
        name: the deployment's name (``FLOW/NAME`` for ``deployment run``).
        cron, interval, rrule, timezone: an optional schedule (one kind at most).
        parameters: default parameters, checked against the flow's signature.
        limit: most runs executing at once (default: no limit).
        poll_interval: seconds between checks for due runs.
        stop_event: set it (from another thread) to stop serving.
        max_runs: stop after this many runs have finished.

    Returns:
        The deployment's id, once serving has stopped.
    """
    client = client or get_client()
    deployment = Deployment.build_from_flow(
        flow,
        name,
        version=version,
        schedule=_schedule(cron, interval, rrule, timezone),
        tags=tags,
        parameters=parameters,
        description=description,
        work_queue_name=f"serve:{flow.name}:{name}",
    )
    deployment_id = deployment.apply(client=client)
    server = _Server(
        flow,
        deployment_id,
        deployment.work_queue_name,
        client,
        limit,
        poll_interval,
        schedule_interval,
    )
    stop = stop_event or threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    _log.info(
        "Serving %s; start a run with: tideflow deployment run '%s'",
        deployment.full_name,
        deployment.full_name,
    )
    try:
        while not stop.is_set():
            try:
                server.run_once()
            except Exception:
                _log.exception("Serve loop pass failed; retrying in %.1fs", poll_interval)
            if max_runs is not None and server.finished >= max_runs:
                break
            stop.wait(poll_interval)
    finally:
        server.shutdown(shutdown_grace_seconds)
        for number, handler in previous.items():
            signal.signal(number, handler)
    return deployment_id
