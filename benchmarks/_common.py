"""Helpers shared by the driver and the workers. Standard library only: the Prefect
worker imports this module from the ``.bench-peers`` interpreter, where tideflow and
its dependencies are not installed."""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

#: a worker prints exactly one line starting with this, followed by a JSON object
RESULT_MARK = "BENCH_RESULT "

#: task-run state types that mean "finished" (tideflow and Prefect spell them the same)
FINAL_STATE_TYPES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


def emit(result: dict[str, Any]) -> None:
    """Hand a worker's result to the driver (on stdout, whatever else is printed)."""
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The result a worker emitted, or None if it printed none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            data: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return data
    return None


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def inc(x: int) -> int:
    """The 'trivial task' body every scenario calls (raw, as a tideflow or Prefect task)."""
    return x + 1


def raw_calls(n: int) -> float:
    """Seconds to call ``inc`` ``n`` times in a plain loop: the per-call baseline.

    Best of three, because the total is tiny (tens of microseconds) and a single
    scheduler hiccup on a shared machine would dominate it.
    """
    best = float("inf")
    f = inc
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            f(i)
        best = min(best, time.perf_counter() - start)
    return best


def wait_until(predicate: Any, timeout: float, interval: float = 0.005) -> tuple[bool, float]:
    """Poll ``predicate()`` until true or ``timeout`` seconds; returns (ok, seconds)."""
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        if predicate():
            return True, time.perf_counter() - start
        if time.perf_counter() >= deadline:
            return False, time.perf_counter() - start
        time.sleep(interval)
