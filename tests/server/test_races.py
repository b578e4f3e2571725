"""Rules that hold under races, with real processes: a run starts once; a tag's limit
is never exceeded; a killed holder's slot frees when its lease expires.

Each race runs through both doors: processes talking to a real server (HTTP), and
processes using the embedded client on the same database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import racers
from serverkit import ServerProcess, empty_database, wait_for
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

CTX = racers.context()
_client = racers.client_for


@pytest.fixture(params=["server-sqlite", "embedded-sqlite", "embedded-postgres"])
def target(request: pytest.FixtureRequest) -> str:
    """Where racing processes send their calls: a server's URL or a database URL."""
    door, kind = request.param.split("-")
    if kind == "postgres":
        request.applymarker(pytest.mark.postgres)
    database_url: str = request.getfixturevalue(f"{kind}_url")
    empty_database(database_url)
    if door == "server":
        server: ServerProcess = request.getfixturevalue("sqlite_server")
        return server.url
    return database_url


# ---------------------------------------------------------------------- one start only
def test_racing_processes_start_a_run_exactly_once(target: str) -> None:
    n_racers, rounds = 3, 5
    client = _client(target)
    run_ids = [
        client.create_flow_run(
            FlowRunCreate(flow_name="race", state=StateCreate(type=StateType.PENDING))
        ).id
        for _ in range(rounds)
    ]
    barrier, results = CTX.Barrier(n_racers), CTX.Queue()
    procs = [
        CTX.Process(target=racers.start_racer, args=(target, run_ids, barrier, results))
        for _ in range(n_racers)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in range(n_racers * rounds)]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    for run_id in run_ids:
        statuses = sorted(status for rid, _, status, _ in outcomes if rid == run_id)
        assert statuses == ["ABORT"] * (n_racers - 1) + ["ACCEPT"]
        reasons = [reason for rid, _, status, reason in outcomes if rid == run_id and reason]
        assert all("another engine has claimed it" in r for r in reasons)
        run = client.read_flow_run(run_id)
        assert run.run_count == 1
        assert [s.type for s in client.read_flow_run_states(run_id)] == ["PENDING", "RUNNING"]


def test_two_engines_racing_for_one_run_one_wins_the_other_aborts_cleanly(
    target: str, tmp_path: Path
) -> None:
    key = "TIDEFLOW_API_URL" if target.startswith("http") else "TIDEFLOW_DATABASE_URL"
    env = {key: target, "TIDEFLOW_HOME": str(tmp_path / "engines")}
    client = _client(target)
    run = client.create_flow_run(
        FlowRunCreate(flow_name="claimed-flow", state=StateCreate(type=StateType.PENDING))
    )
    barrier, results = CTX.Barrier(2), CTX.Queue()
    procs = [
        CTX.Process(target=racers.engine_racer, args=(target, env, run.id, barrier, results))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    outcomes = sorted([results.get(timeout=120) for _ in procs])
    for proc in procs:
        proc.join(60)
    assert outcomes[0] == ("ran", "COMPLETED")
    assert outcomes[1][0] == "refused"
    assert "already" in outcomes[1][1]
    assert client.read_flow_run(run.id).run_count == 1


# ---------------------------------------------------------------------- tag limits
def test_at_no_instant_more_than_n_holders(target: str) -> None:
    limit, processes, rounds = 2, 4, 6
    client = _client(target)
    client.create_concurrency_limit("gpu", limit)
    holding, peak, lock = CTX.Value("i", 0), CTX.Value("i", 0), CTX.Lock()
    start = CTX.Barrier(processes)
    procs = [
        CTX.Process(
            target=racers.slot_holder, args=(target, "gpu", rounds, holding, peak, lock, start)
        )
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    assert 1 <= peak.value <= limit
    assert client.read_concurrency_limit("gpu").active_slots == 0


_HOLD_AND_HANG = """
import sys, threading
from tideflow.client.embedded import EmbeddedClient
from tideflow.client.http import HttpClient
target = sys.argv[1]
client = HttpClient(target) if target.startswith("http") else EmbeddedClient(target)
assert client.acquire_concurrency_slots(["db"], "doomed", float(sys.argv[2]))
print("holding", flush=True)
threading.Event().wait()
"""


def test_a_killed_holders_slot_frees_after_its_lease(target: str, tmp_path: Path) -> None:
    lease = 1.5
    client = _client(target)
    client.create_concurrency_limit("db", 1)
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(_HOLD_AND_HANG))
    before = time.monotonic()  # the lease is taken after this, so it ends after +lease
    proc = subprocess.Popen(
        [sys.executable, str(script), target, str(lease)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "holding"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not client.acquire_concurrency_slots(["db"], "next", 30)  # not leaked, not freed yet
    wait_for(
        lambda: client.acquire_concurrency_slots(["db"], "next", 30),
        timeout=30,
        what="the killed holder's lease to expire",
    )
    assert time.monotonic() - before >= lease - 0.05  # clock granularity
    assert client.read_concurrency_limit("db").active_slots == 1
