"""Scheduler throughput: how many scheduled runs one ``SchedulerService`` pass
materialises per second on SQLite (target: 10,000 runs/s, i.e. <= 100 µs per run).

    python -m benchmarks.bench_scheduler [--deployments N] [--kind cron|interval|rrule|mixed]

runs one measurement in this process and prints the result line; ``make bench`` runs
it through ``scenario`` (the ``scheduler`` row) in fresh processes with a fresh
``TIDEFLOW_HOME``. Each deployment keeps 100 upcoming runs (its horizon), so the first
pass over N deployments creates 100 * N runs. Also reported: a steady-state pass (every
horizon already full: what each scheduler loop costs) and a top-up pass an hour later.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks._common import emit, maxrss_mb

TARGET_US_PER_RUN = 100.0  # 10,000 runs per second of scheduler loop

_SCHEDULES: dict[str, dict[str, Any]] = {
    "cron": {"cron": "*/5 * * * *"},
    "interval": {"interval": 300},
    "rrule": {"rrule": "FREQ=MINUTELY;INTERVAL=5"},
}


def measure(deployments: int, kind: str) -> dict[str, Any]:
    """Create ``deployments`` scheduled deployments, then time scheduler passes."""
    from datetime import UTC, datetime, timedelta

    from tideflow.schemas.deployments import DeploymentCreate
    from tideflow.server.database.engine import get_database
    from tideflow.server.models import deployments as deployment_models
    from tideflow.server.services.scheduler import SchedulerService
    from tideflow.settings import get_settings

    database = get_database(get_settings().database_url)
    kinds = list(_SCHEDULES) if kind == "mixed" else [kind]
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with database.write() as conn:
        for i in range(deployments):
            schedule = _SCHEDULES[kinds[i % len(kinds)]]
            deployment_models.upsert_deployment(
                conn,
                DeploymentCreate(flow_name=f"flow-{i % 10}", name=f"dep-{i}", schedule=schedule),
                now=now,
            )
    service = SchedulerService(database)
    cpu = time.process_time()
    start = time.perf_counter()
    first = service.run_pass(now)
    first_s = time.perf_counter() - start
    first_cpu = time.process_time() - cpu
    start = time.perf_counter()
    steady = service.run_pass(now)
    steady_s = time.perf_counter() - start
    start = time.perf_counter()
    topup = service.run_pass(now + timedelta(hours=1))
    topup_s = time.perf_counter() - start
    return {
        "deployments": deployments,
        "kind": kind,
        "runs_created": first.runs_created,
        "seconds": first_s,
        "runs_per_second": first.runs_created / first_s,
        "us_per_run": first_s / first.runs_created * 1e6,
        "cpu_us_per_run": first_cpu / first.runs_created * 1e6,
        "steady_pass_ms": steady_s * 1000,
        "steady_runs_created": steady.runs_created,
        "topup_runs_created": topup.runs_created,
        "topup_pass_ms": topup_s * 1000,
        "maxrss_mb": maxrss_mb(),
    }


def scenario(cfg: Any) -> list[Any]:
    """The ``scheduler`` rows of ``make bench`` (driver side: fresh processes)."""
    from benchmarks._harness import Row, clean_env, median_of, run_worker, temp_home

    deployments = 50 if cfg.quick else 200
    rows = []
    for kind in ("interval", "mixed"):

        def once(kind: str = kind) -> dict[str, Any]:
            with temp_home() as home:
                return run_worker(
                    ["benchmarks.bench_scheduler", "--deployments", str(deployments),
                     "--kind", kind],
                    env=clean_env(TIDEFLOW_HOME=str(home)),
                )  # fmt: skip

        results = [once() for _ in range(cfg.repeat)]
        us = median_of(results, "us_per_run")
        rows.append(
            Row(
                "scheduler",
                f"scheduler: µs per run materialised ({kind}, {deployments} deployments x 100)",
                us,
                "us",
                target=TARGET_US_PER_RUN,
                note=(
                    f"{1e6 / us:,.0f} runs/s on SQLite (CPU "
                    f"{median_of(results, 'cpu_us_per_run'):.0f} µs/run); steady pass "
                    "(horizons full) "
                    f"{median_of(results, 'steady_pass_ms'):.1f} ms; top-up pass an hour "
                    f"later {median_of(results, 'topup_pass_ms'):.1f} ms"
                ),
                samples=[r["us_per_run"] for r in results],
                extra={"results": results},
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--kind", choices=[*_SCHEDULES, "mixed"], default="mixed")
    args = parser.parse_args(argv)
    emit(measure(args.deployments, args.kind))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
