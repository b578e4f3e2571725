"""DaskTaskRunner: task functions run on Dask workers, orchestration stays local."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.schemas.filters import TaskRunFilter
from tideflow.task_runners import DaskTaskRunner


@task(retries=1)
def flaky_square(x: int, fail_first: bool = False) -> int:
    return x * x


def test_dask_runner_runs_and_records_tasks_in_process_cluster() -> None:
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False})

    @flow(task_runner=runner)
    def squares() -> list[int]:
        futures = [flaky_square.submit(i) for i in range(5)]
        return [f.result() for f in futures]

    assert squares() == [0, 1, 4, 9, 16]
    (run,) = get_client().read_flow_runs()
    task_runs = get_client().read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    assert len(task_runs) == 5
    assert {t.state_name for t in task_runs} == {"Completed"}


def test_dask_runner_failure_is_a_failed_state() -> None:
    @task
    def boom() -> None:
        raise ValueError("worker side failure")

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False}))
    def failing() -> None:
        boom.submit().result()

    state = failing(return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="worker side failure"):
        state.result()


def test_dask_runner_rejects_address_and_cluster_together() -> None:
    with pytest.raises(ValueError, match="either address"):
        DaskTaskRunner(address="tcp://127.0.0.1:1", cluster_kwargs={"n_workers": 1})


def test_seed_dask_sample_uses_worker_processes(tmp_path: Path) -> None:
    """The seed's distributed training sample, on a real multi-process LocalCluster."""
    script = tmp_path / "dask_sample.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from tideflow import flow, task
            from tideflow.task_runners import DaskTaskRunner

            @task
            def train_model_fold(fold_id):
                return (fold_id, os.getpid())

            @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 2}))
            def distributed_training_flow():
                results = []
                for i in range(10):
                    results.append(train_model_fold.submit(fold_id=i))
                return results

            if __name__ == "__main__":
                results = distributed_training_flow()
                assert [r[0] for r in results] == list(range(10)), results
                pids = {r[1] for r in results}
                assert os.getpid() not in pids, "tasks ran in the flow process"
                print("OK", len(pids))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK" in done.stdout
