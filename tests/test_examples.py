"""The bundled examples run and leave the history they promise: the ETL pipeline behind
``make run`` and the seed's NYC-taxi ML pipeline on synthetic data."""

from __future__ import annotations

import csv
import importlib.util
import os
import runpy
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tideflow.client import OrchestrationClient
from tideflow.schemas.core import FlowRun, TaskRun
from tideflow.schemas.filters import FlowRunFilter, LogFilter, TaskRunFilter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def only_run(client: OrchestrationClient, flow_name: str) -> FlowRun:
    (run,) = client.read_flow_runs(FlowRunFilter(flow_name_any=[flow_name]))
    return run


def task_runs(client: OrchestrationClient, run: FlowRun) -> list[TaskRun]:
    return client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))


def log_messages(client: OrchestrationClient, run: FlowRun) -> list[str]:
    return [line.message for line in client.read_logs(LogFilter(flow_run_id_any=[run.id]))]


def prefix(task_run: TaskRun) -> str:
    return task_run.name.rsplit("-", 1)[0]


# --- the ETL pipeline ----------------------------------------------------------------


@pytest.fixture
def etl() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLES / "etl_pipeline.py"), run_name="etl_example")


def test_etl_pipeline_retries_caches_and_logs(
    etl: dict[str, Any], client: OrchestrationClient, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = etl["etl_pipeline"](out_dir=str(out))
    assert first == {
        "report": str(out / "revenue_by_region.csv"),
        "regions": 3,
        "revenue": pytest.approx(first["revenue"]),
    }
    with (out / "revenue_by_region.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["region"] for r in rows] == ["north", "south", "west"]
    assert sum(float(r["revenue"]) for r in rows) == pytest.approx(first["revenue"])

    run = only_run(client, "etl-pipeline")
    assert run.state_name == "Completed"
    assert run.parameters == {"data_dir": None, "out_dir": str(out)}
    tasks = task_runs(client, run)
    assert Counter(prefix(t) for t in tasks) == {"extract": 3, "transform": 3, "load": 1}
    assert {t.state_name for t in tasks} == {"Completed"}
    # The west export fails once, then succeeds on its retry.
    histories = client.read_task_run_states_for_flow_run(run.id)
    retried = [t for t in tasks if "AwaitingRetry" in [s.name for s in histories[t.id]]]
    assert len(retried) == 1 and prefix(retried[0]) == "extract"
    assert [s.name for s in histories[retried[0].id]] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert "simulated blip" in (histories[retried[0].id][2].message or "")
    messages = log_messages(client, run)
    assert sum("Extracted 24 orders" in m for m in messages) == 3
    assert any(m.startswith("Total revenue") for m in messages)

    # A second run reuses the transforms (cache_key_fn=task_input_hash).
    second = etl["etl_pipeline"](out_dir=str(out))
    assert second == first
    latest = client.read_flow_runs(FlowRunFilter(flow_name_any=["etl-pipeline"]), limit=1)[0]
    assert latest.id != run.id
    states = Counter((prefix(t), t.state_name) for t in task_runs(client, latest))
    assert states == {
        ("extract", "Completed"): 3,
        ("transform", "Cached"): 3,
        ("load", "Completed"): 1,
    }


def test_make_run_main(tmp_path: Path) -> None:
    """``python -m tideflow.main`` (what ``make run`` runs) in a fresh home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["TIDEFLOW_HOME"] = str(tmp_path / "home")
    for attempt in (1, 2):
        proc = subprocess.run(
            [sys.executable, "-m", "tideflow.main", "--no-server"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = " ".join(proc.stdout.split())
        assert "of 'etl-pipeline' finished Completed" in out
        assert "flow-run ls" in out and "flow-run inspect" in out and "flow-run logs" in out
        assert ("3 Cached" in out) is (attempt == 2)
    assert (tmp_path / "home" / "tideflow.db").exists()
    assert (tmp_path / "home" / "examples" / "etl" / "revenue_by_region.csv").exists()


def test_make_run_main_then_serves_the_example_runs(tmp_path: Path) -> None:
    """Without --no-server, the main job goes on to serve the API on the same store."""
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["TIDEFLOW_HOME"] = str(tmp_path / "home")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tideflow.main", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 90
        runs = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                resp = httpx.post(f"http://127.0.0.1:{port}/api/flow_runs/filter", json={})
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            runs = resp.json()
            break
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert runs is not None, "server did not come up"
        assert [r["flow_name"] for r in runs] == ["etl-pipeline"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- the seed's NYC-taxi pipeline ----------------------------------------------------

NYC_TASKS = {
    "download_taxi_data": 1,
    "prepare_taxi_features": 2,
    "train_regression_model": 1,
    "evaluate_model_performance": 1,
    "save_model_artifacts": 1,
}


def require_deployment_modules() -> None:
    missing = [
        name
        for name in ("tideflow.deployments", "tideflow.orion.schemas.schedules")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.fail(
            f"The seed's NYC-taxi example imports {', '.join(missing)}, which tideflow does "
            "not provide yet (issue 4: deployments and schedules)."
        )


@pytest.fixture
def taxi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Synthetic trip files in a data dir; the working directory is a temp dir."""
    require_deployment_modules()
    make_data = runpy.run_path(str(EXAMPLES / "nyc_taxi" / "make_data.py"), run_name="make_data")
    data = tmp_path / "trip-data"
    written = make_data["write_months"](data, ["2023-01", "2023-02"], rows=2000)
    assert [p.name for p in written] == [
        "yellow_tripdata_2023-01.parquet",
        "yellow_tripdata_2023-02.parquet",
    ]
    monkeypatch.setenv("NYC_TAXI_DATA_URL", str(data))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_nyc_taxi_flow_runs_on_local_data(taxi: Path, client: OrchestrationClient) -> None:
    # run_name="__main__" runs the seed's own entry point: main("2023-01-01").
    runpy.run_path(str(EXAMPLES / "nyc_taxi" / "flow.py"), run_name="__main__")
    run = only_run(client, "taxi-duration-prediction")
    assert run.state_name == "Completed", run.state_message
    assert run.parameters == {"date": "2023-01-01"}
    tasks = task_runs(client, run)
    assert Counter(prefix(t) for t in tasks) == NYC_TASKS
    assert {t.state_name for t in tasks} == {"Completed"}
    messages = log_messages(client, run)
    assert "Starting training pipeline for date: 2023-01-01" in messages
    assert "Downloading training data: yellow_tripdata_2023-01.parquet" in messages
    assert any(m.startswith("Filtered shape: (") for m in messages)
    rmse = [m for m in messages if m.startswith("RMSE: ")]
    assert len(rmse) == 1 and 0 < float(rmse[0].removeprefix("RMSE: ")) < 10
    assert "Pipeline completed successfully!" in messages
    assert (taxi / "models" / "model-2023-01-01.pkl").stat().st_size > 0
    assert (taxi / "models" / "dv-2023-01-01.pkl").stat().st_size > 0


def test_nyc_taxi_flow_returns_rmse_and_builds_its_deployment(taxi: Path) -> None:
    module = runpy.run_path(str(EXAMPLES / "nyc_taxi" / "flow.py"), run_name="nyc_taxi")
    rmse = module["main"]("2023-01-15")  # trains on January, validates on February
    assert 0 < rmse < 10
    deployment = module["create_deployment"]()
    assert deployment.name == "nyc-taxi-monthly-training"
    assert deployment.tags == ["production", "mlops", "taxi-duration"]
    assert deployment.schedule.cron == "0 0 1 * *"
