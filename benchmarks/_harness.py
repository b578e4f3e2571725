"""Driver-side plumbing: fresh processes, repeats, medians, the results table.

Every measurement runs in a new interpreter with its own temporary ``TIDEFLOW_HOME``
(or ``PREFECT_HOME``), so no run sees another's database, caches or threads, and each
is repeated; the table shows the median and the JSON keeps every sample.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import parse_result

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"


class BenchError(RuntimeError):
    """A worker process failed or printed no result."""


@dataclass
class Row:
    """One line of the results table."""

    key: str  # the scenario name ``--only`` selects
    label: str
    value: float | None
    unit: str  # "us", "ms", "s", "MB", "x"
    baseline: float | None = None
    baseline_label: str = ""
    target: float | None = None  # value must be <= target
    note: str = ""
    samples: list[float] = field(default_factory=list)
    skipped: str | None = None
    failed: bool = False  # e.g. not every record showed up before the deadline
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def status(self) -> str:
        if self.skipped:
            return "SKIP"
        if self.failed:
            return "MISS"
        if self.target is None or self.value is None:
            return ""
        return "PASS" if self.value <= self.target else "MISS"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["status"] = self.status
        return data


# --------------------------------------------------------------------------- processes
def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any tideflow/Prefect configuration, plus
    ``extra``: a scenario must not report to a server the caller happens to use."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TIDEFLOW_", "PREFECT_")) and k not in ("PYTHONSTARTUP",)
    }
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    env.update(extra)
    return env


@contextmanager
def temp_home(prefix: str = "tideflow-bench-") -> Iterator[Path]:
    """A throwaway home directory."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_worker(
    argv: Sequence[str],
    *,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> dict[str, Any]:
    """Run ``python -m <argv>`` from the repository root; return its result."""
    proc = subprocess.run(
        [python, "-m", *argv],
        cwd=REPO,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result = parse_result(proc.stdout)
    if proc.returncode != 0 or result is None:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return result


def run_tideflow_worker(argv: Sequence[str], **env: str) -> dict[str, Any]:
    """A tideflow worker scenario in a fresh process with a fresh ``TIDEFLOW_HOME``."""
    with temp_home() as home:
        return run_worker(
            ["benchmarks._tideflow_worker", *argv],
            env=clean_env(TIDEFLOW_HOME=str(home), **env),
        )


def time_process(
    cmd: Sequence[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 300
) -> float:
    """Wall-clock seconds of a whole process, from spawn to exit."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd), cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return elapsed


def repeat(times: int, fn: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """``fn()`` ``times`` times (each call is expected to start fresh processes)."""
    return [fn() for _ in range(times)]


def median_of(results: Sequence[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def importtime_breakdown(
    python: str, args: Sequence[str], env: dict[str, str], top: int = 10
) -> list[tuple[str, float]]:
    """Import self time of ``python -X importtime *args`` summed per top-level package,
    the ``top`` most expensive first: [(package, ms), ...]."""
    proc = subprocess.run(
        [python, "-X", "importtime", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    per_package: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        self_us, _cumulative, name = (p.strip() for p in parts)
        if not self_us.isdigit():
            continue  # the header line
        package = name.split(".")[0]
        per_package[package] = per_package.get(package, 0.0) + int(self_us) / 1000
    ranked = sorted(per_package.items(), key=lambda kv: kv[1], reverse=True)
    return [(name, round(ms, 1)) for name, ms in ranked[:top]]


# --------------------------------------------------------------------------- output
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def fmt(value: float | None, unit: str) -> str:
    """A number with a readable unit (times pick s / ms / µs / ns by size)."""
    if value is None:
        return "-"
    if unit in _SECONDS:
        sec = value * _SECONDS[unit]
        if sec >= 1:
            return f"{sec:,.2f} s"
        if sec >= 1e-3:
            return f"{sec * 1e3:,.2f} ms" if sec < 0.1 else f"{sec * 1e3:,.0f} ms"
        if sec >= 1e-6:
            return f"{sec * 1e6:,.1f} µs"
        return f"{sec * 1e9:,.0f} ns"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value:,.3g} {unit}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:,.1f}x" if ratio >= 10 else f"{ratio:,.2f}x"


def render_table(title: str, rows: Sequence[Row], caption: str = "") -> None:
    """Print the results as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    table.add_column("scenario")
    table.add_column("tideflow", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("x baseline", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_column("notes", overflow="fold")
    styles = {"PASS": "bold green", "MISS": "bold red", "SKIP": "yellow"}
    for row in rows:
        status = row.status
        value = "skipped" if row.skipped else fmt(row.value, row.unit)
        note = f"{row.skipped}; {row.note}" if row.skipped and row.note else row.skipped or row.note
        baseline = (
            f"{fmt(row.baseline, row.unit)} {row.baseline_label}".strip()
            if row.baseline is not None
            else "-"
        )
        table.add_row(
            row.label,
            value,
            baseline,
            fmt_ratio(row.ratio),
            f"≤ {fmt(row.target, row.unit)}" if row.target is not None else "-",
            f"[{styles.get(status, '')}]{status}[/]" if status else "",
            note,
        )
    Console(width=max(150, shutil.get_terminal_size().columns)).print(table)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))


def machine_note() -> str:
    """One line describing where the numbers come from."""
    import platform

    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')} · Python {platform.python_version()} · "
        f"{cpus} CPUs · load {load:.2f} · {platform.platform(terse=True)}"
    )
