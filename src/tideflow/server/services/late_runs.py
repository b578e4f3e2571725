"""``MarkLateRunsService``: Scheduled runs not started in time become ``Late``.

``Late`` is a SCHEDULED-type state: the run is still waiting for an agent, and the UI
and ``work-queue inspect`` show it stands out. A run counts as late once it is
``late_after`` (default 15 s) past its scheduled time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tideflow.server.database.engine import Database
from tideflow.server.models import run_recovery
from tideflow.server.services.base import Service
from tideflow.states import now_utc

LATE_AFTER = timedelta(seconds=15)


class MarkLateRunsService(Service):
    """Marks overdue Scheduled runs ``Late`` (see the module doc)."""

    interval = 5.0

    def __init__(
        self,
        database: Database,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] = now_utc,
        late_after: timedelta = LATE_AFTER,
    ) -> None:
        super().__init__(database, interval=interval, clock=clock)
        self.late_after = late_after

    def run_once(self, now: datetime | None = None) -> None:
        """One pass at ``now`` (default: the service's clock)."""
        self.run_pass(now)

    def run_pass(self, now: datetime | None = None) -> list[str]:
        """Mark the overdue runs; returns their ids."""
        now = now or self.clock()
        marked: list[str] = []
        while True:
            with self.database.write() as conn:
                batch = run_recovery.mark_late_runs(conn, now, self.late_after)
            marked.extend(batch)
            if len(batch) < 500 or self._stop.is_set():
                return marked
