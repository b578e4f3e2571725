"""``SchedulerService``: keeps every active schedule's upcoming runs in the database.

Each pass walks the deployments with an active schedule in pages (one short write
transaction per page) and tops up their runs to the horizon: the next 100 runs or 7
days, whichever comes first. Duplicates are impossible by construction (see
``server/models/scheduling.py``): run it in several processes at once, kill it mid-pass
and restart it, and each (deployment, scheduled time) still has exactly one run.

Example:
    >>> from datetime import datetime, UTC
    >>> from tideflow.server.database.engine import get_database
    >>> from tideflow.server.services.scheduler import SchedulerService
    >>> service = SchedulerService(get_database("sqlite:///:memory:"))
    >>> service.run_pass(now=datetime(2024, 1, 1, tzinfo=UTC)).runs_created
    0
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tideflow.server.database.engine import Database
from tideflow.server.models import scheduling
from tideflow.server.services.base import Service
from tideflow.states import now_utc

_log = logging.getLogger("tideflow.server.services.scheduler")


class SchedulerService(Service):
    """Materialises scheduled runs of deployments (see the module doc).

    Args:
        database: the store.
        interval: seconds between passes (default 5).
        clock: the current time; tests pass a settable one.
        max_runs: how many upcoming runs to keep per deployment (default 100).
        horizon: how far ahead to schedule (default 7 days).
        page_size: deployments per transaction.
    """

    interval = 5.0

    def __init__(
        self,
        database: Database,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] = now_utc,
        max_runs: int = scheduling.MAX_RUNS,
        horizon: timedelta = scheduling.HORIZON,
        page_size: int = 200,
    ) -> None:
        super().__init__(database, interval=interval, clock=clock)
        self.max_runs = max_runs
        self.horizon = horizon
        self.page_size = page_size

    def run_once(self, now: datetime | None = None) -> None:
        """One pass at ``now`` (default: the service's clock)."""
        self.run_pass(now)

    def run_pass(self, now: datetime | None = None) -> scheduling.SchedulePass:
        """One pass over every deployment with an active schedule."""
        now = now or self.clock()
        total = scheduling.SchedulePass()
        after: str | None = None
        while True:
            with self.database.write() as conn:
                page, after = scheduling.schedule_runs(
                    conn,
                    now,
                    max_runs=self.max_runs,
                    horizon=self.horizon,
                    page_size=self.page_size,
                    after_id=after,
                )
            total.deployments += page.deployments
            total.runs_created += page.runs_created
            total.runs_skipped += page.runs_skipped
            if after is None or self._stop.is_set():
                break
        if total.runs_created or total.runs_skipped:
            _log.info(
                "Scheduled %d run(s) for %d deployment(s); %d missed run(s) skipped",
                total.runs_created,
                total.deployments,
                total.runs_skipped,
            )
        return total
