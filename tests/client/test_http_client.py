"""``HttpClient``: retries, idempotent writes under lost responses, error mapping, paging."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from serverkit import LiveServer, free_port
from tideflow.client.http import HttpClient, RetryPolicy, normalize_api_url
from tideflow.exceptions import (
    AuthenticationError,
    ObjectAlreadyExists,
    ObjectNotFound,
    StoreUnavailable,
    TideflowError,
)
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.filters import FlowRunFilter, LogFilter
from tideflow.server.app import create_app
from tideflow.states import StateType

FAST = RetryPolicy(retries=4, backoff=0.01, backoff_max=0.05)


class Scripted:
    """An ASGI app answering with a script of ``(status, headers, body)``, then 200 {}."""

    def __init__(self, *script: tuple[int, dict[str, str], Any]) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, str, float]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.calls.append((scope["method"], scope["path"], time.monotonic()))
        status, headers, body = self.script.pop(0) if self.script else (200, {}, {})
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()]
                + [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class LoseResponses:
    """Wraps the real app: the first ``times`` responses to ``path_part`` requests are
    replaced by a 502 after the app has handled (and committed) them."""

    def __init__(self, app: Any, path_part: str, times: int) -> None:
        self.app = app
        self.path_part = path_part
        self.times = times
        self.requests: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests.append(f"{scope['method']} {scope['path']}")
        if self.path_part not in scope["path"] or self.times <= 0:
            await self.app(scope, receive, send)
            return
        self.times -= 1

        async def swallow(message: Message) -> None:
            pass

        await self.app(scope, receive, swallow)
        await send({"type": "http.response.start", "status": 502, "headers": []})
        await send({"type": "http.response.body", "body": b"bad gateway"})


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    app = Scripted()
    server = LiveServer(app).start()
    yield app, server.url
    server.stop()


def test_api_url_normalisation() -> None:
    assert normalize_api_url("http://h:4200") == "http://h:4200/api"
    assert normalize_api_url("http://h:4200/api/") == "http://h:4200/api"
    assert normalize_api_url(" https://h/prefix/api ") == "https://h/prefix/api"
    with pytest.raises(ValueError, match="http"):
        normalize_api_url("h:4200")


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(backoff=0.1, backoff_max=1.0)
    assert 0.05 <= policy.delay(0) <= 0.1
    assert 0.4 <= policy.delay(3) <= 0.8
    assert 0.5 <= policy.delay(10) <= 1.0
    assert len({policy.delay(5) for _ in range(20)}) > 1
    assert policy.delay(0, retry_after=3) == 3
    assert policy.delay(0, retry_after=1e9) == policy.retry_after_max


def test_retries_5xx_and_429_honouring_retry_after(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    app.script = [
        (503, {"retry-after": "0"}, {"detail": "busy"}),
        (500, {}, {"detail": "oops"}),
        (429, {"retry-after": "0.3"}, {"detail": "slow down"}),
        (200, {}, {"version": "x"}),
    ]
    with HttpClient(url, retry=FAST) as client:
        assert client.read_version() == {"version": "x"}
    assert len(app.calls) == 4
    assert app.calls[3][2] - app.calls[2][2] >= 0.29  # waited as told


def test_gives_up_with_store_unavailable(scripted: tuple[Scripted, str]) -> None:
    app, url = scripted
    app.script = [(503, {}, {"detail": "down"})] * 10
    policy = RetryPolicy(retries=2, backoff=0.001)
    with HttpClient(url, retry=policy) as client, pytest.raises(StoreUnavailable) as failed:
        client.read_version()
    assert "after 3 attempts" in str(failed.value)
    assert "HTTP 503" in str(failed.value)
    nobody = f"http://127.0.0.1:{free_port()}"
    with (
        HttpClient(nobody, retry=RetryPolicy(retries=1, backoff=0.001)) as client,
        pytest.raises(StoreUnavailable, match="ConnectError"),
    ):
        client.heartbeat("x")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, ObjectNotFound),
        (409, ObjectAlreadyExists),
        (413, ValueError),
        (422, ValueError),
        (418, TideflowError),
    ],
)
def test_client_errors_map_to_exceptions_without_retry(
    scripted: tuple[Scripted, str], status: int, error: type[Exception]
) -> None:
    app, url = scripted
    app.script = [(status, {}, {"detail": f"server says {status}"})]
    with HttpClient(url, retry=FAST) as client, pytest.raises(error, match=f"says {status}"):
        client.read_version()
    assert len(app.calls) == 1


@pytest.fixture
def lossy(database_url: str) -> Iterator[tuple[LoseResponses, HttpClient]]:
    app = LoseResponses(create_app(database_url, services=[]), "", 0)
    server = LiveServer(app).start()
    client = HttpClient(server.url, retry=FAST)
    yield app, client
    client.close()
    server.stop()


def test_lost_responses_never_apply_a_write_twice(lossy: tuple[LoseResponses, HttpClient]) -> None:
    app, client = lossy
    app.path_part, app.times = "/flow_runs", 1
    run = client.create_flow_run(FlowRunCreate(flow_name="f", state=StateCreate(type="PENDING")))
    assert client.count_flow_runs() == 1
    app.path_part, app.times = "/set_state", 2
    result = client.set_flow_run_state(run.id, StateCreate(type=StateType.RUNNING))
    assert result.status == "ACCEPT"  # the retry got the committed state back
    assert [s.type for s in client.read_flow_run_states(run.id)] == ["PENDING", "RUNNING"]
    now = datetime.now(UTC)
    logs = [
        {"flow_run_id": run.id, "name": "n", "level": 20, "message": f"m{i}", "timestamp": now}
        for i in range(3)
    ]
    app.path_part, app.times = "/task_runs/batch", 1
    client.write_batch([], logs)
    client.write_batch([], logs)  # the caller retrying the same rows: keys were kept
    assert len(client.read_logs(LogFilter(flow_run_id_any=[run.id]))) == 3
    app.path_part, app.times = f"/flow_runs/{run.id}", 1
    client.delete_flow_run(run.id)  # lost 204, retried DELETE finds nothing: still fine
    with pytest.raises(ObjectNotFound):
        client.read_flow_run(run.id)


def test_write_batch_is_one_request_per_batch_and_chunks_big_ones(
    lossy: tuple[LoseResponses, HttpClient],
) -> None:
    app, client = lossy
    run = client.create_flow_run(FlowRunCreate(flow_name="f"))
    now = datetime.now(UTC)
    line = {"flow_run_id": run.id, "name": "n", "level": 20, "message": "m", "timestamp": now}
    app.requests.clear()
    client.write_batch([], [dict(line) for _ in range(5000)])
    assert app.requests == ["POST /api/task_runs/batch"]
    app.requests.clear()
    client.write_batch([], [dict(line) for _ in range(25_000)])
    assert app.requests == ["POST /api/task_runs/batch"] * 3
    client.write_batch([], [])
    assert len(app.requests) == 3
    assert len(client.read_logs(limit=None)) == 30_000  # type: ignore[arg-type]


def test_reads_page_transparently_past_the_server_cap(
    lossy: tuple[LoseResponses, HttpClient],
) -> None:
    app, client = lossy
    start = datetime(2030, 1, 1, tzinfo=UTC)
    for i in range(230):
        client.create_flow_run(
            FlowRunCreate(flow_name="f", expected_start_time=start + timedelta(seconds=i))
        )
    app.requests.clear()
    runs = client.read_flow_runs(limit=500, sort="EXPECTED_START_TIME_ASC")  # type: ignore[arg-type]
    assert len(runs) == 230
    assert runs[0].expected_start_time == start
    assert app.requests == ["POST /api/flow_runs/filter"] * 2
    some = client.read_flow_runs(FlowRunFilter(flow_name_any=["f"]), limit=3, offset=5)
    assert len(some) == 3
    assert len(client.read_flows(limit=1000)) == 1


def test_bad_input_raises_value_error_naming_the_field(
    lossy: tuple[LoseResponses, HttpClient],
) -> None:
    _app, client = lossy
    with pytest.raises(ValueError, match="concurrency_limit"):
        client.create_concurrency_limit("gpu", -1)
    with pytest.raises(ValueError, match=r"task_runs\[0\]\.state_type"):
        client.write_batch([{"id": "x", "state_type": "DONE"}], [])
    with pytest.raises(ObjectNotFound, match="not found"):
        client.read_flow_run(str(uuid.uuid4()))


def test_wrong_api_key_is_an_authentication_error(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'a.db'}", api_key="right", services=[])
    server = LiveServer(app).start()
    try:
        with (
            HttpClient(server.url, api_key="wrong", retry=FAST) as client,
            pytest.raises(AuthenticationError, match="TIDEFLOW_API_KEY"),
        ):
            client.read_flows()
        with HttpClient(server.url, api_key="right") as client:
            assert client.read_flows() == []
    finally:
        server.stop()
