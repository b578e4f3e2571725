"""The flow-run list page (50 rows, filtered by state, sorted by start time, newest
first) against a generated database, in a fresh process.

``python -m benchmarks._list_page --url DB_URL [--api API_URL] [--requests 200]``

Without ``--api`` it times the service-layer call the API route makes
(``server.models.flow_runs.read_flow_runs`` in a read transaction): the database
and the schema's indexes alone. With ``--api`` it times the same page fetched over
HTTP from a running server (routing, validation, serialisation, the network stack).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import emit

#: the state filters a list page typically uses: a rare state, the common one, a tab
FILTERS: dict[str, list[str]] = {
    "failed": ["FAILED"],
    "completed": ["COMPLETED"],
    "failed+crashed": ["FAILED", "CRASHED"],
}
PAGE = 50
WARMUP = 10


def _service_fetcher(url: str, states: list[str]) -> Callable[[], int]:
    from tideflow.schemas.filters import FlowRunFilter, FlowRunSort
    from tideflow.server.database.engine import get_database
    from tideflow.server.models import flow_runs

    db = get_database(url)
    flt = FlowRunFilter(state_type_any=states)  # type: ignore[arg-type]

    def fetch() -> int:
        with db.read() as conn:
            rows = flow_runs.read_flow_runs(conn, flt, sort=FlowRunSort.START_TIME_DESC, limit=PAGE)
        return len(rows)

    return fetch


def _http_fetcher(api: str, states: list[str]) -> Callable[[], int]:
    from benchmarks._api import flow_run_page_fetcher

    return flow_run_page_fetcher(api, states, PAGE)


def measure(fetch: Callable[[], int], requests: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        rows = fetch()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        rows = fetch()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "rows": rows,
        "p50_ms": statistics.median(times),
        "p95_ms": times[max(0, int(len(times) * 0.95) - 1)],
        "max_ms": times[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--api")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    out: dict[str, Any] = {"via": "http" if args.api else "service", "filters": {}}
    for name, states in FILTERS.items():
        fetch = _http_fetcher(args.api, states) if args.api else _service_fetcher(args.url, states)
        out["filters"][name] = measure(fetch, args.requests)
    out["p95_ms"] = max(f["p95_ms"] for f in out["filters"].values())
    out["p50_ms"] = max(f["p50_ms"] for f in out["filters"].values())
    emit(out)


if __name__ == "__main__":
    main()
