"""Reading a tideflow server's API from a benchmark worker (plain httpx, so what is
timed is the server, not the client's conveniences)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from benchmarks._common import FINAL_STATE_TYPES


def task_run_probe(api: str, flow_run_id: str) -> Callable[[int], bool]:
    """``probe(n)``: whether the run has at least ``n`` task runs in final states,
    asked with one request for the ``n``-th row (no count endpoint is needed)."""
    http = httpx.Client(base_url=api, timeout=30)
    where = {"flow_run_id_any": [flow_run_id], "state_type_any": list(FINAL_STATE_TYPES)}

    def probe(n: int) -> bool:
        response = http.post(
            "/task_runs/filter", json={"task_runs": where, "limit": 1, "offset": n - 1}
        )
        response.raise_for_status()
        return len(response.json()) == 1

    return probe


def task_run_count(api: str, flow_run_id: str) -> int:
    """How many task runs of the run are in final states (pages through them)."""
    where = {"flow_run_id_any": [flow_run_id], "state_type_any": list(FINAL_STATE_TYPES)}
    total = 0
    with httpx.Client(base_url=api, timeout=60) as http:
        while True:
            body = {"task_runs": where, "limit": 1000, "offset": total}
            page = http.post("/task_runs/filter", json=body).json()
            total += len(page)
            if len(page) < 1000:
                return total


def flow_run_page_fetcher(api: str, states: list[str], page: int) -> Callable[[], int]:
    """A function fetching one list page (``POST /flow_runs/filter``); returns rows."""
    http = httpx.Client(base_url=api, timeout=30)
    body = {"flow_runs": {"state_type_any": states}, "sort": "START_TIME_DESC", "limit": page}

    def fetch() -> int:
        response = http.post("/flow_runs/filter", json=body)
        response.raise_for_status()
        return len(response.json())

    return fetch
