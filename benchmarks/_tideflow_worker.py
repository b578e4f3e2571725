"""One tideflow scenario, run in a fresh process by the driver (``benchmarks.run``).

``python -m benchmarks._tideflow_worker SCENARIO [options]`` prints one result line
(see ``_common.emit``). The driver gives each run its own ``TIDEFLOW_HOME`` (and, for
the HTTP scenarios, ``TIDEFLOW_API_URL``), so runs never share a database.

tideflow is imported inside the scenario functions, not at the top: the process is
the unit of measurement (import time and peak memory belong to the scenario) and
this module must stay importable without tideflow's dependencies loaded.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
import tracemalloc
from typing import Any

from benchmarks._common import FINAL_STATE_TYPES, emit, inc, maxrss_mb, raw_calls, wait_until

WARMUP_TASKS = 20


def _define(mode: str) -> Any:
    """The flow for ``mode`` (seq | submit | map), calling ``n`` trivial tasks."""
    from tideflow import flow, task
    from tideflow.task_runners import ConcurrentTaskRunner

    inc_task = task(inc)

    if mode == "seq":

        @flow(name="bench-seq")
        def bench_seq(n: int) -> None:
            for i in range(n):
                inc_task(i)

        return bench_seq
    if mode == "submit":

        @flow(name="bench-submit", task_runner=ConcurrentTaskRunner())
        def bench_submit(n: int) -> None:
            futures = [inc_task.submit(i) for i in range(n)]
            for f in futures:
                f.result()

        return bench_submit
    if mode == "map":

        @flow(name="bench-map", task_runner=ConcurrentTaskRunner())
        def bench_map(n: int) -> None:
            for f in inc_task.map(range(n)):
                f.result()

        return bench_map
    raise SystemExit(f"unknown mode {mode!r}")


def raw(n: int) -> dict[str, Any]:
    """The baselines: a raw call's cost, and the peak RSS of a bare interpreter."""
    return {"n": n, "raw_per_call_us": raw_calls(n) / n * 1e6, "rss_mb": maxrss_mb()}


def flow_tasks(mode: str, n: int) -> dict[str, Any]:
    """A flow of ``n`` trivial tasks; per-task overhead = (flow - raw calls) / n."""
    bench = _define(mode)
    bench(WARMUP_TASKS)  # migrations, recorder thread, logging setup: not per-task costs
    raw_s = raw_calls(n)
    cpu = time.process_time()
    start = time.perf_counter()
    bench(n)
    flow_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu
    return {
        "n": n,
        "flow_s": flow_s,
        # CPU of all the process's threads (engine + recorder): steadier than wall
        # time on a shared machine, and it shows the cost hidden in background threads.
        "cpu_per_task_us": cpu_s / n * 1e6,
        "raw_s": raw_s,
        "per_task_us": (flow_s - raw_s) / n * 1e6,
        "raw_per_call_us": raw_s / n * 1e6,
    }


def empty_flow(runs: int) -> dict[str, Any]:
    """Per-run overhead: ``runs`` empty flow runs in one process."""
    from tideflow import flow

    @flow(name="bench-empty")
    def empty() -> None:
        return None

    def plain() -> None:
        return None

    for _ in range(3):
        empty()
    start = time.perf_counter()
    for _ in range(runs):
        plain()
    raw_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(runs):
        empty()
    total = time.perf_counter() - start
    return {
        "runs": runs,
        "per_run_ms": total / runs * 1e3,
        "raw_per_call_us": raw_s / runs * 1e6,
    }


def memory(n: int, trace: bool) -> dict[str, Any]:
    """Peak memory of a process running one flow of ``n`` sequential tasks."""
    bench = _define("seq")
    bench(WARMUP_TASKS)
    before = maxrss_mb()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    bench(n)
    flow_s = time.perf_counter() - start
    out: dict[str, Any] = {"n": n, "flow_s": flow_s, "rss_before_mb": before}
    if trace:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["traced_peak_mb"] = peak / 2**20
    out["rss_peak_mb"] = maxrss_mb()
    return out


def _sqlite_counter(flow_run_id: str) -> Any:
    """A count of the run's task runs in final states, over its own read connection."""
    from tideflow.settings import get_settings

    url = get_settings().database_url
    path = url.split("sqlite:///", 1)[1]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    marks = ",".join("?" * len(FINAL_STATE_TYPES))
    sql = f"SELECT count(*) FROM task_run WHERE flow_run_id = ? AND state_type IN ({marks})"

    def count() -> int:
        row = conn.execute(sql, (flow_run_id, *FINAL_STATE_TYPES)).fetchone()
        return int(row[0])

    return count


def queryable(n: int, via: str, timeout: float) -> dict[str, Any]:
    """Seconds from the flow call returning until all ``n`` task runs are readable in
    final states by another reader; also from the last task body finishing."""
    from tideflow import flow, get_run_context, task

    marks: dict[str, Any] = {}

    @task(name="inc")
    def inc_task(x: int) -> int:
        marks["last_task"] = time.perf_counter()
        return x + 1

    @flow(name="bench-queryable")
    def bench(n: int) -> None:
        marks["flow_run_id"] = get_run_context().flow_run_id  # type: ignore[union-attr]
        for i in range(n):
            inc_task(i)

    bench(WARMUP_TASKS)
    start = time.perf_counter()
    bench(n)
    returned = time.perf_counter()
    flow_run_id = marks["flow_run_id"]
    if via == "sqlite":
        count = _sqlite_counter(flow_run_id)

        def all_there() -> bool:
            return count() >= n

    else:
        from benchmarks._api import task_run_count, task_run_probe
        from tideflow.settings import get_settings

        api = get_settings().api_url or ""
        probe = task_run_probe(api, flow_run_id)

        def count() -> int:
            return task_run_count(api, flow_run_id)

        def all_there() -> bool:
            return probe(n)

    ok, waited = wait_until(all_there, timeout)
    seen = n if ok else count()
    done = returned + waited
    return {
        "n": n,
        "via": via,
        "ok": ok,
        "seen": seen,
        "flow_s": returned - start,
        "after_return_s": waited,
        "after_last_task_s": done - marks["last_task"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "scenario", choices=["raw", "flow_tasks", "empty_flow", "memory", "queryable"]
    )
    parser.add_argument("--mode", default="seq", choices=["seq", "submit", "map"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--via", default="sqlite", choices=["sqlite", "api"])
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    if args.scenario == "raw":
        result = raw(args.n)
    elif args.scenario == "flow_tasks":
        result = flow_tasks(args.mode, args.n)
    elif args.scenario == "empty_flow":
        result = empty_flow(args.runs)
    elif args.scenario == "memory":
        result = memory(args.n, args.tracemalloc)
    else:
        result = queryable(args.n, args.via, args.timeout)
    emit(result)


if __name__ == "__main__":
    main()
