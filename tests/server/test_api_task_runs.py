"""``/api/task_runs`` (the batch write path) and ``/api/logs``, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from tideflow.server.models.task_runs import MAX_BATCH_ITEMS

T0 = datetime(2030, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _flow_run(api: httpx.Client) -> str:
    response = api.post("/flow_runs", json={"flow_name": "f", "state": {"type": "RUNNING"}})
    return str(response.json()["id"])


def _state(type_: str, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "name": type_.title(),
        "timestamp": at.isoformat(),
        "message": None,
        "details": {},
    }


def _snapshot(flow_run_id: str, i: int, history: list[dict[str, Any]]) -> dict[str, Any]:
    last = history[-1]
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "flow_run_id": flow_run_id,
        "name": f"task-{i}",
        "task_key": "mod.task",
        "dynamic_key": str(i),
        "tags": ["t"],
        "task_inputs": {"x": [{"input_type": "parameter", "name": "x"}]},
        "state_id": last["id"],
        "state_type": last["type"],
        "state_name": last["name"],
        "state_timestamp": last["timestamp"],
        "state_details": {},
        "state_history": history,
        "start_time": history[0]["timestamp"],
        "end_time": last["timestamp"] if last["type"] == "COMPLETED" else None,
        "run_count": 1,
        "created": history[0]["timestamp"],
    }


def _log(flow_run_id: str, task_run_id: str | None, i: int, level: int = 20) -> dict[str, Any]:
    return {
        "key": f"log-{flow_run_id}-{i}",
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "name": "tideflow.task_runs",
        "level": level,
        "message": f"line {i}",
        "timestamp": (T0 + timedelta(microseconds=i)).isoformat(),
    }


def test_batch_round_trips_snapshots_histories_and_logs(api: httpx.Client) -> None:
    run_id = _flow_run(api)
    # A timestamp in another zone comes back as the same instant in UTC.
    started = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    history = [
        _state("PENDING", started),
        _state("RUNNING", started),
        _state("COMPLETED", T0 + timedelta(seconds=2)),
    ]
    snapshot = _snapshot(run_id, 1, history)
    logs = [_log(run_id, snapshot["id"], i) for i in range(3)]
    response = api.post("/task_runs/batch", json={"task_runs": [snapshot], "logs": logs})
    assert response.status_code == 200, response.text
    assert response.json() == {"task_runs": 1, "logs": 3}

    got = api.get(f"/task_runs/{snapshot['id']}").json()
    assert got["state_type"] == "COMPLETED"
    assert datetime.fromisoformat(got["start_time"]) == T0
    assert datetime.fromisoformat(got["end_time"]) == T0 + timedelta(seconds=2)
    assert got["tags"] == ["t"]
    states = api.get(f"/task_runs/{snapshot['id']}/states").json()
    assert [s["type"] for s in states] == ["PENDING", "RUNNING", "COMPLETED"]
    assert datetime.fromisoformat(states[0]["timestamp"]) == T0
    by_run = api.get(f"/flow_runs/{run_id}/task_run_states").json()
    assert list(by_run) == [snapshot["id"]]
    lines = api.post("/logs/filter", json={"logs": {"flow_run_id_any": [run_id]}}).json()
    assert [line["message"] for line in lines] == ["line 0", "line 1", "line 2"]
    assert datetime.fromisoformat(lines[1]["timestamp"]) == T0 + timedelta(microseconds=1)


def test_batch_retries_are_idempotent_and_never_go_back_in_time(api: httpx.Client) -> None:
    run_id = _flow_run(api)
    pending = _state("PENDING", T0)
    running = _state("RUNNING", T0 + timedelta(seconds=1))
    done = _state("COMPLETED", T0 + timedelta(seconds=2))
    newer = {
        "task_runs": [_snapshot(run_id, 1, [pending, running, done])],
        "logs": [_log(run_id, None, 0)],
    }
    older = {
        "task_runs": [_snapshot(run_id, 1, [pending, running])],
        "logs": [_log(run_id, None, 0)],
    }
    for body in (newer, newer, older):  # a retried batch, then a late, older one
        assert api.post("/task_runs/batch", json=body).status_code == 200
    (task_run,) = api.post("/task_runs/filter", json={}).json()
    assert task_run["state_type"] == "COMPLETED"
    assert len(task_run["state_history"]) == 3
    assert len(api.post("/logs/filter", json={}).json()) == 1


def test_batch_rejects_bad_items_naming_the_field(api: httpx.Client) -> None:
    run_id = _flow_run(api)
    good = _snapshot(run_id, 1, [_state("RUNNING", T0)])
    bad = {**_snapshot(run_id, 2, [_state("RUNNING", T0)]), "state_type": "DONE"}
    response = api.post("/task_runs/batch", json={"task_runs": [good, bad]})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "task_runs[1].state_type"
    assert error["value"] == "'DONE'"
    assert "RUNNING" in error["expected"]
    naive = {**good, "created": "2030-01-01T00:00:00"}
    response = api.post("/task_runs/batch", json={"task_runs": [naive]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "task_runs[0].created"
    extra = api.post("/task_runs/batch", json={"task_runs": [], "task_run_states": []})
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["field"] == "task_run_states"
    no_time = {**_log(run_id, None, 0), "timestamp": "yesterday"}
    response = api.post("/task_runs/batch", json={"logs": [no_time]})
    assert response.json()["errors"][0]["field"] == "logs[0].timestamp"
    # nothing from the refused batches was written
    assert api.post("/task_runs/filter", json={}).json() == []


def test_oversized_batches_are_413_and_write_nothing(api: httpx.Client) -> None:
    run_id = _flow_run(api)
    line = _log(run_id, None, 0)
    lines = [{**line, "key": f"k{i}"} for i in range(MAX_BATCH_ITEMS + 1)]
    response = api.post("/task_runs/batch", json={"logs": lines})
    assert response.status_code == 413
    assert str(MAX_BATCH_ITEMS) in response.json()["detail"]
    assert api.post("/logs", json=lines).status_code == 413
    assert api.post("/logs/filter", json={}).json() == []
    huge = b'{"logs": [' + b'"x",' * (17 * 1024 * 1024) + b'"x"]}'
    response = api.post(
        "/task_runs/batch", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_logs_create_filter_by_run_and_level_and_paginate(api: httpx.Client) -> None:
    run_a, run_b = _flow_run(api), _flow_run(api)
    lines = [_log(run_a, None, i, level=10 if i % 2 else 40) for i in range(6)]
    lines.append({**_log(run_b, None, 99), "key": None})
    response = api.post("/logs", json=lines)
    assert response.status_code == 201
    assert response.json() == {"logs": 7}
    assert api.post("/logs", json=lines[:6]).status_code == 201  # keyed: stored once
    only_a = api.post("/logs/filter", json={"logs": {"flow_run_id_any": [run_a]}}).json()
    assert len(only_a) == 6
    errors = api.post(
        "/logs/filter", json={"logs": {"flow_run_id_any": [run_a], "level_ge": 40}}
    ).json()
    assert [line["message"] for line in errors] == ["line 0", "line 2", "line 4"]
    page = api.post("/logs/filter", json={"limit": 2, "offset": 1}).json()
    assert [line["message"] for line in page] == ["line 1", "line 2"]
    assert api.post("/logs/filter", json={"limit": 1001}).status_code == 422
    bad = api.post(
        "/logs", json=[{"name": "x", "level": "loud", "message": "m", "timestamp": T0.isoformat()}]
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "[0].level"


def test_task_run_filter_and_404s(api: httpx.Client) -> None:
    run_id = _flow_run(api)
    other = _flow_run(api)
    batch = [
        _snapshot(run_id, 1, [_state("COMPLETED", T0)]),
        _snapshot(run_id, 2, [_state("FAILED", T0)]),
        _snapshot(other, 3, [_state("COMPLETED", T0)]),
    ]
    api.post("/task_runs/batch", json={"task_runs": batch})
    mine = api.post("/task_runs/filter", json={"task_runs": {"flow_run_id_any": [run_id]}}).json()
    assert {r["name"] for r in mine} == {"task-1", "task-2"}
    failed = api.post(
        "/task_runs/filter", json={"task_runs": {"state_type_any": ["FAILED"]}}
    ).json()
    assert [r["name"] for r in failed] == ["task-2"]
    assert len(api.post("/task_runs/filter", json={"limit": 2}).json()) == 2
    assert api.post("/task_runs/filter", json={"limit": 0}).status_code == 422
    missing = str(uuid.uuid4())
    assert api.get(f"/task_runs/{missing}").status_code == 404
    assert api.get(f"/task_runs/{missing}/states").status_code == 404
