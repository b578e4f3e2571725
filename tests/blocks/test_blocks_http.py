"""Blocks through the HTTP door: the REST routes on SQLite and PostgreSQL, and
``Block.save``/``load`` plus the CLI against a ``tideflow server start`` subprocess whose
own home holds the encryption key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from serverkit import LiveServer, ServerProcess
from tideflow.blocks.system import Secret
from tideflow.cli.main import app
from tideflow.client import get_client, reset_clients
from tideflow.client.http import HttpClient
from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound
from tideflow.filesystems import AwsCredentials, S3Bucket
from tideflow.notifications import SlackWebhook
from tideflow.settings import reload_settings

CLEAR = "https://hooks.slack.com/services/T0/B0/very-secret-token"


def _raw_data(database_url: str) -> list[str]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(text("SELECT data FROM block_document"))]
    finally:
        engine.dispose()


@pytest.fixture
def http_client(live_server: LiveServer) -> Iterator[HttpClient]:
    client = HttpClient(live_server.url)
    try:
        yield client
    finally:
        client.close()


def test_rest_round_trip(http_client: HttpClient, database_url: str) -> None:
    hook = SlackWebhook(url=CLEAR)
    hook.save("ml-alerts", client=http_client)
    assert all("very-secret-token" not in row for row in _raw_data(database_url))

    listed = http_client.read_block_documents()
    assert [(d["block_type_slug"], d["name"]) for d in listed] == [("slack-webhook", "ml-alerts")]
    assert listed[0]["data"]["fields"]["url"] == "**********"
    masked = http_client.read_block_document("slack-webhook", "ml-alerts")
    assert masked["data"]["fields"]["url"] == "**********"
    loaded = SlackWebhook.load("ml-alerts", client=http_client)
    assert loaded.url.get_secret_value() == CLEAR

    with pytest.raises(ObjectAlreadyExists, match="slack-webhook/ml-alerts"):
        SlackWebhook(url=CLEAR).save("ml-alerts", client=http_client)
    SlackWebhook(url=CLEAR + "-2").save("ml-alerts", overwrite=True, client=http_client)
    reloaded = SlackWebhook.load("ml-alerts", client=http_client)
    assert reloaded.url.get_secret_value() == CLEAR + "-2"

    SlackWebhook.delete("ml-alerts", client=http_client)
    with pytest.raises(ObjectNotFound, match="slack-webhook/ml-alerts"):
        SlackWebhook.load("ml-alerts", client=http_client)
    assert http_client.read_block_documents("slack-webhook") == []


def test_rest_nested_secrets_and_type_filter(http_client: HttpClient, database_url: str) -> None:
    S3Bucket(
        bucket_name="b",
        credentials=AwsCredentials(aws_access_key_id="AKIA", aws_secret_access_key="s3cr3t-key"),
    ).save("my-bucket", client=http_client)
    Secret(value="s3cr3t-key").save("tok", client=http_client)
    assert all("s3cr3t-key" not in row for row in _raw_data(database_url))
    assert [d["name"] for d in http_client.read_block_documents("s3-bucket")] == ["my-bucket"]
    bucket = S3Bucket.load("my-bucket", client=http_client)
    assert bucket.credentials.aws_secret_access_key is not None
    assert bucket.credentials.aws_secret_access_key.get_secret_value() == "s3cr3t-key"


def test_rest_errors(api: httpx.Client) -> None:
    bad_name = api.post(
        "/block_documents",
        json={"block_type_slug": "string", "name": "Bad Name", "data": {"fields": {}}},
    )
    assert bad_name.status_code == 422 and "Invalid block name 'Bad Name'" in bad_name.text
    bad_secret = api.post(
        "/block_documents",
        json={
            "block_type_slug": "string",
            "name": "x",
            "data": {"fields": {}, "secret_fields": ["nope"]},
        },
    )
    assert bad_secret.status_code == 422 and "'nope'" in bad_secret.text
    missing = api.get("/block_documents/string/missing")
    assert missing.status_code == 404 and "string/missing" in missing.text
    assert api.delete("/block_documents/string/missing").status_code == 404


def test_rest_retried_save_is_idempotent(api: httpx.Client) -> None:
    body: dict[str, Any] = {
        "block_type_slug": "string",
        "name": "once",
        "data": {"fields": {"value": "v"}, "secret_fields": []},
        "id": "0f9c7f7e-1f7b-4f7e-9a1a-3c7d9b0e2a11",
    }
    first = api.post("/block_documents", json=body)
    again = api.post("/block_documents", json=body)  # as if the first answer was lost
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"] == body["id"]
    other = api.post("/block_documents", json={**body, "id": None})
    assert other.status_code == 409


def test_include_secrets_only_on_request(api: httpx.Client, http_client: HttpClient) -> None:
    Secret(value="clear-value").save("s", client=http_client)
    assert "clear-value" not in api.get("/block_documents").text
    assert "clear-value" not in api.get("/block_documents/secret/s").text
    clear = api.get("/block_documents/secret/s", params={"include_secrets": "true"})
    assert clear.json()["data"]["fields"]["value"] == "clear-value"


# ---------------------------------------------------------------------- server process
@pytest.fixture
def remote(
    server_process: Callable[..., ServerProcess],
    tmp_path: Path,
    tideflow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ServerProcess]:
    """A server subprocess (its own TIDEFLOW_HOME) and this process pointed at it."""
    server = server_process(f"sqlite:///{tmp_path / 'server.db'}")
    monkeypatch.setenv("TIDEFLOW_API_URL", server.url)
    reload_settings()
    reset_clients()
    yield server
    monkeypatch.delenv("TIDEFLOW_API_URL")
    reload_settings()
    reset_clients()


def test_blocks_through_a_server_process(
    remote: ServerProcess, tmp_path: Path, tideflow_home: Path
) -> None:
    assert isinstance(get_client(), HttpClient)
    SlackWebhook(url=CLEAR).save("ml-alerts")
    assert SlackWebhook.load("ml-alerts").url.get_secret_value() == CLEAR
    # Encrypted with the server's key, in the server's home; the client has none.
    server_home = tmp_path / "server-home"
    assert (server_home / "encryption.key").exists()
    assert not (tideflow_home / "encryption.key").exists()
    assert all(
        "very-secret-token" not in row for row in _raw_data(remote.env["TIDEFLOW_DATABASE_URL"])
    )

    runner = CliRunner()
    listed = runner.invoke(app, ["block", "ls", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["data"]["fields"]["url"] == "**********"
    shown = runner.invoke(app, ["block", "inspect", "slack-webhook/ml-alerts"])
    assert shown.exit_code == 0 and "very-secret-token" not in shown.output
    deleted = runner.invoke(app, ["block", "delete", "slack-webhook/ml-alerts"])
    assert deleted.exit_code == 0, deleted.output
    assert get_client().read_block_documents() == []
