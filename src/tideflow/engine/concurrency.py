"""Tag concurrency limits on the engine side: take slots before a task runs.

Which tags have limits is read once per flow run (at its first tagged task) and again
every ``REFRESH_SECONDS``, so tasks without tags pay nothing. Held slots are leases; a keeper
thread renews them while their tasks run, so a killed process frees its slots when
the leases expire.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tideflow.client.base import OrchestrationClient
    from tideflow.engine.context import FlowRunContext
    from tideflow.engine.recorder import TaskRunInfo

_log = logging.getLogger("tideflow.concurrency")

REFRESH_SECONDS = 5.0
LEASE_SECONDS = 30.0


class Slots:
    """The slots one task run needs."""

    def __init__(self, client: OrchestrationClient, tags: list[str], holder: str) -> None:
        self.client = client
        self.tags = tags
        self.holder = holder
        self.waited = 0
        self.held = False

    def acquire(self) -> bool:
        ok = self.client.acquire_concurrency_slots(self.tags, self.holder, LEASE_SECONDS)
        if ok:
            self.held = True
            _keeper.add(self)
        else:
            self.waited += 1
        return ok

    def poll_interval(self) -> float:
        return min(1.0, 0.05 * (1.5 ** min(self.waited, 10))) * random.uniform(0.8, 1.2)

    def release(self) -> None:
        if not self.held:
            return
        _keeper.remove(self)
        try:
            self.client.release_concurrency_slots(self.holder)
        except Exception as exc:
            _log.warning(
                "Could not release slots of %s (%s); the lease will expire", self.holder, exc
            )
        self.held = False


class _LeaseKeeper:
    """Renews the leases of running task runs."""

    def __init__(self) -> None:
        self.active: dict[str, Slots] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, slots: Slots) -> None:
        with self.lock:
            self.active[slots.holder] = slots
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="tideflow-leases", daemon=True
                )
                self.thread.start()

    def remove(self, slots: Slots) -> None:
        with self.lock:
            self.active.pop(slots.holder, None)

    def _run(self) -> None:
        while True:
            time.sleep(LEASE_SECONDS / 3)
            with self.lock:
                held = list(self.active.values())
            for slots in held:
                try:
                    slots.client.renew_concurrency_slots(slots.holder, LEASE_SECONDS)
                except Exception as exc:
                    _log.warning("Renewing slots of %s failed: %s", slots.holder, exc)


_keeper = _LeaseKeeper()


def slots_for(ctx: FlowRunContext, info: TaskRunInfo) -> Slots | None:
    """The slots this task run must take, or None when none of its tags is limited."""
    if not info.tags:
        return None
    tags = [t for t in info.tags if t in _limited_tags(ctx)]
    if not tags:
        return None
    return Slots(ctx.client, tags, info.id)


def _limited_tags(ctx: FlowRunContext) -> frozenset[str]:
    """Tags with a limit, read on the flow run's first tagged task (so a limit created
    just before the run applies to it) and again every ``REFRESH_SECONDS``."""
    now = time.monotonic()
    cached = ctx.limited_tags
    if cached is not None and now - cached[0] < REFRESH_SECONDS:
        return cached[1]
    try:
        tags = frozenset(limit.tag for limit in ctx.client.read_concurrency_limits())
    except Exception as exc:
        _log.warning("Could not read concurrency limits (%s); assuming none", exc)
        tags = cached[1] if cached else frozenset()
    ctx.limited_tags = (now, tags)
    return tags
