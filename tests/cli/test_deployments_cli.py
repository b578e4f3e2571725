"""``tideflow deployment`` and ``tideflow work-queue`` (in-process, CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from deploykit import write_flow
from tideflow.cli.main import app
from tideflow.client import get_client
from tideflow.schemas.filters import FlowRunFilter
from tideflow.states import StateType

runner = CliRunner()

SOURCE = """
from tideflow import flow

@flow
def etl(n: int = 1, label: str = "x"):
    return n
"""


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def invoke(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_flow(tmp_path, SOURCE, "etl.py")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_build_writes_yaml_and_apply_registers_it(project: Path) -> None:
    out = invoke(
        "deployment", "build", "etl.py:etl", "-n", "nightly", "-q", "etl-queue",
        "--cron", "0 2 * * *", "--timezone", "Europe/Paris", "-p", "n=3", "-p", "label=big",
        "--tag", "prod",
    ).output  # fmt: skip
    assert "etl-deployment.yaml" in out
    data = yaml.safe_load((project / "etl-deployment.yaml").read_text())
    assert data["schedule"] == {"cron": "0 2 * * *", "timezone": "Europe/Paris", "day_or": True}
    assert data["parameters"] == {"n": 3, "label": "big"}
    assert data["path"] == str(project)
    invoke("deployment", "apply", "etl-deployment.yaml")
    listing = flat(invoke("deployment", "ls").output)
    assert "etl/nightly" in listing and "etl-queue" in listing
    shown = json.loads(invoke("deployment", "inspect", "etl/nightly", "--json").output)
    assert shown["tags"] == ["prod"] and shown["upcoming_runs"] == []


def test_build_refuses_bad_input_with_clear_errors(project: Path) -> None:
    never = invoke("deployment", "build", "etl.py:etl", "-n", "x", "--cron", "0 0 30 2 *", code=2)
    assert "never fires" in flat(never.output)
    both = invoke(
        "deployment", "build", "etl.py:etl", "-n", "x", "--cron", "* * * * *",
        "--interval", "60", code=2,
    )  # fmt: skip
    assert "only one of" in flat(both.output)
    unknown = invoke("deployment", "build", "etl.py:etl", "-n", "x", "-p", "m=1", code=1)
    assert "no parameter(s) ['m']" in flat(unknown.output)
    missing = invoke("deployment", "build", "nope.py:etl", "-n", "x", code=1)
    assert "does not exist" in flat(missing.output)


def test_build_apply_run_and_schedule_commands(project: Path) -> None:
    invoke("deployment", "build", "etl.py:etl", "-n", "hourly", "--interval", "3600", "--apply")
    client = get_client()
    deployment = client.read_deployment_by_name("etl/hourly")
    assert client.schedule_deployment_runs(deployment.id) > 0
    run_out = flat(invoke("deployment", "run", "etl/hourly", "-p", "n=5").output)
    assert "Created flow run" in run_out
    manual = [r for r in client.read_flow_runs(FlowRunFilter(deployment_id_any=[deployment.id]),
              limit=200) if not r.auto_scheduled]  # fmt: skip
    assert [r.parameters for r in manual] == [{"n": 5}]
    inspect = flat(invoke("deployment", "inspect", "etl/hourly").output)
    assert "Next scheduled runs" in inspect

    invoke("deployment", "pause-schedule", "etl/hourly")
    auto = FlowRunFilter(deployment_id_any=[deployment.id], state_type_any=[StateType.SCHEDULED])
    remaining = client.read_flow_runs(auto, limit=200)
    assert [r.id for r in remaining] == [manual[0].id]  # runs started by hand stay
    assert "(paused)" in flat(invoke("deployment", "ls").output)
    invoke("deployment", "resume-schedule", "etl/hourly")
    invoke("deployment", "set-schedule", "etl/hourly", "--cron", "15 * * * *")
    assert client.read_deployment(deployment.id).schedule.cron == "15 * * * *"  # type: ignore[union-attr]

    backfill = flat(invoke(
        "deployment", "backfill", "etl/hourly", "--start", "2024-01-01T00:00",
        "--end", "2024-01-01T05:59",
    ).output)  # fmt: skip
    assert "6 run(s) created, 0 already existed" in backfill
    again = flat(invoke(
        "deployment", "backfill", "etl/hourly", "--start", "2024-01-01T00:00",
        "--end", "2024-01-01T05:59",
    ).output)  # fmt: skip
    assert "0 run(s) created, 6 already existed" in again

    invoke("deployment", "delete", "etl/hourly")
    gone = invoke("deployment", "inspect", "etl/hourly", code=1)
    assert "not found" in flat(gone.output)


def test_work_queue_commands() -> None:
    invoke("work-queue", "create", "gpu", "--limit", "2", "-d", "GPU boxes")
    assert "already exists" in flat(invoke("work-queue", "create", "gpu", code=1).output)
    invoke("work-queue", "pause", "gpu")
    listing = flat(invoke("work-queue", "ls").output)
    assert "gpu" in listing and "paused" in listing
    invoke("work-queue", "resume", "gpu")
    invoke("work-queue", "set-concurrency-limit", "gpu", "5")
    shown = json.loads(invoke("work-queue", "inspect", "gpu", "--json").output)
    assert shown["concurrency_limit"] == 5 and shown["is_paused"] is False
    assert shown["description"] == "GPU boxes"
    invoke("work-queue", "clear-concurrency-limit", "gpu")
    assert get_client().read_work_queue_by_name("gpu").concurrency_limit is None
    invoke("work-queue", "delete", "gpu")
    assert "not found" in flat(invoke("work-queue", "inspect", "gpu", code=1).output)


def test_agent_start_needs_a_queue() -> None:
    result = runner.invoke(app, ["agent", "start"])
    assert result.exit_code == 2
