"""``tideflow concurrency-limit``: create, ls, inspect, delete; embedded and remote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serverkit import (  # noqa: F401  (fixtures)
    LiveServer,
    _live_servers,
    database_url,
    live_server,
    postgres_admin_url,
    postgres_url,
    sqlite_url,
)
from tideflow.cli.main import app
from tideflow.client import get_client, reset_clients
from tideflow.server.app import create_app
from tideflow.settings import reload_settings

runner = CliRunner()


@pytest.fixture(params=["embedded", "remote"])
def door(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """The CLI on the embedded store, or (``TIDEFLOW_API_URL``) on a server's."""
    if request.param == "embedded":
        yield "embedded"
        return
    server = LiveServer(create_app(f"sqlite:///{tmp_path / 'remote.db'}", services=[])).start()
    monkeypatch.setenv("TIDEFLOW_API_URL", server.url)
    reload_settings()
    reset_clients()
    yield "remote"
    server.stop()


def test_create_list_inspect_delete(door: str) -> None:
    created = runner.invoke(app, ["concurrency-limit", "create", "gpu", "2"])
    assert created.exit_code == 0, created.output
    assert "gpu" in created.output and "2" in created.output
    assert get_client().location.startswith("http" if door == "remote" else "sqlite")
    get_client().acquire_concurrency_slots(["gpu"], "holder", 30)
    listed = runner.invoke(app, ["concurrency-limit", "ls"])
    assert listed.exit_code == 0
    assert "gpu" in listed.output and "Active slots" in listed.output
    as_json = json.loads(runner.invoke(app, ["concurrency-limit", "ls", "--json"]).output)
    assert [(c["tag"], c["concurrency_limit"], c["active_slots"]) for c in as_json] == [
        ("gpu", 2, 1)
    ]
    one = json.loads(runner.invoke(app, ["concurrency-limit", "inspect", "gpu", "--json"]).output)
    assert one["tag"] == "gpu"
    assert "gpu" in runner.invoke(app, ["concurrency-limit", "inspect", "gpu"]).output
    deleted = runner.invoke(app, ["concurrency-limit", "delete", "gpu"])
    assert deleted.exit_code == 0
    assert (
        runner.invoke(app, ["concurrency-limit", "ls"]).output.strip() == "No concurrency limits."
    )
    assert runner.invoke(app, ["concurrency-limit", "ls", "--json"]).output.strip() == "[]"


def test_unknown_tags_and_bad_numbers(door: str) -> None:
    missing = runner.invoke(app, ["concurrency-limit", "inspect", "nope"])
    assert missing.exit_code == 1
    assert "nope" in missing.output
    assert runner.invoke(app, ["concurrency-limit", "delete", "nope"]).exit_code == 1
    negative = runner.invoke(app, ["concurrency-limit", "create", "gpu", "-1"])
    assert negative.exit_code == 2
    not_a_number = runner.invoke(app, ["concurrency-limit", "create", "gpu", "many"])
    assert not_a_number.exit_code == 2
