# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Advanced Prefect Features for ML > "Dask Integration for Distributed
Training".

Adapted only as the seed allows: ``prefect`` -> ``tideflow``; the ``flow``/``task``
imports and the ``train_model_fold`` task the sample calls are added (a small
least-squares fit per fold, reporting the worker process it ran in). Everything under
``__main__`` drives the sample and is not part of it.
"""

import os

import numpy as np

from tideflow import flow, task
from tideflow.task_runners import DaskTaskRunner


@task
def train_model_fold(fold_id: int) -> dict:
    rng = np.random.default_rng(fold_id)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=200)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {"fold": fold_id, "coef": [round(float(c), 1) for c in coef], "pid": os.getpid()}


@flow(task_runner=DaskTaskRunner())
def distributed_training_flow():
    # Tasks will be executed in a distributed Dask cluster
    results = []
    for i in range(10):
        results.append(train_model_fold(fold_id=i))
    return results


if __name__ == "__main__":
    import json

    print(json.dumps({"flow_pid": os.getpid(), "results": distributed_training_flow()}))
