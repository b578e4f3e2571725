"""Every HTTP client call, written once for the sync and the async client.

Each operation is a generator: it yields ``Request``s, receives each response's decoded
JSON, and returns the result. ``HttpClient`` drives it with blocking requests,
``AsyncHttpClient`` with awaited ones, so the two cannot drift apart (the same trick
as the engine's lifecycle generators).

Retries must be safe, so every write is made idempotent before it is sent: a new flow
run, a proposed state and an unkeyed log line get a client-chosen id or key.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from tideflow._ids import new_id, new_key
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import (
    ConcurrencyLimit,
    Flow,
    FlowRun,
    LogRecord,
    OrchestrationResult,
    StateRecord,
    TaskRun,
)
from tideflow.schemas.filters import (
    MAX_PAGE_SIZE,
    FlowRunFilter,
    FlowRunSort,
    LogFilter,
    TaskRunFilter,
)

T = TypeVar("T")

#: Page sizes the server accepts (larger reads are paged transparently).
FLOW_RUN_PAGE = MAX_PAGE_SIZE
TASK_RUN_PAGE = 1000
LOG_PAGE = 1000
#: Records per ``POST /task_runs/batch``; the server refuses more than 20,000.
BATCH_ITEMS = 10_000


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of an operation (``path`` is relative to ``.../api``)."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None


Op = Generator[Request, Any, T]


def _id(value: str) -> str:
    return quote(value, safe="")


def _paged(
    make: Callable[[int, int], Request], limit: int | None, offset: int, page: int
) -> Generator[Request, Any, list[Any]]:
    rows: list[Any] = []
    while limit is None or len(rows) < limit:
        size = page if limit is None else min(page, limit - len(rows))
        got = yield make(size, offset + len(rows))
        rows.extend(got)
        if len(got) < size:
            break
    return rows


def _filter(value: Any) -> Any:
    return value.model_dump(mode="json", exclude_none=True) if value is not None else None


# ------------------------------------------------------------------ flows and flow runs
def read_flows(limit: int, offset: int) -> Op[list[Flow]]:
    rows = yield from _paged(
        lambda size, skip: Request("GET", "/flows", params={"limit": size, "offset": skip}),
        limit,
        offset,
        FLOW_RUN_PAGE,
    )
    return [Flow.model_validate(r) for r in rows]


def create_flow_run(data: FlowRunCreate) -> Op[FlowRun]:
    body = data.model_dump(mode="json", exclude_none=True)
    body.setdefault("id", new_id())
    if "state" in body:
        body["state"].setdefault("id", new_id())
    return FlowRun.model_validate((yield Request("POST", "/flow_runs", body)))


def read_flow_run(flow_run_id: str) -> Op[FlowRun]:
    return FlowRun.model_validate((yield Request("GET", f"/flow_runs/{_id(flow_run_id)}")))


def read_flow_runs(
    flow_run_filter: FlowRunFilter | None, sort: FlowRunSort, limit: int, offset: int
) -> Op[list[FlowRun]]:
    where = _filter(flow_run_filter)
    rows = yield from _paged(
        lambda size, skip: Request(
            "POST",
            "/flow_runs/filter",
            {"flow_runs": where, "sort": FlowRunSort(sort).value, "limit": size, "offset": skip},
        ),
        limit,
        offset,
        FLOW_RUN_PAGE,
    )
    return [FlowRun.model_validate(r) for r in rows]


def count_flow_runs(flow_run_filter: FlowRunFilter | None) -> Op[int]:
    count = yield Request("POST", "/flow_runs/count", {"flow_runs": _filter(flow_run_filter)})
    return int(count)


def set_flow_run_state(
    flow_run_id: str, state: StateCreate, force: bool
) -> Op[OrchestrationResult]:
    body = state.model_dump(mode="json", exclude_none=True)
    body.setdefault("id", new_id())
    result = yield Request(
        "POST", f"/flow_runs/{_id(flow_run_id)}/set_state", {"state": body, "force": force}
    )
    return OrchestrationResult.model_validate(result)


def cancel_flow_run(flow_run_id: str, message: str | None) -> Op[OrchestrationResult]:
    result = yield Request("POST", f"/flow_runs/{_id(flow_run_id)}/cancel", {"message": message})
    return OrchestrationResult.model_validate(result)


def read_flow_run_states(flow_run_id: str) -> Op[list[StateRecord]]:
    rows = yield Request("GET", f"/flow_runs/{_id(flow_run_id)}/states")
    return [StateRecord.model_validate(r) for r in rows]


def delete_flow_run(flow_run_id: str) -> Op[None]:
    yield Request("DELETE", f"/flow_runs/{_id(flow_run_id)}")


def heartbeat(flow_run_id: str) -> Op[None]:
    yield Request("POST", f"/flow_runs/{_id(flow_run_id)}/heartbeat")


# ------------------------------------------------------------------ task runs and logs
_RUN_TIMES = ("state_timestamp", "start_time", "end_time", "created")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _wire_run(row: dict[str, Any]) -> dict[str, Any]:
    """A snapshot with its datetimes as ISO strings (a copy).

    This is the remote hot path: converting the known time fields here costs about
    half of leaving every datetime to the JSON encoder's ``default`` hook.
    """
    out = dict(row)
    for name in _RUN_TIMES:
        out[name] = _iso(out.get(name))
    history = out.get("state_history")
    if history:
        out["state_history"] = [{**h, "timestamp": _iso(h.get("timestamp"))} for h in history]
    return out


def write_batch(task_runs: Sequence[dict[str, Any]], logs: Sequence[dict[str, Any]]) -> Op[None]:
    """Send snapshots and log lines, ``BATCH_ITEMS`` records per request.

    Log lines without a ``key`` get one, set on the caller's dict, so that the caller
    retrying the same rows cannot store a line twice.
    """
    for row in logs:
        if not row.get("key"):
            row["key"] = new_key()
    runs = [_wire_run(row) for row in task_runs]
    lines = [{**row, "timestamp": _iso(row.get("timestamp"))} for row in logs]
    while runs or lines:
        chunk_runs, runs = runs[:BATCH_ITEMS], runs[BATCH_ITEMS:]
        room = BATCH_ITEMS - len(chunk_runs)
        chunk_lines, lines = lines[:room], lines[room:]
        yield Request("POST", "/task_runs/batch", {"task_runs": chunk_runs, "logs": chunk_lines})


def read_task_runs(
    task_run_filter: TaskRunFilter | None, limit: int | None, offset: int
) -> Op[list[TaskRun]]:
    where = _filter(task_run_filter)
    rows = yield from _paged(
        lambda size, skip: Request(
            "POST", "/task_runs/filter", {"task_runs": where, "limit": size, "offset": skip}
        ),
        limit,
        offset,
        TASK_RUN_PAGE,
    )
    return [TaskRun.model_validate(r) for r in rows]


def read_task_run(task_run_id: str) -> Op[TaskRun]:
    return TaskRun.model_validate((yield Request("GET", f"/task_runs/{_id(task_run_id)}")))


def read_task_run_states(task_run_id: str) -> Op[list[StateRecord]]:
    rows = yield Request("GET", f"/task_runs/{_id(task_run_id)}/states")
    return [StateRecord.model_validate(r) for r in rows]


def read_task_run_states_for_flow_run(flow_run_id: str) -> Op[dict[str, list[StateRecord]]]:
    data = yield Request("GET", f"/flow_runs/{_id(flow_run_id)}/task_run_states")
    return {k: [StateRecord.model_validate(s) for s in v] for k, v in data.items()}


def read_logs(log_filter: LogFilter | None, limit: int, offset: int) -> Op[list[LogRecord]]:
    where = _filter(log_filter)
    rows = yield from _paged(
        lambda size, skip: Request(
            "POST", "/logs/filter", {"logs": where, "limit": size, "offset": skip}
        ),
        limit,
        offset,
        LOG_PAGE,
    )
    return [LogRecord.model_validate(r) for r in rows]


# ------------------------------------------------------------------ concurrency limits
def create_concurrency_limit(tag: str, limit: int) -> Op[ConcurrencyLimit]:
    body = {"tag": tag, "concurrency_limit": limit}
    return ConcurrencyLimit.model_validate((yield Request("POST", "/concurrency_limits", body)))


def read_concurrency_limit(tag: str) -> Op[ConcurrencyLimit]:
    data = yield Request("GET", f"/concurrency_limits/{_id(tag)}")
    return ConcurrencyLimit.model_validate(data)


def read_concurrency_limits() -> Op[list[ConcurrencyLimit]]:
    rows = yield Request("GET", "/concurrency_limits")
    return [ConcurrencyLimit.model_validate(r) for r in rows]


def delete_concurrency_limit(tag: str) -> Op[None]:
    yield Request("DELETE", f"/concurrency_limits/{_id(tag)}")


def acquire_concurrency_slots(tags: Sequence[str], holder: str, lease_seconds: float) -> Op[bool]:
    body = {"tags": list(tags), "holder": holder, "lease_seconds": lease_seconds}
    return bool((yield Request("POST", "/concurrency_slots/acquire", body))["acquired"])


def renew_concurrency_slots(holder: str, lease_seconds: float) -> Op[None]:
    body = {"holder": holder, "lease_seconds": lease_seconds}
    yield Request("POST", "/concurrency_slots/renew", body)


def release_concurrency_slots(holder: str) -> Op[None]:
    yield Request("POST", "/concurrency_slots/release", {"holder": holder})


# ------------------------------------------------------------------ maintenance
def vacuum(older_than: timedelta) -> Op[int]:
    body = {"older_than_seconds": older_than.total_seconds()}
    return int((yield Request("POST", "/admin/vacuum", body))["deleted_flow_runs"])


def read_version() -> Op[dict[str, Any]]:
    data: dict[str, Any] = yield Request("GET", "/version")
    return data
