"""The seed's code samples run as scripts, adapted only as the seed allows (``prefect`` ->
``tideflow``, missing imports added, network URLs replaced by local files or a local S3).

The adapted sources live in ``tests/seed_samples/``; each runs in its own process on
this test's store, and the test checks both what it printed and what was recorded.
Not covered here: the Deployments, Schedules, Storage and Notifications samples (tested
with deployments and blocks), the NYC-taxi pipeline (``tests/test_examples.py``) and the
MLflow sample (needs mlflow, which tideflow does not depend on).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from blockkit import AWS_KEY, AWS_SECRET, S3Server, bucket, moto_s3
from tideflow.client import OrchestrationClient
from tideflow.filesystems import AwsCredentials, S3Bucket
from tideflow.results import decode_result
from tideflow.schemas.core import FlowRun
from tideflow.schemas.filters import FlowRunFilter, TaskRunFilter

__all__ = ["bucket", "moto_s3"]  # fixtures used below

SAMPLES = Path(__file__).resolve().parent / "seed_samples"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def run_sample(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python tests/seed_samples/<name>.py`` in ``cwd`` on this test's store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TIDEFLOW_API_URL", "TIDEFLOW_DATABASE_URL")
    }
    proc = subprocess.run(
        [sys.executable, str(SAMPLES / f"{name}.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, f"{name}.py failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def printed_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def flow_runs(client: OrchestrationClient, flow_name: str) -> list[FlowRun]:
    return client.read_flow_runs(FlowRunFilter(flow_name_any=[flow_name]))


def task_states(client: OrchestrationClient, run: FlowRun) -> Counter[tuple[str, str | None]]:
    runs = client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    return Counter((tr.name.rsplit("-", 1)[0], tr.state_name) for tr in runs)


def test_task_definition(workdir: Path, client: OrchestrationClient) -> None:
    first = printed_json(run_sample("task_definition", workdir))
    assert first == {
        "name": "extract_data",
        "retries": 3,
        "states": ["Completed", "Cached"],  # cache_key_fn keyed on the url
        "total": 31.5,
    }
    # The cache outlives the process: a second run reads both from the cache.
    second = printed_json(run_sample("task_definition", workdir))
    assert second["states"] == ["Cached", "Cached"]
    runs = flow_runs(client, "extract-twice")
    assert [r.state_name for r in runs] == ["Completed", "Completed"]
    assert task_states(client, runs[0]) == {("extract_data", "Cached"): 2}


def test_flow_definition(workdir: Path, client: OrchestrationClient) -> None:
    out = printed_json(run_sample("flow_definition", workdir))
    assert out == {
        "name": "Data Processing Pipeline",
        "version": "1.0.0",
        "description": "Extracts, transforms, and loads data",
        "retries": 2,
        "task_runner": "ConcurrentTaskRunner",
        "totals": [20.0, 28.0, 24.0],
        "processed_exists": True,
    }
    runs = sorted(flow_runs(client, "Data Processing Pipeline"), key=lambda r: r.start_time)
    assert [r.state_name for r in runs] == ["Completed"] * 3
    explicit, default, retried = runs
    assert explicit.parameters == {"date": "2024-01-01"}
    assert default.parameters == {"date": None}
    assert retried.parameters == {"date": "2024-01-02"}
    # retries=2 on the flow: the failed first attempt is retried as a whole.
    history = [s.name for s in client.read_flow_run_states(retried.id)]
    assert history[:2] == ["Pending", "Running"]
    assert "AwaitingRetry" in history and history[-1] == "Completed"
    assert retried.run_count == 2
    assert task_states(client, explicit) == {
        ("extract_data", "Completed"): 1,
        ("transform_data", "Completed"): 1,
        ("load_data", "Completed"): 1,
    }


def test_task_runner_imports(workdir: Path) -> None:
    out = printed_json(run_sample("task_runner_imports", workdir))
    assert out == ["SequentialTaskRunner", "ConcurrentTaskRunner", "DaskTaskRunner"]


def test_results_and_persistence_on_s3(
    workdir: Path, client: OrchestrationClient, moto_s3: S3Server, bucket: str
) -> None:
    S3Bucket(
        bucket_name=bucket,
        credentials=AwsCredentials(aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET),
        endpoint_url=moto_s3.endpoint_url,
    ).save("my-bucket")
    out = printed_json(run_sample("results_persistence", workdir))
    assert out == {"accuracy": 0.95, "precision": 0.92}
    (key,) = moto_s3.keys(bucket)
    body = moto_s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert decode_result(body) == {"accuracy": 0.95, "precision": 0.92}
    assert body.endswith(b'{"accuracy": 0.95, "precision": 0.92}')  # JSON, as asked
    (run,) = flow_runs(client, "evaluate")
    (task_run,) = client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    assert task_run.state is not None
    # Another process (this one) loads the persisted result back from the bucket.
    assert task_run.state.result() == {"accuracy": 0.95, "precision": 0.92}


def test_hello_flow_script(workdir: Path, client: OrchestrationClient) -> None:
    proc = run_sample("hello_flow", workdir)
    assert "Hello, MLOps Zoomcamp!" in proc.stdout
    (run,) = flow_runs(client, "hello-flow")
    assert run.state_name == "Completed"
    assert run.parameters == {"name": "MLOps Zoomcamp"}
    assert task_states(client, run) == {("say_hello", "Completed"): 1}


def test_dask_distributed_training(workdir: Path, client: OrchestrationClient) -> None:
    out = printed_json(run_sample("dask_training", workdir))
    results = out["results"]
    assert [r["fold"] for r in results] == list(range(10))
    assert all(r["coef"] == [1.0, -2.0, 0.5] for r in results)
    # The task functions ran on Dask workers, not in the flow's process.
    assert out["flow_pid"] not in {r["pid"] for r in results}
    (run,) = flow_runs(client, "distributed-training-flow")
    assert run.state_name == "Completed"
    assert task_states(client, run) == {("train_model_fold", "Completed"): 10}
