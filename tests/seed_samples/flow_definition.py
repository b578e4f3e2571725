# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Prefect Core Concepts > 2. Flows > "Flow Definition".

Adapted only as the seed allows: ``prefect`` -> ``tideflow``; the ``datetime`` import and
the three tasks the sample calls are added (``extract_data`` is the seed's Task
Definition sample; ``transform_data`` and ``load_data`` are small stand-ins). The flow
reads ``data/data-<date>.csv`` relative to the working directory, as written.
Everything under ``__main__`` drives the sample and is not part of it.
"""

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from tideflow import flow, task
from tideflow.task_runners import ConcurrentTaskRunner


@task(
    name="extract_data",
    retries=3,
    retry_delay_seconds=30,
    cache_key_fn=lambda context, **params: params["url"],
    cache_expiration=timedelta(hours=12),
)
def extract_data(url: str) -> pd.DataFrame:
    """Extract data from a given URL"""
    return pd.read_csv(url)


@task
def transform_data(data: pd.DataFrame) -> pd.DataFrame:
    return data.assign(total=data["quantity"] * data["price"])


@task
def load_data(data: pd.DataFrame) -> None:
    flag = Path("data/fail-next-load")
    if flag.exists():  # lets the driver show the flow's own retries
        flag.unlink()
        raise OSError("warehouse unavailable (simulated)")
    data.to_csv("data/processed.csv", index=False)


@flow(
    name="Data Processing Pipeline",
    description="Extracts, transforms, and loads data",
    version="1.0.0",
    task_runner=ConcurrentTaskRunner(),  # Run tasks concurrently
    retries=2,                           # Retry the entire flow if it fails
)
def process_data(date: str = None):
    """Main flow to process data"""
    # If no date provided, use today's date
    if date is None:
        date = datetime.today().strftime("%Y-%m-%d")
    # Call tasks, which automatically creates dependencies
    data = extract_data(f"data/data-{date}.csv")
    processed = transform_data(data)
    load_data(processed)
    return processed


if __name__ == "__main__":
    import json

    Path("data").mkdir(exist_ok=True)
    today = datetime.today().strftime("%Y-%m-%d")
    for i, date in enumerate(["2024-01-01", "2024-01-02", today]):
        frame = pd.DataFrame({"quantity": [1, 2, 3 + i], "price": [2.0, 3.0, 4.0]})
        frame.to_csv(f"data/data-{date}.csv", index=False)

    explicit = process_data("2024-01-01")
    default = process_data()  # date=None: today's file
    Path("data/fail-next-load").touch()
    retried = process_data(date="2024-01-02")  # fails once, the flow retries
    print(
        json.dumps(
            {
                "name": process_data.name,
                "version": process_data.version,
                "description": process_data.description,
                "retries": process_data.retries,
                "task_runner": type(process_data.task_runner).__name__,
                "totals": [float(df["total"].sum()) for df in (explicit, default, retried)],
                "processed_exists": Path("data/processed.csv").exists(),
            }
        )
    )
