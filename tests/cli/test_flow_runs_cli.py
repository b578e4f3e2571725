"""``tideflow flow-run``: ls, inspect, logs, cancel, delete — human and JSON output,
bad input, and one real ``tideflow`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tideflow import flow, get_run_context, get_run_logger, task
from tideflow.cli._output import console
from tideflow.cli.main import app
from tideflow.client import OrchestrationClient
from tideflow.client.embedded import EmbeddedClient
from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.states import StateType

runner = CliRunner()

RUN_FIELDS = {"id", "name", "flow_name", "state_type", "state_name", "start_time", "end_time"}
HISTORY_FIELDS = {"type", "name", "timestamp", "message"}


@task(retries=1, retry_delay_seconds=0)
def flaky(x: int) -> int:
    get_run_logger().info("attempt %d for %d", get_run_context().retry_count, x)  # type: ignore[union-attr]
    if get_run_context().retry_count == 0:  # type: ignore[union-attr]
        raise ConnectionError("first attempt fails")
    return x * 10


@task
def explode() -> None:
    get_run_logger().warning("about to fail")
    raise ValueError("kaboom")


@flow(name="cli-child")
def child(x: int) -> int:
    return x + 1


@flow(name="cli-good")
def good(x: int = 2) -> int:
    get_run_logger().info("starting with %d", x)
    return child(flaky(x))


@flow(name="cli-bad")
def bad() -> None:
    explode()


def flat(text: str) -> str:
    """Output without rich's box borders and line wrapping, for substring checks."""
    return " ".join(text.replace("│", " ").split())


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def ls_json(*args: str) -> list[dict[str, Any]]:
    result = invoke("flow-run", "ls", "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


@pytest.fixture
def runs(client: OrchestrationClient) -> dict[str, str]:
    """One completed run (with a retried task and a subflow) and one failed run."""
    assert good(2) == 21
    bad(return_state=True)
    by_flow = {r["flow_name"]: r["id"] for r in ls_json("--limit", "10")}
    return {"good": by_flow["cli-good"], "bad": by_flow["cli-bad"], "child": by_flow["cli-child"]}


def make_run(client: OrchestrationClient, state: StateCreate, flow_name: str = "made") -> str:
    return client.create_flow_run(FlowRunCreate(flow_name=flow_name, state=state)).id


# --- ls ------------------------------------------------------------------------------


def test_ls_with_no_runs() -> None:
    result = invoke("flow-run", "ls")
    assert result.exit_code == 0
    assert "No flow runs found" in result.stdout
    assert ls_json() == []


def test_ls_json_has_the_documented_fields(runs: dict[str, str]) -> None:
    data = ls_json()
    assert {r["id"] for r in data} == set(runs.values())
    for row in data:
        assert row.keys() >= RUN_FIELDS
        for key in ("start_time", "end_time"):
            assert datetime.fromisoformat(row[key]).tzinfo is not None
    states = {r["flow_name"]: (r["state_type"], r["state_name"]) for r in data}
    assert states == {
        "cli-good": ("COMPLETED", "Completed"),
        "cli-child": ("COMPLETED", "Completed"),
        "cli-bad": ("FAILED", "Failed"),
    }
    # Most recently started first.
    starts = [r["start_time"] for r in data]
    assert starts == sorted(starts, reverse=True)


def test_ls_limit_flow_and_state_filters(runs: dict[str, str], client: OrchestrationClient) -> None:
    late = make_run(client, StateCreate(type=StateType.SCHEDULED, name="Late"))
    assert len(ls_json("--limit", "2")) == 2
    assert [r["id"] for r in ls_json("--flow", "cli-bad")] == [runs["bad"]]
    assert {r["id"] for r in ls_json("--flow", "cli-bad", "--flow", "cli-good")} == {
        runs["bad"],
        runs["good"],
    }
    assert [r["id"] for r in ls_json("--state", "failed")] == [runs["bad"]]
    assert [r["id"] for r in ls_json("--state", "FAILED")] == [runs["bad"]]
    # A state name selects that name only; a type every state of that type.
    assert [r["id"] for r in ls_json("--state", "late")] == [late]
    assert [r["id"] for r in ls_json("--state", "scheduled")] == [late]
    assert {r["id"] for r in ls_json("-s", "late", "-s", "failed")} == {late, runs["bad"]}
    assert ls_json("--state", "cancelled") == []
    assert ls_json("--state", "failed", "--flow", "cli-good") == []


def test_ls_human_table(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "ls")
    assert result.exit_code == 0
    out = result.stdout
    for name in ("cli-good", "cli-bad", "cli-child", "Completed", "Failed"):
        assert name in out
    assert runs["good"][:8] in out
    assert "Showing 3 of 3 flow run(s)" in out


@pytest.mark.parametrize("width", [80, 200])
def test_human_tables_fit_the_terminal(
    runs: dict[str, str], width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "_width", width)
    out = invoke("flow-run", "ls").stdout
    assert max(len(line) for line in out.splitlines()) <= width
    rows = [line for line in out.splitlines() if line[:8] in {r[:8] for r in runs.values()}]
    assert len(rows) == 3  # one line per run: nothing wrapped ...
    # ... and no column dropped
    assert all("cli-" in row and ("Completed" in row or "Failed" in row) for row in rows)
    detail = invoke("flow-run", "inspect", runs["good"]).stdout
    assert max(len(line) for line in detail.splitlines()) <= width
    assert "AwaitingRetry" in detail


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--state", "bogus"], "'bogus' is not a state"),
        (["--state", "done"], "completed"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_ls_bad_input_exits_2(args: list[str], expected: str) -> None:
    result = invoke("flow-run", "ls", *args)
    assert result.exit_code == 2
    assert expected in flat(result.output)


def test_ls_bad_state_names_the_valid_values() -> None:
    result = invoke("flow-run", "ls", "--state", "bogus")
    assert result.exit_code == 2
    text = flat(result.output)
    for valid in ("completed", "failed", "Cached", "TimedOut", "AwaitingRetry"):
        assert valid in text


# --- inspect -------------------------------------------------------------------------


def test_inspect_json(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "inspect", runs["good"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert RUN_FIELDS | {"parameters", "state_history", "task_runs"} <= data.keys()
    assert data["id"] == runs["good"]
    assert data["parameters"] == {"x": 2}
    assert [s["name"] for s in data["state_history"]] == ["Pending", "Running", "Completed"]
    for entry in data["state_history"]:
        assert entry.keys() >= HISTORY_FIELDS
        datetime.fromisoformat(entry["timestamp"])
    assert len(data["task_runs"]) == 2  # the task and the subflow's parent task run
    (flaky_run,) = [tr for tr in data["task_runs"] if tr["name"].startswith("flaky-")]
    assert RUN_FIELDS - {"flow_name"} <= flaky_run.keys()
    assert (flaky_run["state_type"], flaky_run["state_name"]) == ("COMPLETED", "Completed")
    assert [s["name"] for s in flaky_run["state_history"]] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert "first attempt fails" in flaky_run["state_history"][2]["message"]
    # The subflow is linked through its parent task run.
    assert [r["id"] for r in data["subflow_runs"]] == [runs["child"]]


def test_inspect_human(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "inspect", runs["bad"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cli-bad" in out
    assert "Failed" in out
    assert "ValueError: kaboom" in out  # the recorded traceback
    assert "State history" in out and "Task runs (1)" in out
    assert "explode-" in out
    assert f"tideflow flow-run logs {runs['bad']}" in out


def test_inspect_by_prefix_and_by_name(runs: dict[str, str], client: OrchestrationClient) -> None:
    by_prefix = json.loads(invoke("flow-run", "inspect", runs["good"][:8], "--json").stdout)
    assert by_prefix["id"] == runs["good"]
    name = client.read_flow_run(runs["bad"]).name
    by_name = json.loads(invoke("flow-run", "inspect", name, "--json").stdout)
    assert by_name["id"] == runs["bad"]


@pytest.mark.parametrize("command", ["inspect", "logs", "cancel", "delete"])
def test_unknown_id_exits_1(command: str, runs: dict[str, str]) -> None:
    result = invoke("flow-run", command, "does-not-exist")
    assert result.exit_code == 1
    assert "Flow run 'does-not-exist' not found" in result.stderr
    missing = "00000000-0000-0000-0000-000000000000"
    result = invoke("flow-run", command, missing)
    assert result.exit_code == 1
    assert f"Flow run '{missing}' not found" in result.stderr


# --- logs ----------------------------------------------------------------------------


def test_logs(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "logs", runs["good"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("starting with 2" in line and "Flow run '" in line for line in lines)
    attempts = [line for line in lines if " for 2" in line and "Task run 'flaky-" in line]
    assert len(attempts) == 2  # one per try, each with its task run's name
    assert " INFO " in attempts[0]


def test_logs_level_filter_and_json(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "logs", runs["bad"], "--level", "warning")
    assert result.exit_code == 0, result.output
    assert "about to fail" in result.stdout
    assert "Beginning flow run" not in result.stdout
    as_json = invoke("flow-run", "logs", runs["bad"], "--level", "WARNING", "--json")
    data = json.loads(as_json.stdout)
    assert data and all(line["level"] >= 30 for line in data)
    assert any(line["message"] == "about to fail" for line in data)
    quiet = invoke("flow-run", "logs", runs["good"], "--level", "critical")
    assert quiet.exit_code == 0
    assert "No logs" in quiet.stdout


def test_logs_bad_level_exits_2(runs: dict[str, str]) -> None:
    result = invoke("flow-run", "logs", runs["good"], "--level", "loud")
    assert result.exit_code == 2
    assert "DEBUG, INFO, WARNING, ERROR, CRITICAL" in flat(result.output)


# --- cancel and delete ---------------------------------------------------------------


def test_cancel_running_run_proposes_cancelling(client: OrchestrationClient) -> None:
    run_id = make_run(client, StateCreate(type=StateType.PENDING))
    assert client.set_flow_run_state(run_id, StateCreate(type=StateType.RUNNING)).status == "ACCEPT"
    result = invoke("flow-run", "cancel", run_id)
    assert result.exit_code == 0, result.output
    assert "Cancelling" in result.stdout
    run = client.read_flow_run(run_id)
    assert (run.state_type, run.state_name) == (StateType.CANCELLING, "Cancelling")


def test_cancel_scheduled_run_proposes_cancelled(client: OrchestrationClient) -> None:
    run_id = make_run(client, StateCreate(type=StateType.SCHEDULED))
    result = invoke("flow-run", "cancel", run_id[:8])
    assert result.exit_code == 0, result.output
    run = client.read_flow_run(run_id)
    assert (run.state_type, run.state_name) == (StateType.CANCELLED, "Cancelled")
    assert [s.name for s in client.read_flow_run_states(run_id)] == ["Scheduled", "Cancelled"]


def test_cancel_finished_run_prints_the_orchestrators_reason(
    runs: dict[str, str], client: OrchestrationClient
) -> None:
    result = invoke("flow-run", "cancel", runs["good"])
    assert result.exit_code == 1
    err = flat(result.stderr)
    assert "Cannot cancel flow run" in err
    assert "already completed" in err  # PreventLeavingTerminalStates' reason
    assert client.read_flow_run(runs["good"]).state_name == "Completed"


def test_delete(runs: dict[str, str], client: OrchestrationClient) -> None:
    result = invoke("flow-run", "delete", runs["bad"])
    assert result.exit_code == 0, result.output
    assert "Deleted flow run" in result.stdout
    assert runs["bad"] not in {r["id"] for r in ls_json()}
    again = invoke("flow-run", "inspect", runs["bad"])
    assert again.exit_code == 1


# --- a real process ------------------------------------------------------------------


def test_real_tideflow_process_lists_runs_as_json(
    runs: dict[str, str], tideflow_home: Path
) -> None:
    exe = Path(sys.executable).parent / "tideflow"
    assert exe.exists(), f"console script {exe} missing: pip install -e ."
    env = {**os.environ, "TIDEFLOW_HOME": str(tideflow_home)}
    for var in ("TIDEFLOW_API_URL", "TIDEFLOW_DATABASE_URL"):
        env.pop(var, None)
    proc = subprocess.run(
        [str(exe), "flow-run", "ls", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {r["id"] for r in data} == set(runs.values())
    assert all(r.keys() >= RUN_FIELDS for r in data)


# --- through a server ----------------------------------------------------------------


@pytest.fixture
def via_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tideflow server on its own SQLite database; settings point at its API."""
    from serverkit import LiveServer
    from tideflow.client import reset_clients
    from tideflow.server.app import create_app
    from tideflow.settings import reload_settings

    database = f"sqlite:///{tmp_path / 'server.db'}"
    server = LiveServer(create_app(database, services=[])).start()
    monkeypatch.setenv("TIDEFLOW_API_URL", server.url + "/api")
    reload_settings()
    reset_clients()
    try:
        yield server.url
    finally:
        server.stop()


def test_commands_work_through_the_http_api(via_server: str, tideflow_home: Path) -> None:
    assert good(2) == 21
    bad(return_state=True)
    local = EmbeddedClient(f"sqlite:///{tideflow_home / 'tideflow.db'}")
    assert local.read_flow_runs() == []  # recorded by the server, read through its API
    data = {r["flow_name"]: r for r in ls_json()}
    assert set(data) == {"cli-good", "cli-child", "cli-bad"}
    assert [r["flow_name"] for r in ls_json("--state", "failed")] == ["cli-bad"]
    good_id = data["cli-good"]["id"]
    detail = json.loads(invoke("flow-run", "inspect", good_id[:8], "--json").stdout)
    (flaky_run,) = [tr for tr in detail["task_runs"] if tr["name"].startswith("flaky-")]
    assert [s["name"] for s in flaky_run["state_history"]][-2:] == ["Retrying", "Completed"]
    assert [r["id"] for r in detail["subflow_runs"]] == [data["cli-child"]["id"]]
    assert "starting with 2" in invoke("flow-run", "logs", good_id).stdout
    refused = invoke("flow-run", "cancel", good_id)
    assert refused.exit_code == 1 and "already completed" in flat(refused.stderr)
    assert invoke("flow-run", "delete", data["cli-bad"]["id"]).exit_code == 0
    missing = invoke("flow-run", "inspect", data["cli-bad"]["id"])
    assert missing.exit_code == 1 and "not found" in missing.stderr
