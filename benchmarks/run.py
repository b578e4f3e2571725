"""``make bench``: tideflow's overhead, throughput and scale, against baselines and
the targets of issues 2 and 3, in one command.

    python -m benchmarks.run [--quick] [--only NAME[,NAME...]] [--repeat K] [--json OUT]

Each measurement runs in a fresh process with a fresh ``TIDEFLOW_HOME`` and is
repeated (median shown). Baselines are measured in the same command: a raw Python
call of the same function for per-task costs, ``python -c pass`` for whole processes.
Scenarios (``--only`` names): raw_calls, sequential, submit, map, empty_flow, import,
script, memory, queryable, http_sequential, http_queryable, api_list, scheduler.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks import _server, bench_scheduler, gen_data
from benchmarks._harness import (
    RESULTS_DIR,
    BenchError,
    Row,
    clean_env,
    importtime_breakdown,
    machine_note,
    median_of,
    render_table,
    repeat,
    run_tideflow_worker,
    run_worker,
    temp_home,
    time_process,
    write_json,
)

# Targets (issue 2 §7, issue 3 §7).
TARGET_SEQ_US = 50.0
TARGET_SUBMIT_US = 150.0
TARGET_HTTP_SEQ_US = 150.0
TARGET_EMPTY_MS = 5.0
TARGET_IMPORT_S = 0.3
TARGET_SCRIPT_S = 0.6
TARGET_QUERYABLE_S = 1.0
TARGET_MEMORY_MB = 150.0
TARGET_LIST_P95_MS = 50.0

ONE_TASK_SCRIPT = textwrap.dedent(
    """
    from tideflow import flow, task

    @task
    def say_hello(name):
        return f"Hello, {name}!"

    @flow
    def hello_flow(name="world"):
        return say_hello(name)

    if __name__ == "__main__":
        hello_flow()
    """
)


@dataclass
class Config:
    quick: bool
    repeat: int
    sizes: list[int]
    big_n: int  # memory and queryable
    empty_runs: int
    process_repeat: int
    scale: float
    list_requests: int


def _config(quick: bool, repeat_override: int | None) -> Config:
    if quick:
        cfg = Config(True, 1, [1_000], 10_000, 20, 3, gen_data.DEFAULT_SCALE, 50)
    else:
        cfg = Config(False, 3, [1_000, 10_000], 10_000, 200, 7, 1.0, 200)
    if repeat_override:
        cfg.repeat = repeat_override
    return cfg


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _python_pass(n: int) -> list[float]:
    env = clean_env()
    return [time_process([sys.executable, "-c", "pass"], env=env) for _ in range(n)]


# ------------------------------------------------------------------ flow scenarios
def raw_calls(cfg: Config) -> list[Row]:
    results = repeat(cfg.repeat, lambda: run_tideflow_worker(["raw", "--n", "10000"]))
    per_call = median_of(results, "raw_per_call_us")
    return [
        Row(
            "raw_calls",
            "raw Python call of the task's function",
            per_call,
            "us",
            note="best of 3 loops of 10,000 calls; the per-task baseline below",
            samples=[r["raw_per_call_us"] for r in results],
        )
    ]


def _flow_rows(
    key: str, mode: str, label: str, target: float, cfg: Config, **env: str
) -> list[Row]:
    rows = []
    for n in cfg.sizes:
        argv = ["flow_tasks", "--mode", mode, "--n", str(n)]
        results = repeat(cfg.repeat, partial(run_tideflow_worker, argv, **env))
        per_task = median_of(results, "per_task_us")
        rows.append(
            Row(
                key,
                f"{label}, N={n:,}: overhead per task",
                per_task,
                "us",
                baseline=median_of(results, "raw_per_call_us"),
                baseline_label="raw call",
                target=target,
                note=f"flow {median_of(results, 'flow_s'):.3f} s, "
                f"{n / median_of(results, 'flow_s'):,.0f} tasks/s; "
                f"CPU {median_of(results, 'cpu_per_task_us'):,.0f} µs/task (all threads)",
                samples=[r["per_task_us"] for r in results],
            )
        )
    return rows


def sequential(cfg: Config) -> list[Row]:
    return _flow_rows("sequential", "seq", "sequential tasks", TARGET_SEQ_US, cfg)


def submit(cfg: Config) -> list[Row]:
    return _flow_rows("submit", "submit", ".submit on ConcurrentTaskRunner", TARGET_SUBMIT_US, cfg)


def map_(cfg: Config) -> list[Row]:
    return _flow_rows("map", "map", ".map on ConcurrentTaskRunner", TARGET_SUBMIT_US, cfg)


def empty_flow(cfg: Config) -> list[Row]:
    results = repeat(
        cfg.repeat, lambda: run_tideflow_worker(["empty_flow", "--runs", str(cfg.empty_runs)])
    )
    return [
        Row(
            "empty_flow",
            f"empty flow run (mean of {cfg.empty_runs} in one process)",
            median_of(results, "per_run_ms"),
            "ms",
            baseline=median_of(results, "raw_per_call_us") / 1000,
            baseline_label="raw call",
            target=TARGET_EMPTY_MS,
            samples=[r["per_run_ms"] for r in results],
        )
    ]


def import_(cfg: Config) -> list[Row]:
    env = clean_env()
    with temp_home() as home:
        env["TIDEFLOW_HOME"] = str(home)
        base, tf = [], []
        for _ in range(cfg.process_repeat):  # interleaved, so drift hits both alike
            base.append(time_process([sys.executable, "-c", "pass"], env=env))
            tf.append(time_process([sys.executable, "-c", "import tideflow"], env=env))
        breakdown = importtime_breakdown(sys.executable, ["-c", "import tideflow"], env)
    top = ", ".join(f"{name} {ms:.0f}" for name, ms in breakdown)
    return [
        Row(
            "import",
            "`import tideflow` (whole process)",
            statistics.median(tf),
            "s",
            baseline=statistics.median(base),
            baseline_label="python -c pass",
            target=TARGET_IMPORT_S,
            samples=tf,
            note=f"-X importtime self ms by package: {top}",
            extra={"importtime_top": breakdown},
        )
    ]


def script(cfg: Config) -> list[Row]:
    env = clean_env()
    with tempfile.TemporaryDirectory(prefix="tideflow-bench-script-") as tmp:
        path = Path(tmp) / "hello_flow.py"
        path.write_text(ONE_TASK_SCRIPT)
        cmd = [sys.executable, str(path)]
        base, cold, warm = [], [], []
        with temp_home() as warm_home:
            time_process(cmd, env={**env, "TIDEFLOW_HOME": str(warm_home)}, cwd=Path(tmp))
            for _ in range(cfg.process_repeat):
                base.append(time_process([sys.executable, "-c", "pass"], env=env))
                with temp_home() as cold_home:
                    cold.append(
                        time_process(
                            cmd, env={**env, "TIDEFLOW_HOME": str(cold_home)}, cwd=Path(tmp)
                        )
                    )
                warm.append(
                    time_process(cmd, env={**env, "TIDEFLOW_HOME": str(warm_home)}, cwd=Path(tmp))
                )
            breakdown = importtime_breakdown(
                sys.executable, cmd[1:], {**env, "TIDEFLOW_HOME": str(warm_home)}
            )
    b = statistics.median(base)
    imports = ", ".join(f"{name} {ms:.0f}" for name, ms in breakdown)
    return [
        Row(
            "script",
            "one-task flow script, existing store",
            statistics.median(warm),
            "s",
            baseline=b,
            baseline_label="python -c pass",
            target=TARGET_SCRIPT_S,
            samples=warm,
            note="`python hello_flow.py`, TIDEFLOW_HOME already used once; "
            f"-X importtime self ms by package: {imports}",
            extra={"importtime_top": breakdown},
        ),
        Row(
            "script",
            "one-task flow script, first run ever",
            statistics.median(cold),
            "s",
            baseline=b,
            baseline_label="python -c pass",
            target=TARGET_SCRIPT_S,
            samples=cold,
            note="fresh TIDEFLOW_HOME: creates the database and migrates it",
        ),
    ]


def memory(cfg: Config) -> list[Row]:
    n = str(cfg.big_n)
    plain = repeat(cfg.repeat, lambda: run_tideflow_worker(["memory", "--n", n]))
    traced = run_tideflow_worker(["memory", "--n", n, "--tracemalloc"])
    base = run_tideflow_worker(["raw", "--n", "10"])
    return [
        Row(
            "memory",
            f"peak RSS, one flow of {cfg.big_n:,} sequential tasks",
            median_of(plain, "rss_peak_mb"),
            "MB",
            baseline=base["rss_mb"],
            baseline_label="bare python",
            target=TARGET_MEMORY_MB,
            samples=[r["rss_peak_mb"] for r in plain],
            note=f"{median_of(plain, 'rss_before_mb'):.0f} MB after import + warm-up; "
            f"tracemalloc peak during the flow {traced['traced_peak_mb']:.1f} MB "
            f"({traced['traced_peak_mb'] * 2**20 / cfg.big_n / 1024:.1f} KiB/task)",
            extra={"traced_peak_mb": traced["traced_peak_mb"]},
        ),
    ]


def _queryable_row(key: str, label: str, results: list[dict], n: int) -> Row:
    ok = all(r["ok"] for r in results)
    return Row(
        key,
        label,
        median_of(results, "after_return_s"),
        "s",
        target=TARGET_QUERYABLE_S,
        failed=not ok,
        samples=[r["after_return_s"] for r in results],
        note=("" if ok else f"only {min(r['seen'] for r in results):,}/{n:,} seen; ")
        + f"{median_of(results, 'after_last_task_s') * 1000:,.0f} ms after the last task "
        f"body ended (includes the final flush); flow {median_of(results, 'flow_s'):.2f} s",
    )


def queryable(cfg: Config) -> list[Row]:
    n = cfg.big_n
    results = repeat(cfg.repeat, lambda: run_tideflow_worker(["queryable", "--n", str(n)]))
    return [
        _queryable_row(
            "queryable", f"flow end → all {n:,} task runs queryable (SQLite)", results, n
        )
    ]


# ------------------------------------------------------------------ server scenarios
def _server_or_skip(key: str, label: str) -> Row | None:
    reason = _server.unavailable()
    return Row(key, label, None, "s", skipped=f"skipped ({reason})") if reason else None


def http_sequential(cfg: Config) -> list[Row]:
    label = "sequential tasks reporting over HTTP"
    if (skip := _server_or_skip("http_sequential", label)) is not None:
        return [skip]
    rows = []
    for n in cfg.sizes:
        results = []
        for _ in range(cfg.repeat):
            with _server.tideflow_server() as api:
                results.append(
                    run_tideflow_worker(
                        ["flow_tasks", "--mode", "seq", "--n", str(n)], TIDEFLOW_API_URL=api
                    )
                )
        rows.append(
            Row(
                "http_sequential",
                f"{label}, N={n:,}: overhead per task",
                median_of(results, "per_task_us"),
                "us",
                baseline=median_of(results, "raw_per_call_us"),
                baseline_label="raw call",
                target=TARGET_HTTP_SEQ_US,
                samples=[r["per_task_us"] for r in results],
                note=f"flow {median_of(results, 'flow_s'):.3f} s; engine CPU "
                f"{median_of(results, 'cpu_per_task_us'):,.0f} µs/task; server on "
                "loopback with its own SQLite",
            )
        )
    return rows


def http_queryable(cfg: Config) -> list[Row]:
    n = cfg.big_n
    label = f"flow end → all {n:,} task runs queryable via the API"
    if (skip := _server_or_skip("http_queryable", label)) is not None:
        return [skip]
    results = []
    for _ in range(cfg.repeat):
        with _server.tideflow_server() as api:
            results.append(
                run_tideflow_worker(
                    ["queryable", "--n", str(n), "--via", "api"], TIDEFLOW_API_URL=api
                )
            )
    return [_queryable_row("http_queryable", label, results, n)]


def _postgres_url() -> str | None:
    import os

    return os.environ.get("TIDEFLOW_TEST_POSTGRES_URL") or None


def api_list(cfg: Config) -> list[Row]:
    flow_runs = gen_data.flow_run_count(cfg.scale)
    size = f"{flow_runs:,} flow runs / ~{flow_runs * gen_data.TASKS_PER_FLOW_RUN:,} task runs"
    rows: list[Row] = []
    backends: list[tuple[str, str | None]] = [("SQLite", gen_data.sqlite_url(flow_runs))]
    pg = _postgres_url()
    pg_skip = "postgres: skipped (set TIDEFLOW_TEST_POSTGRES_URL)"
    pg_url = None
    if pg:
        try:
            pg_url = gen_data.postgres_bench_url(pg, flow_runs)
        except Exception as exc:  # unreachable server, no CREATE DATABASE right, ...
            pg_skip = f"postgres: skipped ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    backends.append(("PostgreSQL", pg_url))
    for name, url in backends:
        if url is None:
            rows.append(Row("api_list", f"list page p95, {name}", None, "ms", skipped=pg_skip))
            continue
        if not gen_data.is_complete(url, flow_runs):
            _log(f"{name}: checking / generating {size} (done once, then reused)")
            gen_data.generate(url, flow_runs)
        args = ["benchmarks._list_page", "--url", url, "--requests", str(cfg.list_requests)]
        svc = run_worker(args)
        rows.append(_list_row(f"list page p95, {name}, service layer (no HTTP)", svc, size))
        if (reason := _server.unavailable()) is not None:
            rows.append(
                Row(
                    "api_list",
                    f"list page p95, {name}, HTTP API",
                    None,
                    "ms",
                    skipped=f"skipped ({reason})",
                )
            )
            continue
        with _server.tideflow_server(database_url=url) as api:
            http = run_worker([*args, "--api", api])
        rows.append(_list_row(f"list page p95, {name}, HTTP API", http, size))
    return rows


def _list_row(label: str, result: dict, size: str) -> Row:
    per = "; ".join(
        f"{k} p50 {v['p50_ms']:.1f} / p95 {v['p95_ms']:.1f}" for k, v in result["filters"].items()
    )
    return Row(
        "api_list",
        label,
        result["p95_ms"],
        "ms",
        target=TARGET_LIST_P95_MS,
        note=f"{size}; worst filter shown; ms per filter: {per}",
        extra=result,
    )


SCENARIOS: dict[str, Callable[[Config], list[Row]]] = {
    "raw_calls": raw_calls,
    "sequential": sequential,
    "submit": submit,
    "map": map_,
    "empty_flow": empty_flow,
    "import": import_,
    "script": script,
    "memory": memory,
    "queryable": queryable,
    "http_sequential": http_sequential,
    "http_queryable": http_queryable,
    "api_list": api_list,
    "scheduler": bench_scheduler.scenario,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="N=1,000 only, one repeat")
    parser.add_argument("--only", help="comma-separated subset of the scenarios above")
    parser.add_argument("--repeat", type=int, help="fresh-process repeats per scenario")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args(argv)
    scenarios = SCENARIOS
    names = list(scenarios)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in scenarios]
        if unknown:
            parser.error(f"unknown scenario(s) {unknown}; choose from {', '.join(scenarios)}")
    cfg = _config(args.quick, args.repeat)
    rows: list[Row] = []
    errors = 0
    started = time.perf_counter()
    for name in names:
        _log(f"{name} ...")
        try:
            rows.extend(scenarios[name](cfg))
        except BenchError as exc:
            errors += 1
            rows.append(Row(name, name, None, "s", failed=True, note=str(exc).splitlines()[0]))
            _log(f"{name} FAILED:\n{exc}")
    note = machine_note()
    render_table(
        "tideflow benchmarks (median of fresh processes; x baseline = tideflow / baseline)",
        rows,
        caption=f"{note} · {time.perf_counter() - started:.0f} s · repeats {cfg.repeat}",
    )
    payload = {
        "machine": note,
        "quick": cfg.quick,
        "repeat": cfg.repeat,
        "rows": [r.to_json() for r in rows],
    }
    write_json(args.json or RESULTS_DIR / "latest.json", payload)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
