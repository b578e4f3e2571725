"""``CrashDetectorService``: runs whose process died are marked ``Crashed``.

A running flow run heartbeats from its process every ``TIDEFLOW_HEARTBEAT_SECONDS``
(default 30). A Running run whose last heartbeat is older than
``TIDEFLOW_CRASH_AFTER_SECONDS`` (default 90) is marked Crashed and, when it belongs to
a deployment and has retries left, AwaitingRetry so an agent runs it again. A
Cancelling run that goes silent ends Cancelled; a run an agent claimed but never
started (the agent died) goes back to its queue.

The bound: a dead process's run is Crashed at most ``crash_after + interval`` seconds
after its last heartbeat, where ``interval`` defaults to a third of ``crash_after``
(at most 10 s) -- under 100 s with the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tideflow.server.database.engine import Database
from tideflow.server.models import run_recovery
from tideflow.server.services.base import Service
from tideflow.settings import get_settings
from tideflow.states import now_utc

_log = logging.getLogger("tideflow.server.services.crash_detector")


class CrashDetectorService(Service):
    """Marks silent runs Crashed and retries them (see the module doc)."""

    interval = 10.0

    def __init__(
        self,
        database: Database,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] = now_utc,
        crash_after_seconds: float | None = None,
    ) -> None:
        crash_after = crash_after_seconds or get_settings().crash_after_seconds
        if interval is None:
            interval = min(self.interval, max(crash_after / 3, 0.05))
        super().__init__(database, interval=interval, clock=clock)
        self.crash_after = timedelta(seconds=crash_after)

    def run_once(self, now: datetime | None = None) -> None:
        """One pass at ``now`` (default: the service's clock)."""
        self.run_pass(now)

    def run_pass(self, now: datetime | None = None) -> run_recovery.RecoveryReport:
        """One pass: crash, retry, cancel or release the silent runs."""
        now = now or self.clock()
        with self.database.write() as conn:
            report = run_recovery.detect_crashed_runs(conn, now, self.crash_after)
        for run_id in report.crashed:
            retried = " and scheduled a retry" if run_id in report.retried else ""
            _log.warning("Flow run %s stopped heartbeating: marked Crashed%s", run_id, retried)
        return report
