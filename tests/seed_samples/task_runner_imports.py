# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Prefect Core Concepts > 3. Task Runners (the three imports).

Adapted only as the seed allows: ``prefect`` -> ``tideflow``.
"""

from tideflow.task_runners import SequentialTaskRunner  # Default, run tasks in sequence
from tideflow.task_runners import ConcurrentTaskRunner  # Run tasks concurrently
from tideflow.task_runners import DaskTaskRunner        # Distributed execution with Dask

if __name__ == "__main__":
    import json

    runners = [SequentialTaskRunner, ConcurrentTaskRunner, DaskTaskRunner]
    print(json.dumps([cls.__name__ for cls in runners]))
