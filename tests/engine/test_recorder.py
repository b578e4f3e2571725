"""Recording under load: nothing is dropped, several processes share one SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tideflow import flow, get_run_logger, task
from tideflow.client import get_client
from tideflow.engine.recorder import get_recorder
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from tideflow.server.database.engine import get_database
from tideflow.settings import get_settings
from tideflow.task_runners import ConcurrentTaskRunner


def sql(query: str, **params: Any) -> list[Any]:
    db = get_database(get_settings().database_url)
    with db.read() as conn:
        return list(conn.execute(text(query), params).all())


def task_run_counts(flow_run_id: str | None = None) -> dict[str, int]:
    where = "WHERE flow_run_id = :id" if flow_run_id else ""
    rows = sql(
        f"SELECT state_type, count(*) FROM task_run {where} GROUP BY state_type",
        id=flow_run_id,
    )
    return {state_type: count for state_type, count in rows}


@task
def trivial(i: int) -> int:
    return i


def test_100_000_tasks_are_all_recorded_in_final_states() -> None:
    n = 100_000

    @flow
    def huge() -> int:
        total = 0
        for i in range(n):
            total += trivial(i)
        return total

    assert huge() == n * (n - 1) // 2
    # No waiting: the flow run's records are complete once it has returned.
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["huge"]))
    assert run.state_name == "Completed"
    assert task_run_counts(run.id) == {"COMPLETED": n}
    ((distinct_keys, max_run_count),) = sql(
        "SELECT count(DISTINCT dynamic_key), max(run_count) FROM task_run"
    )
    assert distinct_keys == n and max_run_count == 1
    # Spot-check full histories at both ends and in the middle.
    for dynamic_key in ("0", str(n // 2), str(n - 1)):
        ((task_run_id,),) = sql("SELECT id FROM task_run WHERE dynamic_key = :k", k=dynamic_key)
        names = [s.name for s in get_client().read_task_run_states(task_run_id)]
        assert names == ["Pending", "Running", "Completed"]


def test_submitted_tasks_on_many_threads_are_all_recorded() -> None:
    n = 5_000

    @flow(task_runner=ConcurrentTaskRunner(max_workers=16))
    def wide() -> None:
        for fut in trivial.map(range(n)):
            fut.wait()

    wide()
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["wide"]))
    assert task_run_counts(run.id) == {"COMPLETED": n}


def test_failures_and_retries_under_load_are_recorded() -> None:
    @task(retries=1)
    def odd_fails_once(i: int) -> int:
        if i % 2 and i not in seen:
            seen.add(i)
            raise ValueError(i)
        return i

    seen: set[int] = set()

    @task
    def always_fails(i: int) -> None:
        raise RuntimeError(i)

    @flow(task_runner=ConcurrentTaskRunner(max_workers=8))
    def mixed() -> None:
        futures = odd_fails_once.map(range(1_000)) + always_fails.map(range(200))
        for fut in futures:
            fut.wait()

    mixed(return_state=True)
    assert task_run_counts() == {"COMPLETED": 1_000, "FAILED": 200}
    ((retried,),) = sql("SELECT count(*) FROM task_run WHERE run_count = 2")
    assert retried == 500


def test_many_log_lines_are_all_stored() -> None:
    @task
    def chatty(i: int) -> None:
        logger = get_run_logger()
        for j in range(10):
            logger.info("line %d.%d", i, j)

    @flow(task_runner=ConcurrentTaskRunner(max_workers=8))
    def talks() -> None:
        for fut in chatty.map(range(300)):
            fut.wait()

    talks()
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["talks"]))
    ((count,),) = sql(
        "SELECT count(*) FROM log WHERE flow_run_id = :id AND message LIKE 'line %'", id=run.id
    )
    assert count == 3_000
    ((unattached,),) = sql(
        "SELECT count(*) FROM log WHERE message LIKE 'line %' AND task_run_id IS NULL"
    )
    assert unattached == 0
    sample = get_client().read_logs(LogFilter(flow_run_id_any=[run.id]), limit=5)
    assert len(sample) == 5


def test_writes_wait_for_a_locked_database_instead_of_failing(tideflow_home: Path) -> None:
    """Another connection holds the write lock for a while; the run waits, nothing is lost."""
    database = tideflow_home / "tideflow.db"
    get_client().count_flow_runs()  # make sure the schema exists
    locker = sqlite3.connect(database, timeout=30, check_same_thread=False)
    locker.isolation_level = None
    locker.execute("BEGIN IMMEDIATE")
    started = threading.Event()
    outcome: dict[str, Any] = {}

    @flow
    def blocked() -> int:
        started.set()
        return sum(trivial(i) for i in range(50))

    def run() -> None:
        try:
            outcome["value"] = blocked()
        except BaseException as exc:  # pragma: no cover - reported below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    # While the lock is held the run cannot even be created, so its body cannot start.
    assert not started.wait(0.5)
    assert "error" not in outcome
    locker.execute("COMMIT")
    locker.close()
    worker.join(60)
    assert not worker.is_alive()
    assert outcome == {"value": sum(range(50))}
    assert task_run_counts() == {"COMPLETED": 50}
    assert get_recorder(get_client(), get_settings().flush_interval).failures == 0


WRITER_SCRIPT = """
import sys
from tideflow import flow, get_run_logger, task
from tideflow.client import get_client
from tideflow.engine.recorder import get_recorder
from tideflow.settings import get_settings

@task
def work(i):
    if i % 100 == 0:
        get_run_logger().info("progress %d", i)
    return i

@flow
def writer(n: int, worker: int):
    return sum(work(i) for i in range(n))

if __name__ == "__main__":
    total = writer(int(sys.argv[1]), int(sys.argv[2]))
    recorder = get_recorder(get_client(), get_settings().flush_interval)
    recorder.flush()
    print(total, recorder.failures)
"""


def test_several_processes_write_to_one_sqlite_file(tideflow_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(WRITER_SCRIPT))
    env = {**os.environ, "TIDEFLOW_HOME": str(tideflow_home), "TIDEFLOW_LOGGING_LEVEL": "ERROR"}
    n, processes = 500, 4
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(n), str(k)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower(), err
        assert out.split() == [str(n * (n - 1) // 2), "0"]  # result, write failures
    runs = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["writer"]))
    assert len(runs) == processes
    assert {r.state_name for r in runs} == {"Completed"}
    assert sorted(r.parameters["worker"] for r in runs) == list(range(processes))
    assert task_run_counts() == {"COMPLETED": n * processes}
    for run in runs:
        assert len(get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))) == n
    ((logs,),) = sql("SELECT count(*) FROM log WHERE message LIKE 'progress %'")
    assert logs == processes * n // 100
