"""``make bench-peers``: the flow scenarios on tideflow and on Prefect 3, side by side.

    python -m benchmarks.peers [--n 1000] [--quick] [--repeat K] [--json OUT]

Prefect runs from ``.bench-peers/bin/python`` (``make bench-peers`` creates that venv
and installs ``prefect>=3,<4``), each scenario in a fresh process with a fresh
``PREFECT_HOME`` and no ``PREFECT_API_URL``, i.e. on the ephemeral server Prefect
starts by itself, as ``python my_flow.py`` does out of the box. Both use their default
console logging. Prefect is slow enough that N defaults to 1,000 tasks (per-task
numbers are comparable across N) and each Prefect scenario runs once unless
``--repeat`` says otherwise; tideflow runs the same N, median of three.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    REPO,
    RESULTS_DIR,
    BenchError,
    clean_env,
    fmt,
    machine_note,
    median_of,
    repeat,
    run_tideflow_worker,
    run_worker,
    temp_home,
    time_process,
    write_json,
)
from benchmarks.run import ONE_TASK_SCRIPT

PEERS_PYTHON = REPO / ".bench-peers" / "bin" / "python"
PREFECT_SCRIPT = ONE_TASK_SCRIPT.replace("from tideflow import", "from prefect import")
#: how long to wait, after a Prefect flow returns, for its task runs to show up
PREFECT_RECORD_TIMEOUT = 120.0


@dataclass
class PeerRow:
    label: str
    unit: str
    tideflow: float | None
    prefect: float | None
    note: str = ""
    prefect_failed: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.tideflow is None or not self.prefect:
            return None
        return self.tideflow / self.prefect


@dataclass
class Config:
    n: int
    repeat: int
    tf_repeat: int
    empty_runs_prefect: int
    process_repeat: int


def _log(message: str) -> None:
    print(f"[bench-peers {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prefect_env(home: Path) -> dict[str, str]:
    return clean_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # A loaded 2-core machine can take longer than the default 20 s to start it.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="120",
    )


def run_prefect_worker(argv: list[str]) -> dict[str, Any]:
    with temp_home("prefect-bench-") as home:
        return run_worker(
            ["benchmarks._prefect_worker", *argv],
            python=str(PEERS_PYTHON),
            env=prefect_env(home),
            timeout=1800,
        )


def check_prefect() -> str | None:
    """The installed Prefect version, or None when the peers venv is missing."""
    if not PEERS_PYTHON.exists():
        return None
    proc = subprocess.run(
        [str(PEERS_PYTHON), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


# ------------------------------------------------------------------ scenarios
def flow_modes(cfg: Config) -> list[PeerRow]:
    rows = []
    labels = {
        "seq": "sequential tasks",
        "submit": ".submit on a thread-pool runner",
        "map": ".map on a thread-pool runner",
    }
    n = str(cfg.n)
    for mode, label in labels.items():
        _log(f"{mode}: tideflow")
        tf = repeat(
            cfg.tf_repeat, partial(run_tideflow_worker, ["flow_tasks", "--mode", mode, "--n", n])
        )
        _log(f"{mode}: prefect")
        wait = str(PREFECT_RECORD_TIMEOUT) if mode == "seq" else "0"
        pf_argv = ["flow_tasks", "--mode", mode, "--n", n, "--timeout", wait]
        pf = repeat(cfg.repeat, partial(run_prefect_worker, pf_argv))
        rows.append(
            PeerRow(
                f"{label}, N={cfg.n:,}: overhead per task",
                "us",
                median_of(tf, "per_task_us"),
                median_of(pf, "per_task_us"),
                note=f"CPU/task in the flow's process: tideflow "
                f"{fmt(median_of(tf, 'cpu_per_task_us'), 'us')}, Prefect "
                f"{fmt(median_of(pf, 'cpu_per_task_us'), 'us')}",
                samples={
                    "tideflow": [r["per_task_us"] for r in tf],
                    "prefect": [r["per_task_us"] for r in pf],
                },
            )
        )
        if mode == "seq":
            rows.extend(_records_rows(cfg, pf))
    return rows


def _records_rows(cfg: Config, pf: list[dict[str, Any]]) -> list[PeerRow]:
    """Queryable-after-the-end and peak memory, from the same N-task flows."""
    n = str(cfg.n)
    _log("queryable + memory: tideflow")
    tf_q = repeat(cfg.tf_repeat, lambda: run_tideflow_worker(["queryable", "--n", n]))
    tf_m = repeat(cfg.tf_repeat, lambda: run_tideflow_worker(["memory", "--n", n]))
    ok = all(r.get("ok") for r in pf)
    seen = min(r.get("seen", 0) for r in pf)
    return [
        PeerRow(
            f"flow end → all {cfg.n:,} task runs queryable",
            "s",
            median_of(tf_q, "after_return_s"),
            median_of(pf, "after_return_s") if ok else None,
            prefect_failed=""
            if ok
            else f"> {PREFECT_RECORD_TIMEOUT:.0f} s ({seen:,}/{cfg.n:,} seen)",
            note="Prefect: polled through its API while its ephemeral server lives",
        ),
        PeerRow(
            f"peak RSS of the flow's process, {cfg.n:,} tasks",
            "MB",
            median_of(tf_m, "rss_peak_mb"),
            median_of(pf, "rss_peak_mb"),
            note="Prefect's ephemeral server is a separate process, not counted",
        ),
    ]


def empty_flow(cfg: Config) -> list[PeerRow]:
    _log("empty flow: tideflow")
    tf = repeat(cfg.tf_repeat, lambda: run_tideflow_worker(["empty_flow", "--runs", "200"]))
    _log("empty flow: prefect")
    runs = str(cfg.empty_runs_prefect)
    pf = repeat(cfg.repeat, lambda: run_prefect_worker(["empty_flow", "--runs", runs]))
    return [
        PeerRow(
            "empty flow run (warm process)",
            "ms",
            median_of(tf, "per_run_ms"),
            median_of(pf, "per_run_ms"),
            note=f"mean of 200 (tideflow) / {runs} (Prefect) runs in one process",
        )
    ]


def import_(cfg: Config) -> list[PeerRow]:
    _log("import")
    tf, pf = [], []
    with temp_home() as home, temp_home("prefect-bench-") as phome:
        tf_env = clean_env(TIDEFLOW_HOME=str(home))
        for _ in range(cfg.process_repeat):
            tf.append(time_process([sys.executable, "-c", "import tideflow"], env=tf_env))
            pf.append(
                time_process([str(PEERS_PYTHON), "-c", "import prefect"], env=prefect_env(phome))
            )
    return [
        PeerRow(
            "`import` as a whole process",
            "s",
            statistics.median(tf),
            statistics.median(pf),
            samples={"tideflow": tf, "prefect": pf},
        )
    ]


def script(cfg: Config) -> list[PeerRow]:
    _log("one-task flow script")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-script-") as tmp:
        tf_path, pf_path = Path(tmp) / "tf_hello.py", Path(tmp) / "pf_hello.py"
        tf_path.write_text(ONE_TASK_SCRIPT)
        pf_path.write_text(PREFECT_SCRIPT)
        tf_cmd, pf_cmd = [sys.executable, str(tf_path)], [str(PEERS_PYTHON), str(pf_path)]
        samples: dict[str, list[float]] = {
            "tf_cold": [],
            "tf_warm": [],
            "pf_cold": [],
            "pf_warm": [],
        }
        with temp_home() as tf_home, temp_home("prefect-bench-") as pf_home:
            tf_env = clean_env(TIDEFLOW_HOME=str(tf_home))
            time_process(tf_cmd, env=tf_env, cwd=Path(tmp))
            time_process(pf_cmd, env=prefect_env(pf_home), cwd=Path(tmp), timeout=600)
            for _ in range(cfg.repeat):
                with temp_home() as h:
                    samples["tf_cold"].append(
                        time_process(tf_cmd, env=clean_env(TIDEFLOW_HOME=str(h)), cwd=Path(tmp))
                    )
                with temp_home("prefect-bench-") as h:
                    samples["pf_cold"].append(
                        time_process(pf_cmd, env=prefect_env(h), cwd=Path(tmp), timeout=600)
                    )
                samples["tf_warm"].append(time_process(tf_cmd, env=tf_env, cwd=Path(tmp)))
                samples["pf_warm"].append(
                    time_process(pf_cmd, env=prefect_env(pf_home), cwd=Path(tmp), timeout=600)
                )
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows.append(
        PeerRow(
            "one-task flow script, existing home",
            "s",
            med["tf_warm"],
            med["pf_warm"],
            note="no server running",
            samples=samples,
        )
    )
    rows.append(
        PeerRow(
            "one-task flow script, first run (fresh home)",
            "s",
            med["tf_cold"],
            med["pf_cold"],
            note="creates and migrates the database",
        )
    )
    return rows


SCENARIOS: dict[str, Callable[[Config], list[PeerRow]]] = {
    "flows": flow_modes,
    "empty_flow": empty_flow,
    "import": import_,
    "script": script,
}


def render(rows: list[PeerRow], caption: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="tideflow vs Prefect (median of fresh processes)",
        caption=caption,
        title_justify="left",
        caption_justify="left",
    )
    for name, justify in (
        ("scenario", "left"),
        ("tideflow", "right"),
        ("Prefect", "right"),
        ("tideflow / Prefect", "right"),
        ("notes", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        ratio = row.ratio
        table.add_row(
            row.label,
            fmt(row.tideflow, row.unit),
            row.prefect_failed or fmt(row.prefect, row.unit),
            "-"
            if ratio is None
            else (f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}")
            + (f"  ({1 / ratio:,.0f}x less)" if ratio and ratio < 1 else ""),
            row.note,
        )
    Console(width=150).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="tasks per flow (default 1000)")
    parser.add_argument("--quick", action="store_true", help="N=100, one repeat each")
    parser.add_argument("--repeat", type=int, default=1, help="Prefect repeats (default 1)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    version = check_prefect()
    if version is None:
        print(
            f"Prefect is not installed in {PEERS_PYTHON.parent.parent}; run `make bench-peers` "
            "(it creates that venv and installs prefect>=3,<4).",
            file=sys.stderr,
        )
        return 2
    cfg = Config(
        n=100 if args.quick else args.n,
        repeat=args.repeat,
        tf_repeat=1 if args.quick else 3,
        empty_runs_prefect=5 if args.quick else 20,
        process_repeat=3 if args.quick else 5,
    )
    names = [n.strip() for n in args.only.split(",")] if args.only else list(SCENARIOS)
    started = time.perf_counter()
    rows: list[PeerRow] = []
    errors = 0
    for name in names:
        try:
            rows.extend(SCENARIOS[name](cfg))
        except BenchError as exc:
            errors += 1
            _log(f"{name} FAILED:\n{exc}")
            rows.append(PeerRow(name, "s", None, None, note=str(exc).splitlines()[0]))
    note = f"Prefect {version} · {machine_note()} · {time.perf_counter() - started:.0f} s"
    render(rows, note)
    payload = {"machine": note, "n": cfg.n, "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]}
    write_json(args.json or RESULTS_DIR / "peers-latest.json", payload)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
