"""One behaviour, two doors: every ``OrchestrationClient`` method does the same through
the embedded client and through ``HttpClient``; the async clients match too."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from serverkit import LiveServer
from tideflow.client import get_async_client
from tideflow.client.base import OrchestrationClient
from tideflow.client.embedded import EmbeddedClient
from tideflow.client.http import AsyncHttpClient, HttpClient
from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import SetStateStatus
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter
from tideflow.settings import reload_settings
from tideflow.states import Completed, Pending, Running, StateType


@pytest.fixture(params=["embedded", "http"])
def door(
    request: pytest.FixtureRequest, database_url: str, live_server: LiveServer
) -> Iterator[OrchestrationClient]:
    if request.param == "embedded":
        yield EmbeddedClient(database_url)
        return
    client = HttpClient(live_server.url)
    yield client  # type: ignore[misc]
    client.close()


def _task_run(flow_run_id: str, name: str, *states: Any) -> dict[str, Any]:
    records = [s.to_record() for s in states]
    last = records[-1]
    return {
        "id": str(uuid.uuid4()),
        "flow_run_id": flow_run_id,
        "name": name,
        "task_key": f"mod.{name}",
        "dynamic_key": "0",
        "task_version": None,
        "cache_key": None,
        "tags": [],
        "task_inputs": {},
        "state_id": last["id"],
        "state_type": last["type"],
        "state_name": last["name"],
        "state_timestamp": last["timestamp"],
        "state_message": last["message"],
        "state_details": last["details"],
        "state_history": records,
        "start_time": records[0]["timestamp"],
        "end_time": None,
        "run_count": 1,
        "created": records[0]["timestamp"],
    }


def test_flow_run_lifecycle(door: OrchestrationClient) -> None:
    run = door.create_flow_run(
        FlowRunCreate(flow_name="parity", tags=["x"], state=StateCreate(type=StateType.PENDING))
    )
    assert door.read_flow_run(run.id).flow_name == "parity"
    assert [f.name for f in door.read_flows()] == ["parity"]
    running = door.set_flow_run_state(run.id, StateCreate(type=StateType.RUNNING))
    assert running.status is SetStateStatus.ACCEPT
    again = door.set_flow_run_state(run.id, StateCreate(type=StateType.RUNNING))
    assert again.status is SetStateStatus.ABORT
    assert again.reason
    door.heartbeat(run.id)
    assert door.read_flow_run(run.id).heartbeat is not None
    assert door.count_flow_runs(FlowRunFilter(tags_all=["x"])) == 1
    assert door.read_flow_runs(FlowRunFilter(state_type_any=[StateType.RUNNING]))[0].id == run.id
    assert [s.name for s in door.read_flow_run_states(run.id)] == ["Pending", "Running"]
    done = door.set_flow_run_state(run.id, StateCreate(type=StateType.COMPLETED))
    assert done.state is not None and done.state.type is StateType.COMPLETED
    door.delete_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        door.read_flow_run(run.id)
    with pytest.raises(ObjectNotFound):
        door.delete_flow_run(run.id)


def test_batches_of_task_runs_and_logs(door: OrchestrationClient) -> None:
    run = door.create_flow_run(FlowRunCreate(flow_name="parity"))
    pending, running, completed = Pending(), Running(), Completed(data=None)
    first = _task_run(run.id, "a", pending, running, completed)
    second = _task_run(run.id, "b", Pending())
    logs = [
        {
            "key": uuid.uuid4().hex,
            "flow_run_id": run.id,
            "task_run_id": first["id"],
            "name": "tideflow.task_runs",
            "level": level,
            "message": f"line {i}",
            "timestamp": datetime.now(UTC) + timedelta(microseconds=i),
        }
        for i, level in enumerate([20, 40, 20])
    ]
    door.write_batch([first, second], logs)
    door.write_batch([first, second], logs)  # a retried batch changes nothing
    task_runs = door.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    assert sorted(t.name for t in task_runs) == ["a", "b"]
    got = door.read_task_run(first["id"])
    assert got.state_type is StateType.COMPLETED
    assert got.state is not None and got.state.id == completed.id
    history = door.read_task_run_states(first["id"])
    assert [s.id for s in history] == [pending.id, running.id, completed.id]
    assert history[0].timestamp == pending.timestamp
    by_run = door.read_task_run_states_for_flow_run(run.id)
    assert set(by_run) == {first["id"], second["id"]}
    lines = door.read_logs(LogFilter(flow_run_id_any=[run.id]))
    assert [line.message for line in lines] == ["line 0", "line 1", "line 2"]
    assert lines[0].timestamp == logs[0]["timestamp"]
    errors = door.read_logs(LogFilter(flow_run_id_any=[run.id], level_ge=40))
    assert [line.message for line in errors] == ["line 1"]
    assert len(door.read_task_runs(limit=1)) == 1


def test_concurrency_limits_and_vacuum(door: OrchestrationClient) -> None:
    door.create_concurrency_limit("gpu", 1)
    assert door.read_concurrency_limit("gpu").concurrency_limit == 1
    assert door.acquire_concurrency_slots(["gpu"], "h1", 30)
    assert not door.acquire_concurrency_slots(["gpu"], "h2", 30)
    door.renew_concurrency_slots("h1", 30)
    assert door.read_concurrency_limits()[0].active_slots == 1
    door.release_concurrency_slots("h1")
    assert door.acquire_concurrency_slots(["gpu"], "h2", 30)
    door.delete_concurrency_limit("gpu")
    with pytest.raises(ObjectNotFound):
        door.read_concurrency_limit("gpu")
    assert door.vacuum(timedelta(days=1)) == 0


def test_async_http_client_matches(live_server: LiveServer) -> None:
    async def scenario() -> None:
        async with AsyncHttpClient(live_server.url) as client:
            run = await client.create_flow_run(FlowRunCreate(flow_name="async"))
            result = await client.set_flow_run_state(run.id, StateCreate(type=StateType.RUNNING))
            assert result.status is SetStateStatus.ACCEPT
            runs = await asyncio.gather(*(client.read_flow_run(run.id) for _ in range(5)))
            assert {r.state_type for r in runs} == {StateType.RUNNING}
            assert await client.count_flow_runs() == 1
            assert (await client.read_version())["api_version"] == "1"
            with pytest.raises(ObjectNotFound):
                await client.read_task_run(str(uuid.uuid4()))

    asyncio.run(scenario())


def test_get_async_client_picks_the_door(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def count() -> int:
        async with get_async_client() as client:
            await client.create_flow_run(FlowRunCreate(flow_name="door"))
            return int(await client.count_flow_runs())

    embedded = get_async_client()
    assert not isinstance(embedded, AsyncHttpClient)
    assert asyncio.run(count()) == 1
    monkeypatch.setenv("TIDEFLOW_API_URL", live_server.url)
    reload_settings()
    assert isinstance(get_async_client(), AsyncHttpClient)
    assert asyncio.run(count()) == 1  # the server's database, not the embedded one
