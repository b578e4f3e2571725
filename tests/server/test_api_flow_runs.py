"""``/api/flows`` and ``/api/flow_runs`` over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest


def _create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"flow_name": "etl", "state": {"type": "PENDING"}, **fields}
    response = api.post("/flow_runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _set_state(api: httpx.Client, run_id: str, **state: Any) -> dict[str, Any]:
    force = state.pop("force", False)
    response = api.post(f"/flow_runs/{run_id}/set_state", json={"state": state, "force": force})
    assert response.status_code == 200, response.text
    return response.json()


def _start(api: httpx.Client, run_id: str, when: datetime | None = None) -> None:
    state = {"type": "RUNNING"} | ({"timestamp": when.isoformat()} if when else {})
    assert _set_state(api, run_id, **state)["status"] == "ACCEPT"


def test_create_and_read_flow_run_round_trips_fields(api: httpx.Client) -> None:
    expected = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    run = _create(
        api,
        name="nightly",
        parameters={"n": 3, "nested": {"a": [1, 2]}},
        tags=["prod", "etl"],
        expected_start_time=expected.isoformat(),
        retries=2,
    )
    got = api.get(f"/flow_runs/{run['id']}").json()
    assert got["name"] == "nightly"
    assert got["flow_name"] == "etl"
    assert got["parameters"] == {"n": 3, "nested": {"a": [1, 2]}}
    assert got["tags"] == ["prod", "etl"]
    assert got["retries"] == 2
    assert got["state_type"] == "PENDING"
    assert datetime.fromisoformat(got["expected_start_time"]) == expected
    assert api.get("/flows").json()[0]["name"] == "etl"


def test_create_is_idempotent_on_id_and_idempotency_key(api: httpx.Client) -> None:
    run_id = str(uuid.uuid4())
    first = _create(api, id=run_id)
    again = _create(api, id=run_id)
    assert first["id"] == again["id"] == run_id
    keyed = _create(api, idempotency_key="2024-01-01")
    assert _create(api, idempotency_key="2024-01-01")["id"] == keyed["id"]
    count = api.post("/flow_runs/count", json={}).json()
    assert count == 2


def test_filter_sort_and_paginate(api: httpx.Client) -> None:
    base = datetime(2031, 5, 1, tzinfo=UTC)
    ids = []
    for i in range(5):
        run = _create(api, flow_name="a" if i % 2 else "b", tags=["t"] if i < 3 else [])
        _start(api, run["id"], base + timedelta(minutes=i))
        ids.append(run["id"])
    _create(api, flow_name="a")  # never started
    page = api.post(
        "/flow_runs/filter",
        json={"flow_runs": {"state_type_any": ["RUNNING"]}, "sort": "START_TIME_ASC", "limit": 2},
    ).json()
    assert [r["id"] for r in page] == ids[:2]
    page2 = api.post(
        "/flow_runs/filter",
        json={
            "flow_runs": {"state_type_any": ["RUNNING"]},
            "sort": "START_TIME_ASC",
            "limit": 2,
            "offset": 2,
        },
    ).json()
    assert [r["id"] for r in page2] == ids[2:4]
    newest = api.post("/flow_runs/filter", json={"sort": "START_TIME_DESC", "limit": 1}).json()
    assert newest[0]["id"] == ids[4]
    by_flow = api.post("/flow_runs/filter", json={"flow_runs": {"flow_name_any": ["a"]}}).json()
    assert len(by_flow) == 3
    by_tag = api.post("/flow_runs/count", json={"flow_runs": {"tags_all": ["t"]}}).json()
    assert by_tag == 3
    window = api.post(
        "/flow_runs/count",
        json={
            "flow_runs": {
                "start_time_after": (base + timedelta(minutes=1)).isoformat(),
                "start_time_before": (base + timedelta(minutes=3)).isoformat(),
            }
        },
    ).json()
    assert window == 3


def test_filter_rejects_bad_page_sort_and_unknown_fields(api: httpx.Client) -> None:
    response = api.post("/flow_runs/filter", json={"limit": 201})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "limit"
    assert "200" in body["detail"] and "201" in body["detail"]
    bad_sort = api.post("/flow_runs/filter", json={"sort": "DROP TABLE"})
    assert bad_sort.status_code == 422
    assert "sort" in bad_sort.json()["detail"]
    unknown = api.post("/flow_runs/filter", json={"flow_runs": {"colour": "red"}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "flow_runs.colour"
    bad_state = api.post("/flow_runs/filter", json={"flow_runs": {"state_type_any": ["DONE"]}})
    assert bad_state.json()["errors"][0]["field"] == "flow_runs.state_type_any[0]"


def test_create_rejects_bad_bodies_naming_field_value_and_expectation(api: httpx.Client) -> None:
    response = api.post("/flow_runs", json={"flow_name": "x", "retries": "many", "colour": "red"})
    assert response.status_code == 422
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert errors["retries"]["value"] == "'many'"
    assert "integer" in errors["retries"]["expected"]
    assert "colour" in errors
    missing = api.post("/flow_runs", json={})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "flow_name"
    assert "required" in missing.json()["detail"].lower()
    malformed = api.post(
        "/flow_runs", content=b'{"flow_name": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "request body"
    assert "valid JSON" in malformed.json()["detail"]
    wrong_type = api.post("/flow_runs", json=["not", "an", "object"])
    assert wrong_type.status_code == 422
    bad_state = api.post("/flow_runs", json={"flow_name": "x", "state": {"type": "DONE"}})
    assert bad_state.json()["errors"][0]["field"] == "state.type"
    assert api.post("/flow_runs/count", json={}).json() == 0  # nothing half-written


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    for method, path, body in [
        ("GET", f"/flow_runs/{missing}", None),
        ("GET", f"/flow_runs/{missing}/states", None),
        ("GET", f"/flow_runs/{missing}/task_run_states", None),
        ("DELETE", f"/flow_runs/{missing}", None),
        ("POST", f"/flow_runs/{missing}/heartbeat", None),
        ("POST", f"/flow_runs/{missing}/cancel", None),
        ("POST", f"/flow_runs/{missing}/set_state", {"state": {"type": "RUNNING"}}),
    ]:
        response = api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert missing in response.json()["detail"]


def test_state_history_and_denormalised_times(api: httpx.Client) -> None:
    run = _create(api)
    start = datetime(2032, 3, 4, 5, 6, 7, tzinfo=UTC)
    _start(api, run["id"], start)
    done = _set_state(
        api, run["id"], type="COMPLETED", timestamp=(start + timedelta(seconds=9)).isoformat()
    )
    assert done["status"] == "ACCEPT"
    got = api.get(f"/flow_runs/{run['id']}").json()
    assert datetime.fromisoformat(got["start_time"]) == start
    assert got["total_run_time"] == pytest.approx(9.0)
    assert got["run_count"] == 1
    names = [s["name"] for s in api.get(f"/flow_runs/{run['id']}/states").json()]
    assert names == ["Pending", "Running", "Completed"]


def test_illegal_transitions_are_refused_with_a_reason(api: httpx.Client) -> None:
    run = _create(api, state={"type": "SCHEDULED"})
    early = _set_state(api, run["id"], type="COMPLETED")
    assert early["status"] == "REJECT"
    assert "without running" in early["reason"]
    _start(api, run["id"])
    twice = _set_state(api, run["id"], type="RUNNING")
    assert twice["status"] == "ABORT"
    assert "already" in twice["reason"]
    assert _set_state(api, run["id"], type="COMPLETED")["status"] == "ACCEPT"
    back = _set_state(api, run["id"], type="RUNNING")
    assert back["status"] == "ABORT"
    assert "completed" in back["reason"]
    overwrite = _set_state(api, run["id"], type="FAILED")
    assert overwrite["status"] == "REJECT"
    assert overwrite["state"]["type"] == "COMPLETED"  # the committed state is unchanged
    forced = _set_state(api, run["id"], type="SCHEDULED", force=True)
    assert forced["status"] == "ACCEPT"


def test_retrying_a_state_id_returns_the_committed_state(api: httpx.Client) -> None:
    run = _create(api)
    state_id = str(uuid.uuid4())
    first = _set_state(api, run["id"], id=state_id, type="RUNNING")
    again = _set_state(api, run["id"], id=state_id, type="RUNNING")
    assert first["status"] == again["status"] == "ACCEPT"
    assert first["state"] == again["state"]
    history = api.get(f"/flow_runs/{run['id']}/states").json()
    assert [s["type"] for s in history] == ["PENDING", "RUNNING"]
    assert api.get(f"/flow_runs/{run['id']}").json()["run_count"] == 1


def test_cancel_pending_and_running_runs(api: httpx.Client) -> None:
    pending = _create(api)
    result = api.post(f"/flow_runs/{pending['id']}/cancel").json()
    assert result["status"] == "ACCEPT"
    assert result["state"]["type"] == "CANCELLED"
    running = _create(api)
    _start(api, running["id"])
    result = api.post(f"/flow_runs/{running['id']}/cancel", json={"message": "stop it"}).json()
    assert result["state"]["type"] == "CANCELLING"
    assert result["state"]["message"] == "stop it"
    finished = api.post(f"/flow_runs/{pending['id']}/cancel").json()
    assert finished["status"] == "REJECT"


def test_heartbeat_and_delete(api: httpx.Client) -> None:
    run = _create(api)
    _start(api, run["id"])
    assert api.post(f"/flow_runs/{run['id']}/heartbeat").status_code == 204
    assert api.get(f"/flow_runs/{run['id']}").json()["heartbeat"] is not None
    assert api.delete(f"/flow_runs/{run['id']}").status_code == 204
    assert api.get(f"/flow_runs/{run['id']}").status_code == 404


def test_flows_pagination_is_capped(api: httpx.Client) -> None:
    for name in ["c", "a", "b"]:
        _create(api, flow_name=name)
    assert [f["name"] for f in api.get("/flows", params={"limit": 2}).json()] == ["a", "b"]
    assert [f["name"] for f in api.get("/flows", params={"offset": 2}).json()] == ["c"]
    too_many = api.get("/flows", params={"limit": 10_000})
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "limit"
