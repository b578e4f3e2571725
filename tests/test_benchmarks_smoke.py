"""The benchmark harness itself must not rot: run its smallest scenario end to end.

Timings are never asserted (benchmarks are measured by ``make bench``, not by tests);
this only checks that the driver starts a worker, gets a result back and writes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_quick_empty_flow_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "empty_flow",
         "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "empty flow run" in proc.stdout
    report = json.loads(out.read_text())
    assert report["quick"] is True
    [row] = report["rows"]
    assert row["key"] == "empty_flow"
    assert row["status"] in ("PASS", "MISS")
    assert isinstance(row["value"], float) and row["value"] > 0
    assert row["target"] == 5.0


def test_bench_rejects_unknown_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--only", "no_such_scenario"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown scenario" in proc.stderr
