# ruff: noqa
# fmt: off
# The seed's code is kept as written; do not reformat it.
"""Seed sample: Prefect Core Concepts > 1. Tasks > "Task Definition".

Adapted only as the seed allows: ``prefect`` -> ``tideflow``; the imports the sample
leaves implicit (``timedelta``, ``pandas``) are added; the URL is a local CSV file.
Everything under ``__main__`` drives the sample and is not part of it.
"""

from datetime import timedelta

import pandas as pd

from tideflow import task


@task(
    name="extract_data",          # Custom name for the task
    retries=3,                    # Retry automatically on failure
    retry_delay_seconds=30,       # Wait between retries
    cache_key_fn=lambda context, **params: params["url"],  # Cache by URL parameter
    cache_expiration=timedelta(hours=12),                  # Cache for 12 hours
)
def extract_data(url: str) -> pd.DataFrame:
    """Extract data from a given URL"""
    return pd.read_csv(url)


if __name__ == "__main__":
    import json
    from pathlib import Path

    from tideflow import flow

    url = str(Path("sales.csv").resolve())
    if not Path(url).exists():
        pd.DataFrame({"day": [1, 2, 3], "amount": [10.0, 12.5, 9.0]}).to_csv(url, index=False)

    @flow
    def extract_twice(url: str) -> list[str]:
        first = extract_data(url, return_state=True)
        second = extract_data(url, return_state=True)
        assert second.result().equals(first.result())
        return [first.name, second.name]

    states = extract_twice(url)
    df = extract_data.fn(url)
    print(
        json.dumps(
            {
                "name": extract_data.name,
                "retries": extract_data.retries,
                "states": states,
                "total": float(df["amount"].sum()),
            }
        )
    )
