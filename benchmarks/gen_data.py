"""Bulk-generate a realistic run history for the API list-page benchmark.

``python -m benchmarks.gen_data [--scale 0.1 | --full] [--url URL] [--dir DIR]``

At ``--full`` (scale 1.0): 100,000 flow runs of 25 flows with ~1,000,000 task runs
(1 to 19 per run, ~10 on average) and each run's state history, spread over 180 days
before a fixed anchor date; the default scale is 0.1 (10,000 / ~100,000) for quick
runs. Rows go in through SQLAlchemy Core ``executemany`` on the tables of
``tideflow.server.database.tables``, after the real migrations created the schema.

Distributions (flow runs): 82% Completed, 7% Failed, 2% Cancelled, 1% Crashed, 1%
Running (the newest ones), 5% Scheduled (in the future, not started, no task runs),
2% Pending (no task runs). Flow popularity is skewed (a few flows own most runs).
A failed/crashed/cancelled/running run's last task run carries that state, the
others completed (3% of those as ``Cached``).

Resumable and cached: everything is derived from the run's index with a seeded RNG
and written in chunks of ``CHUNK`` flow runs, one transaction each; the number of
flow runs already present says where to resume. A SQLite database lives in
``DIR/sqlite-<flow runs>.db`` (default ``benchmarks/results/data``) with a
``.done.json`` marker once complete, so ``make bench`` generates it only once. For
PostgreSQL (``--url postgresql+psycopg://...``) the generator uses (and creates when
it may) a dedicated database ``tideflow_bench_<flow runs>`` on that server, never
the one the URL names, so tests sharing that server are not disturbed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

from tideflow.server.database import tables as t
from tideflow.server.database.engine import Database, get_database

FULL_FLOW_RUNS = 100_000
TASKS_PER_FLOW_RUN = 10  # average: 1,000,000 task runs at full scale
DEFAULT_SCALE = 0.1
CHUNK = 5_000
SPAN = timedelta(days=180)
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
DATA_DIR = Path(__file__).resolve().parent / "results" / "data"
N_FLOWS = 25

# (state type, state name, weight) for flow runs that are not "running" (see below)
_FLOW_STATES = [
    ("COMPLETED", "Completed", 82),
    ("FAILED", "Failed", 7),
    ("CANCELLED", "Cancelled", 2),
    ("CRASHED", "Crashed", 1),
    ("SCHEDULED", "Scheduled", 5),
    ("PENDING", "Pending", 2),
]
RUNNING_FRACTION = 0.01  # the newest 1% of runs are still running


def flow_run_count(scale: float) -> int:
    """How many flow runs a scale means (at least one chunk)."""
    return max(CHUNK, round(FULL_FLOW_RUNS * scale / CHUNK) * CHUNK)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _flows() -> list[dict[str, Any]]:
    rng = random.Random("flows")
    names = [f"etl-{name}" for name in ("taxi", "sales", "clicks", "ledger", "inventory")]
    names += [f"ml-train-{i}" for i in range(8)] + [f"report-{i}" for i in range(12)]
    return [
        {"id": _uuid(rng), "name": name, "tags": [], "created": ANCHOR - SPAN - timedelta(days=1)}
        for name in names[:N_FLOWS]
    ]


def _state(kind: str, name: str, ts: datetime, rng: random.Random, **details: Any) -> dict:
    return {
        "id": _uuid(rng),
        "type": kind,
        "name": name,
        "timestamp": ts,
        "message": None,
        "details": details or None,
    }


def _chunk_rows(
    first: int, count: int, total: int, flows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], ...]:
    """Rows for flow runs ``first .. first+count-1`` (a pure function of the indexes)."""
    flow_runs: list[dict[str, Any]] = []
    flow_states: list[dict[str, Any]] = []
    task_runs: list[dict[str, Any]] = []
    weights = [1.0 / (k + 1) for k in range(len(flows))]  # Zipf-like popularity
    kinds = [(k, n) for k, n, _ in _FLOW_STATES]
    kind_weights = [w for _, _, w in _FLOW_STATES]
    step = SPAN / total
    running_from = total - int(total * RUNNING_FRACTION)
    for i in range(first, first + count):
        rng = random.Random(i)
        flow = rng.choices(flows, weights)[0]
        run_id = _uuid(rng)
        expected = ANCHOR - SPAN + step * i + timedelta(seconds=rng.uniform(0, 60))
        kind, name = (
            ("RUNNING", "Running") if i >= running_from else rng.choices(kinds, kind_weights)[0]
        )
        history = [_state("PENDING", "Pending", expected, rng)]
        start = end = None
        n_tasks = 0
        duration = timedelta(seconds=rng.lognormvariate(3.5, 1.0))
        if kind == "SCHEDULED":
            expected = ANCHOR + timedelta(minutes=rng.uniform(1, 60 * 24 * 7))
            history = [_state(kind, name, expected, rng, scheduled_time=expected.isoformat())]
        elif kind != "PENDING":
            start = expected + timedelta(seconds=rng.uniform(0, 5))
            history.append(_state("RUNNING", "Running", start, rng))
            # 1..20 (+1 a quarter of the time): ~10.75 on average over the ~93% of runs
            # that started, so ~TASKS_PER_FLOW_RUN task runs per flow run overall.
            n_tasks = rng.randint(1, 2 * TASKS_PER_FLOW_RUN) + (rng.random() < 0.25)
            if kind != "RUNNING":
                end = start + duration
                history.append(_state(kind, name, end, rng))
        current = history[-1]
        flow_runs.append(
            {
                "id": run_id,
                "flow_id": flow["id"],
                "name": f"{flow['name']}-{i:06d}",
                "flow_version": "1f2e3d4c",
                "parameters": {"date": expected.date().isoformat(), "limit": rng.randint(1, 999)},
                "tags": rng.choice([[], [], ["prod"], ["prod", "nightly"], ["dev"]]),
                "parent_task_run_id": None,
                "deployment_id": None,
                "work_queue_name": None,
                "idempotency_key": None,
                "state_id": current["id"],
                "state_type": current["type"],
                "state_name": current["name"],
                "state_timestamp": current["timestamp"],
                "state_message": current["message"],
                "state_details": current["details"],
                "expected_start_time": expected,
                "next_scheduled_start_time": expected if kind == "SCHEDULED" else None,
                "start_time": start,
                "end_time": end,
                "total_run_time": duration.total_seconds() if end else 0.0,
                "run_count": 1 if start else 0,
                "retries": 0,
                "retry_delay_seconds": 0.0,
                "heartbeat": start if kind == "RUNNING" else None,
                "infrastructure_pid": None,
                "auto_scheduled": kind == "SCHEDULED",
                "created": history[0]["timestamp"],
                "updated": current["timestamp"],
            }
        )
        flow_states.extend({**s, "flow_run_id": run_id} for s in history)
        if n_tasks:
            assert start is not None
            task_end = end or start + duration
            slot = (task_end - start) / n_tasks
            for k in range(n_tasks):
                t_start = start + slot * k
                t_kind, t_name = "COMPLETED", "Cached" if rng.random() < 0.03 else "Completed"
                if k == n_tasks - 1 and kind not in ("COMPLETED",):
                    t_kind, t_name = kind, name
                task_runs.append(
                    {
                        "id": _uuid(rng),
                        "flow_run_id": run_id,
                        "name": f"task-{k % 7}-{i:06d}{k:02d}",
                        "task_key": f"{flow['name']}.task-{k % 7}",
                        "dynamic_key": str(k // 7),
                        "task_version": None,
                        "cache_key": None,
                        "tags": [],
                        "task_inputs": {},
                        "state_id": _uuid(rng),
                        "state_type": t_kind,
                        "state_name": t_name,
                        "state_timestamp": t_start + slot,
                        "state_message": None,
                        "state_details": None,
                        "start_time": t_start,
                        "end_time": t_start + slot if t_kind != "RUNNING" else None,
                        "run_count": 1,
                        "created": t_start,
                    }
                )
    return flow_runs, flow_states, task_runs


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def sqlite_url(flow_runs: int, data_dir: Path = DATA_DIR) -> str:
    """Where the cached SQLite database of that size lives."""
    return f"sqlite:///{data_dir / f'sqlite-{flow_runs}.db'}"


def postgres_bench_url(url: str, flow_runs: int) -> str:
    """The dedicated benchmark database on the server ``url`` points at (created if
    this role may; otherwise the generator refuses rather than touch ``url``'s own)."""
    parsed = make_url(url)
    name = f"tideflow_bench_{flow_runs}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _marker(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).with_suffix(".done.json")


def is_complete(url: str, flow_runs: int) -> bool:
    """Whether ``url`` already holds the full data set (cheap check for SQLite)."""
    marker = _marker(url)
    if marker is not None:
        try:
            return int(json.loads(marker.read_text())["flow_runs"]) == flow_runs
        except (OSError, ValueError, KeyError):
            return False
    return False


def generate(url: str, flow_runs: int, *, quiet: bool = False) -> dict[str, Any]:
    """Fill ``url`` with ``flow_runs`` flow runs (resuming); returns row counts."""
    if is_complete(url, flow_runs):
        return json.loads(_marker(url).read_text())  # type: ignore[union-attr]
    db: Database = get_database(url)
    flows = _flows()
    flow_table = _table(t.Flow)
    fr_table, frs_table, tr_table = _table(t.FlowRun), _table(t.FlowRunState), _table(t.TaskRun)
    with db.write() as conn:
        present = {r[0] for r in conn.execute(select(flow_table.c.name))}
        new = [f for f in flows if f["name"] not in present]
        if new:
            conn.execute(flow_table.insert(), new)
        done = int(conn.execute(select(func.count()).select_from(fr_table)).scalar_one())
    ids = {}
    with db.read() as conn:
        ids = dict(conn.execute(select(flow_table.c.name, flow_table.c.id)).all())
    flows = [{**f, "id": ids[f["name"]]} for f in flows]
    if done % CHUNK or done > flow_runs:
        raise SystemExit(
            f"{db.safe_url} holds {done} flow runs, which is not a resumable state for "
            f"{flow_runs}; delete it (or the database) and run again"
        )
    started = time.perf_counter()
    for first in range(done, flow_runs, CHUNK):
        rows = _chunk_rows(first, CHUNK, flow_runs, flows)
        with db.write() as conn:
            conn.execute(fr_table.insert(), rows[0])
            conn.execute(frs_table.insert(), rows[1])
            conn.execute(tr_table.insert(), rows[2])
        if not quiet:
            elapsed = time.perf_counter() - started
            print(
                f"  {first + CHUNK:>7,}/{flow_runs:,} flow runs ({elapsed:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    with db.write() as conn:
        counts = {
            name: int(conn.execute(select(func.count()).select_from(tbl)).scalar_one())
            for name, tbl in (
                ("flow_runs", fr_table),
                ("flow_run_states", frs_table),
                ("task_runs", tr_table),
            )
        }
    if db.dialect == "postgresql" and done < flow_runs:
        # Autovacuum would analyse freshly loaded tables soon anyway; do it now so the
        # numbers describe a settled database, not the minutes after a bulk load.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    marker = _marker(url)
    if marker is not None:
        marker.write_text(json.dumps(counts))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE)
    parser.add_argument("--full", action="store_true", help="scale 1.0: 100k flow runs, ~1M tasks")
    parser.add_argument("--url", help="database URL (default: a cached SQLite file in --dir)")
    parser.add_argument("--dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()
    n = flow_run_count(1.0 if args.full else args.scale)
    if args.url and make_url(args.url).get_backend_name() == "postgresql":
        url = postgres_bench_url(args.url, n)
    else:
        url = args.url or sqlite_url(n, args.dir)
    start = time.perf_counter()
    counts = generate(url, n)
    print(
        json.dumps(
            {
                "url": make_url(url).render_as_string(),
                **counts,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
