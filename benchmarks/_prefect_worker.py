"""The same scenarios as ``_tideflow_worker``, on Prefect 3, for ``benchmarks.peers``.

Runs under ``.bench-peers/bin/python`` (Prefect installed, tideflow not), with a
fresh ``PREFECT_HOME`` and no ``PREFECT_API_URL``: Prefect then starts its ephemeral
server, as ``python my_flow.py`` does out of the box. Prefect is imported inside the
scenario functions so import cost stays inside what is measured.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

from benchmarks._common import FINAL_STATE_TYPES, emit, inc, maxrss_mb, raw_calls, wait_until

WARMUP_TASKS = 5


def _define(mode: str) -> Any:
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    inc_task = task(inc)

    if mode == "seq":

        @flow(name="bench-seq")
        def bench_seq(n: int) -> None:
            for i in range(n):
                inc_task(i)

        return bench_seq
    if mode == "submit":

        @flow(name="bench-submit", task_runner=ThreadPoolTaskRunner())
        def bench_submit(n: int) -> None:
            futures = [inc_task.submit(i) for i in range(n)]
            for f in futures:
                f.result()

        return bench_submit
    if mode == "map":

        @flow(name="bench-map", task_runner=ThreadPoolTaskRunner())
        def bench_map(n: int) -> None:
            for f in inc_task.map(range(n)):
                f.result()

        return bench_map
    raise SystemExit(f"unknown mode {mode!r}")


def _task_run_counter(flow_run_id: str) -> Any:
    """Task runs of the flow run in final states, counted by Prefect's server."""
    from prefect.client.orchestration import get_client

    client = get_client(sync_client=True)
    client.__enter__()
    body = {
        "flow_runs": {"id": {"any_": [flow_run_id]}},
        "task_runs": {"state": {"type": {"any_": list(FINAL_STATE_TYPES)}}},
    }

    def count() -> int:
        response = client._client.post("/task_runs/count", json=body)
        response.raise_for_status()
        return int(response.json())

    return count


def flow_tasks(mode: str, n: int, timeout: float) -> dict[str, Any]:
    """A flow of ``n`` trivial tasks; then, while this process (and so the ephemeral
    server) is still alive, how long until the server shows them all finished."""
    bench = _define(mode)
    bench(WARMUP_TASKS)  # starts the ephemeral server: not a per-task cost
    raw_s = raw_calls(n)
    cpu = time.process_time()
    start = time.perf_counter()
    state = bench(n, return_state=True)
    flow_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu
    out: dict[str, Any] = {
        "n": n,
        "flow_s": flow_s,
        "cpu_per_task_us": cpu_s / n * 1e6,  # this process only (not the server's)
        "raw_s": raw_s,
        "per_task_us": (flow_s - raw_s) / n * 1e6,
        "raw_per_call_us": raw_s / n * 1e6,
        "rss_peak_mb": maxrss_mb(),
    }
    if timeout > 0:
        count = _task_run_counter(str(state.state_details.flow_run_id))
        seen = [0]

        def all_there() -> bool:
            seen[0] = count()
            return seen[0] >= n

        ok, waited = wait_until(all_there, timeout, interval=0.25)
        out.update(ok=ok, seen=seen[0], after_return_s=waited)
    return out


def empty_flow(runs: int) -> dict[str, Any]:
    from prefect import flow

    @flow(name="bench-empty")
    def empty() -> None:
        return None

    def plain() -> None:
        return None

    for _ in range(2):
        empty()
    start = time.perf_counter()
    for _ in range(runs):
        plain()
    raw_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(runs):
        empty()
    total = time.perf_counter() - start
    return {"runs": runs, "per_run_ms": total / runs * 1e3, "raw_per_call_us": raw_s / runs * 1e6}


def memory(n: int) -> dict[str, Any]:
    bench = _define("seq")
    bench(WARMUP_TASKS)
    before = maxrss_mb()
    tracemalloc.start()
    bench(n)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n": n,
        "rss_before_mb": before,
        "rss_peak_mb": maxrss_mb(),
        "traced_peak_mb": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["flow_tasks", "empty_flow", "memory"])
    parser.add_argument("--mode", default="seq", choices=["seq", "submit", "map"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=0.0, help="wait for records (s)")
    args = parser.parse_args()
    if args.scenario == "flow_tasks":
        result = flow_tasks(args.mode, args.n, args.timeout)
    elif args.scenario == "empty_flow":
        result = empty_flow(args.runs)
    else:
        result = memory(args.n)
    emit(result)


if __name__ == "__main__":
    main()
