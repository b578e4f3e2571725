"""Worker functions for tests that race real processes against one store.

Kept light and importable (no pytest) so a forkserver can preload it: after the first
child, starting a racer costs milliseconds instead of a fresh interpreter's imports.
Children of a forkserver do not inherit the test's environment, so every worker takes
the settings it needs as arguments.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from multiprocessing import forkserver
from typing import Any

from tideflow import flow
from tideflow.client import reset_clients
from tideflow.client.base import OrchestrationClient
from tideflow.client.embedded import EmbeddedClient
from tideflow.client.http import HttpClient
from tideflow.exceptions import RunAlreadyClaimed
from tideflow.schemas.actions import StateCreate
from tideflow.settings import reload_settings
from tideflow.states import StateType


def context() -> Any:
    """The multiprocessing context racing tests use: a forkserver that preloads this
    module, so each racer starts in milliseconds."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["racers"])
    # The forkserver ignores our sys.path when it preloads: lend it PYTHONPATH.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.dirname(os.path.abspath(__file__)), saved) if p
    )
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    return ctx


def client_for(target: str) -> OrchestrationClient:
    """``HttpClient`` for a server URL, ``EmbeddedClient`` for a database URL."""
    if target.startswith("http"):
        return HttpClient(target)  # type: ignore[return-value]
    return EmbeddedClient(target)


def use_settings(env: dict[str, str]) -> None:
    """Apply the test's tideflow settings in this child."""
    for name in ("TIDEFLOW_API_URL", "TIDEFLOW_DATABASE_URL", "TIDEFLOW_API_KEY"):
        os.environ.pop(name, None)
    os.environ.update(env)
    reload_settings()
    reset_clients()


def start_racer(target: str, run_ids: list[str], barrier: Any, results: Any) -> None:
    """Propose RUNNING for each run, all racers at the same moment."""
    client = client_for(target)
    for run_id in run_ids:
        barrier.wait(60)
        result = client.set_flow_run_state(run_id, StateCreate(type=StateType.RUNNING))
        results.put((run_id, os.getpid(), result.status.value, result.reason))


@flow
def claimed_flow() -> str:
    return "ran"


def engine_racer(target: str, env: dict[str, str], run_id: str, barrier: Any, results: Any) -> None:
    """Run an existing flow run with the real engine; report whether it was refused."""
    from tideflow.engine.flow_engine import run_existing_flow_run

    use_settings(env)
    run = client_for(target).read_flow_run(run_id)
    barrier.wait(60)
    try:
        state = run_existing_flow_run(claimed_flow, run)
        results.put(("ran", state.type.value))
    except RunAlreadyClaimed as exc:
        results.put(("refused", str(exc)))


def slot_holder(
    target: str, tag: str, rounds: int, holding: Any, peak: Any, lock: Any, start: Any
) -> None:
    """Take a slot of ``tag`` ``rounds`` times; count holders while holding it."""
    client = client_for(target)
    holder = f"holder-{os.getpid()}"
    start.wait(60)
    for _ in range(rounds):
        delay = 0.002
        while not client.acquire_concurrency_slots([tag], holder, 30):
            time.sleep(delay)  # engines poll for a free slot too, with backoff
            delay = min(delay * 2, 0.05)
        with lock:
            holding.value += 1
            peak.value = max(peak.value, holding.value)
        time.sleep(0.003)  # the "work" done while holding the slot
        with lock:
            holding.value -= 1
        client.release_concurrency_slots(holder)
