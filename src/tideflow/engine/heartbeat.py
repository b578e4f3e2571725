"""Heartbeats of running flow runs, from one background thread per process.

The server marks a flow run whose heartbeats stop as Crashed; beating from a thread
(not from the flow's own code) keeps a busy flow alive and lets a dead process show.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tideflow.client.base import OrchestrationClient

_log = logging.getLogger("tideflow.heartbeat")


class Heartbeat:
    """Beats for every registered flow run every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.runs: dict[str, OrchestrationClient] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, flow_run_id: str, client: OrchestrationClient) -> None:
        with self.lock:
            self.runs[flow_run_id] = client
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="tideflow-heartbeat", daemon=True
                )
                self.thread.start()

    def remove(self, flow_run_id: str) -> None:
        with self.lock:
            self.runs.pop(flow_run_id, None)

    def _run(self) -> None:
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            with self.lock:
                runs = list(self.runs.items())
            for flow_run_id, client in runs:
                try:
                    client.heartbeat(flow_run_id)
                except Exception as exc:
                    _log.warning("Heartbeat for flow run %s failed: %s", flow_run_id, exc)


_heartbeats: dict[float, Heartbeat] = {}


def heartbeat_for(interval: float) -> Heartbeat:
    """The process-wide heartbeat thread for ``interval``."""
    hb = _heartbeats.get(interval)
    if hb is None:
        hb = _heartbeats.setdefault(interval, Heartbeat(interval))
    return hb
