"""Real servers for tests: databases (SQLite and PostgreSQL), an in-thread uvicorn server
and a ``tideflow server start`` subprocess, plus the pytest fixtures built on them.

The root conftest registers this module as a pytest plugin, so every test can use them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from pg import PostgresCluster, PostgresUnavailable, create_database, free_port, with_database
from tideflow.server.database.engine import Database

__all__ = [
    "LiveServer",
    "ServerProcess",
    "_live_servers",
    "api",
    "database_url",
    "empty_database",
    "free_port",
    "live_server",
    "postgres_admin_url",
    "postgres_url",
    "server_process",
    "sqlite_server",
    "sqlite_url",
    "wait_for",
]

DEADLINE = 60.0


def wait_for(
    condition: Callable[[], Any], *, timeout: float = DEADLINE, what: str = "condition"
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


# ---------------------------------------------------------------------- databases
@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL URL we may create databases through.

    ``TIDEFLOW_TEST_POSTGRES_URL`` when set (``.ci/run`` sets it); otherwise, outside
    CI, a throwaway cluster started for this session. In CI without the variable the
    tests fail: PostgreSQL tests never skip.
    """
    given = os.environ.get("TIDEFLOW_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if os.environ.get("CI"):
        pytest.fail(
            "CI is set but TIDEFLOW_TEST_POSTGRES_URL is not: .ci/run must start PostgreSQL"
        )
    try:
        cluster = PostgresCluster().start()
    except (PostgresUnavailable, RuntimeError, subprocess.SubprocessError) as exc:
        pytest.fail(f"Could not start a PostgreSQL cluster for the tests: {exc}")
    try:
        yield cluster.url()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> str:
    """This test worker's own migrated database on the PostgreSQL server."""
    name = f"tideflow_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    create_database(postgres_admin_url, name)
    url = with_database(postgres_admin_url, name)
    db = Database(url)
    db.ensure_migrated()
    db.dispose()
    return url


def empty_database(url: str) -> None:
    """Delete every row of every table but Alembic's (much faster than a new database)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                tables = conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                ).scalars()
                # DELETE beats TRUNCATE on small tables; replica mode skips FK checks.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for table in list(tables):
                    conn.execute(text(f'DELETE FROM "{table}"'))
            else:
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
                tables = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT IN ('alembic_version', 'sqlite_sequence')"
                ).scalars()
                for table in list(tables):
                    conn.exec_driver_sql(f'DELETE FROM "{table}"')
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This test worker's own migrated SQLite database."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'server.db'}"
    db = Database(url)
    db.ensure_migrated()
    db.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty, migrated database: SQLite, then PostgreSQL (emptied before each test)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    empty_database(url)
    return url


# ---------------------------------------------------------------------- servers
class LiveServer:
    """An app served by uvicorn on a thread of this process, on a free loopback port."""

    def __init__(self, app: Any, *, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        wait_for(
            lambda: self.server.started or not self.thread.is_alive(),
            timeout=30,
            what="uvicorn to start",
        )
        if not self.server.started:
            raise RuntimeError(f"uvicorn did not start on port {self.port}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="session")
def _live_servers() -> Iterator[dict[str, LiveServer]]:
    servers: dict[str, LiveServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def live_server(database_url: str, _live_servers: dict[str, LiveServer]) -> LiveServer:
    """The tideflow app on ``database_url``, served on a thread (no background services).

    One server per database for the whole session (the database is emptied before each
    test): starting uvicorn per test would dominate the suite's time.
    """
    from tideflow.server.app import create_app

    server = _live_servers.get(database_url)
    if server is None:
        server = LiveServer(create_app(database_url, services=[])).start()
        _live_servers[database_url] = server
    return server


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A raw httpx client on the live server's ``/api``."""
    with httpx.Client(base_url=live_server.url + "/api", timeout=30) as client:
        yield client


class ServerProcess:
    """``tideflow server start`` in a subprocess; can be killed and started again."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        *,
        port: int | None = None,
        api_key: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.log_path = workdir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "TIDEFLOW_HOME": str(workdir / "server-home"),
            "TIDEFLOW_DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.env.pop("TIDEFLOW_API_URL", None)
        if api_key:
            self.env["TIDEFLOW_API_KEY"] = api_key
        else:
            self.env.pop("TIDEFLOW_API_KEY", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = DEADLINE) -> ServerProcess:
        cmd = [
            sys.executable, "-m", "tideflow.cli.main", "server", "start",
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1
        wait_for(self._healthy, timeout=timeout, what=f"the server on port {self.port}")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
        try:
            return httpx.get(self.url + "/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, like a crashed machine."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def sqlite_server(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One ``tideflow server start`` subprocess on ``sqlite_url`` for the session (tests
    that use it get the database emptied by ``database_url``/``empty_database``)."""
    server = ServerProcess(tmp_path_factory.mktemp("sqlite-server"), sqlite_url).start()
    yield server
    server.stop()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A factory: ``server_process(database_url, api_key=None)`` -> a started server."""
    started: list[ServerProcess] = []

    def make(database_url: str, **kwargs: Any) -> ServerProcess:
        server = ServerProcess(tmp_path, database_url, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
