"""The ``Service`` base: background work the server does on a timer.

A service implements ``run_once()`` (one pass of its work, which tests call directly)
and declares ``interval``. ``start()`` runs it on a daemon thread: one pass right away,
then one every ``interval`` seconds until ``stop()``. An exception in a pass is logged
and the loop carries on, so one bad row never stops a scheduler.

Example:
    >>> from tideflow.server.services.base import Service
    >>> class Noop(Service):
    ...     interval = 60.0
    ...     def run_once(self) -> None:
    ...         pass
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from tideflow.server.database.engine import Database
from tideflow.states import now_utc

_log = logging.getLogger("tideflow.server.services")


class Service(ABC):
    """Base class for the server's background services."""

    #: seconds between two passes (override per service or per instance)
    interval: ClassVar[float] = 60.0

    def __init__(
        self,
        database: Database,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.database = database
        self.clock = clock
        self.period = self.interval if interval is None else interval
        if self.period <= 0:
            raise ValueError(f"{self.name} interval must be > 0 seconds, got {self.period}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        """The service's class name (used in logs and thread names)."""
        return type(self).__name__

    @abstractmethod
    def run_once(self) -> None:
        """One pass of the service's work."""

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Run ``run_once`` now and every ``interval`` seconds on a daemon thread."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"tideflow-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait up to ``timeout`` seconds for the current pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                _log.exception("%s pass failed; retrying in %.1fs", self.name, self.period)
            self._stop.wait(self.period)
