"""The app as a whole: health, version, docs, auth, error mapping, vacuum, services."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import update

from serverkit import LiveServer, wait_for
from tideflow.server.api import ROUTERS
from tideflow.server.app import create_app
from tideflow.server.database import tables
from tideflow.server.database.engine import get_database
from tideflow.server.services import SERVICES, Service

KEY = "s3cret-key"


def test_health_version_and_openapi_docs(api: httpx.Client, database_url: str) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    version = api.get("/version").json()
    assert version["api_version"] == "1"
    assert version["database"] == database_url.split(":")[0].split("+")[0]
    base = str(api.base_url).removesuffix("/api/")
    schema = httpx.get(base + "/openapi.json").json()
    assert "/api/task_runs/batch" in schema["paths"]
    assert httpx.get(base + "/docs").status_code == 200


def test_every_router_is_mounted_under_api() -> None:
    app = create_app("sqlite:///:memory:", services=[])
    paths = set(app.openapi()["paths"])
    for router in ROUTERS:
        for route in router.routes:
            assert "/api" + getattr(route, "path_format", "") in paths


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[str]:
    server = LiveServer(create_app(f"sqlite:///{tmp_path / 'auth.db'}", api_key=KEY, services=[]))
    server.start()
    yield server.url
    server.stop()


def test_api_key_is_required_everywhere_but_health(secured: str) -> None:
    assert httpx.get(secured + "/api/health").status_code == 200
    for method, path in [
        ("GET", "/api/version"),
        ("POST", "/api/flow_runs/filter"),
        ("POST", "/api/task_runs/batch"),
        ("GET", "/api/concurrency_limits"),
        ("GET", "/openapi.json"),
        ("GET", "/api/no-such-route"),
    ]:
        missing = httpx.request(method, secured + path, json={})
        assert missing.status_code == 401, path
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "Missing API key" in missing.json()["detail"]
        wrong = httpx.request(
            method, secured + path, json={}, headers={"authorization": "Bearer nope"}
        )
        assert wrong.status_code == 401
        assert "Invalid API key" in wrong.json()["detail"]
    headers = {"authorization": f"Bearer {KEY}"}
    assert httpx.get(secured + "/api/version", headers=headers).status_code == 200
    assert httpx.post(secured + "/api/flow_runs/filter", json={}, headers=headers).json() == []
    basic = httpx.get(secured + "/api/version", headers={"authorization": KEY})
    assert basic.status_code == 401


def test_api_key_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tideflow.settings import reload_settings

    monkeypatch.setenv("TIDEFLOW_API_KEY", KEY)
    reload_settings()
    server = LiveServer(create_app(f"sqlite:///{tmp_path / 'k.db'}", services=[])).start()
    try:
        assert httpx.get(server.url + "/api/version").status_code == 401
    finally:
        server.stop()


def test_unexpected_errors_are_500_without_internals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'boom.db'}", services=[])
    boom = APIRouter()

    @boom.get("/api/boom")
    def explode() -> None:
        raise RuntimeError("password=hunter2 in /srv/secret.py")

    app.include_router(boom)
    server = LiveServer(app).start()
    try:
        response = httpx.get(server.url + "/api/boom")
    finally:
        server.stop()
    assert response.status_code == 500
    body = response.text
    assert "hunter2" not in body and "Traceback" not in body and "secret.py" not in body
    assert response.json()["detail"].startswith("Internal server error")
    error_id = response.json()["error_id"]
    assert any(error_id in r.getMessage() for r in caplog.records)


def test_vacuum_deletes_only_old_finished_runs(api: httpx.Client, database_url: str) -> None:
    ids = {}
    for name, final in [
        ("old-done", "COMPLETED"),
        ("old-failed", "FAILED"),
        ("old-running", None),
        ("new-done", "COMPLETED"),
    ]:
        run = api.post(
            "/flow_runs", json={"flow_name": "f", "name": name, "state": {"type": "RUNNING"}}
        ).json()
        if final:
            api.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": final}})
        ids[name] = run["id"]
    long_ago = datetime.now(UTC) - timedelta(days=40)
    run_table = tables.FlowRun.__table__
    with get_database(database_url).write() as conn:
        conn.execute(
            update(run_table)
            .where(run_table.c.name.like("old-%"))
            .values(end_time=long_ago, created=long_ago)
        )
    deleted = api.post("/admin/vacuum", json={"older_than_seconds": 30 * 86400})
    assert deleted.json() == {"deleted_flow_runs": 2}
    left = {r["name"] for r in api.post("/flow_runs/filter", json={}).json()}
    assert left == {"old-running", "new-done"}


class CountingService(Service):
    interval = 0.01

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.passes = 0
        self.ran = threading.Event()

    def run_once(self) -> None:
        self.passes += 1
        if self.passes == 2:
            raise RuntimeError("one bad pass does not stop the service")
        if self.passes >= 3:
            self.ran.set()


def test_services_run_in_the_lifespan_and_stop_with_it(tmp_path: Path) -> None:
    assert isinstance(SERVICES, list)
    app = create_app(f"sqlite:///{tmp_path / 's.db'}", services=[CountingService])
    server = LiveServer(app).start()
    try:
        (service,) = app.state.services
        assert service.ran.wait(10)
        assert service.running
    finally:
        server.stop()
    assert not service.running


def test_service_run_once_is_callable_directly(tmp_path: Path) -> None:
    db = get_database(f"sqlite:///{tmp_path / 'd.db'}")
    service = CountingService(db, interval=5)
    service.run_once()
    assert service.passes == 1
    assert service.period == 5
    with pytest.raises(ValueError, match="interval"):
        CountingService(db, interval=0)
    service.start()
    wait_for(lambda: service.passes >= 2, what="the first background pass")
    service.stop()
