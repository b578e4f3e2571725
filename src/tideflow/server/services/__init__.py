"""Background services the server runs while it is up (scheduler, crash detection, ...).

To add one, subclass ``Service`` in ``server/services/<name>.py`` and add one line to
``SERVICES``: the app's lifespan starts every listed service with the app's database
and stops them on shutdown.
"""

from __future__ import annotations

from tideflow.server.services.base import Service
from tideflow.server.services.crash_detector import CrashDetectorService
from tideflow.server.services.late_runs import MarkLateRunsService
from tideflow.server.services.scheduler import SchedulerService

SERVICES: list[type[Service]] = [
    SchedulerService,
    MarkLateRunsService,
    CrashDetectorService,
]

__all__ = ["SERVICES", "Service"]
