"""``tideflow block``: ls, inspect, delete, types (on the embedded store)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tideflow.blocks.system import String
from tideflow.cli.main import app
from tideflow.filesystems import S3, AwsCredentials, S3Bucket
from tideflow.notifications import SlackWebhook

runner = CliRunner()
CLEAR = "https://hooks.slack.com/services/T0/B0/cli-secret-token"


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def _save_some() -> None:
    SlackWebhook(url=CLEAR).save("ml-alerts")
    S3Bucket(
        bucket_name="models",
        credentials=AwsCredentials(aws_access_key_id="AKIA", aws_secret_access_key="cli-secret"),
    ).save("my-bucket")
    String(value="hello [not markup]").save("greeting")


def test_ls_table_and_json() -> None:
    assert "No blocks saved." in invoke("block", "ls").output
    _save_some()
    result = invoke("block", "ls")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    for expected in ("s3-bucket my-bucket", "slack-webhook ml-alerts", "string greeting"):
        assert expected in out
    assert "cli-secret" not in result.output
    data = json.loads(invoke("block", "ls", "--json").output)
    assert [(d["block_type_slug"], d["name"]) for d in data] == [
        ("s3-bucket", "my-bucket"),
        ("slack-webhook", "ml-alerts"),
        ("string", "greeting"),
    ]
    assert "cli-secret" not in json.dumps(data) and "cli-secret-token" not in json.dumps(data)
    only = json.loads(invoke("block", "ls", "--type", "string", "--json").output)
    assert [d["name"] for d in only] == ["greeting"]
    assert "of type 'gcs'" in invoke("block", "ls", "--type", "gcs").output


def test_inspect_masks_secrets() -> None:
    _save_some()
    result = invoke("block", "inspect", "s3-bucket/my-bucket")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "credentials.aws_access_key_id 'AKIA'" in out
    assert "credentials.aws_secret_access_key ********** (secret)" in out
    assert "cli-secret" not in result.output
    shown = invoke("block", "inspect", "string/greeting")
    assert "'hello [not markup]'" in shown.output  # rich markup is escaped
    data = json.loads(invoke("block", "inspect", "slack-webhook/ml-alerts", "--json").output)
    assert data["data"] == {"fields": {"url": "**********"}, "secret_fields": ["url"]}


def test_inspect_and_delete_errors() -> None:
    missing = invoke("block", "inspect", "s3/nope")
    assert missing.exit_code == 1 and "s3/nope not found" in flat(missing.output)
    assert invoke("block", "delete", "s3/nope").exit_code == 1
    bad = invoke("block", "inspect", "no-slash")
    assert bad.exit_code == 2 and "TYPE-SLUG/NAME" in flat(bad.output)


def test_delete() -> None:
    _save_some()
    result = invoke("block", "delete", "slack-webhook/ml-alerts")
    assert result.exit_code == 0 and "Deleted block slack-webhook/ml-alerts" in result.output
    names = [d["name"] for d in json.loads(invoke("block", "ls", "--json").output)]
    assert names == ["my-bucket", "greeting"]


def test_types() -> None:
    result = invoke("block", "types", "--json")
    assert result.exit_code == 0, result.output
    types = {t["slug"]: t for t in json.loads(result.output)}
    assert types["s3"]["secret_fields"] == ["aws_secret_access_key"]
    assert types["s3-bucket"]["class"] == "tideflow.filesystems.S3Bucket"
    assert types["slack-webhook"]["secret_fields"] == ["url"]
    assert {"secret", "string", "json", "git-repository", "gcs"} <= set(types)
    table = flat(invoke("block", "types").output)
    assert "pip install 'tideflow[gcs]'" in table


def test_cli_in_a_subprocess_sees_saved_blocks(tideflow_home: Path) -> None:
    S3(bucket_path="my-model-registry").save("model-storage")
    proc = subprocess.run(
        [sys.executable, "-m", "tideflow.cli.main", "block", "ls", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["name"] == "model-storage"
