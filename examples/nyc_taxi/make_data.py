"""Write small synthetic NYC yellow-taxi trip files for the offline NYC-taxi example.

The files have the names and the columns the seed's pipeline reads from the NYC TLC
(``yellow_tripdata_YYYY-MM.parquet`` with ``tpep_pickup_datetime``,
``tpep_dropoff_datetime``, ``PULocationID``, ``DOLocationID`` and a few more), a few
thousand trips each. Trip durations depend on the pickup/dropoff zones plus noise, with
some outliers (< 1 or > 60 minutes) for the pipeline to filter, so the model has
something to learn. Deterministic: the same arguments write the same files.

Usage::

    python examples/nyc_taxi/make_data.py                      # 2023-01 and 2023-02
    python examples/nyc_taxi/make_data.py --out /tmp/taxi --months 2023-01 --rows 2000
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_MONTHS = ("2023-01", "2023-02")
ZONES = 40


def make_month(month: str, rows: int) -> pd.DataFrame:
    """One month of synthetic trips (``month`` as ``YYYY-MM``)."""
    rng = np.random.default_rng(zlib.crc32(month.encode()))
    start = pd.Timestamp(f"{month}-01")
    seconds_in_month = int((start + pd.offsets.MonthBegin(1) - start).total_seconds())
    pickup = start + pd.to_timedelta(rng.integers(0, seconds_in_month, rows), unit="s")
    pu = rng.integers(1, ZONES + 1, rows)
    do = rng.integers(1, ZONES + 1, rows)
    # Minutes grow with the "distance" between zone numbers; a few trips are outliers.
    minutes = 4 + np.abs(pu - do) * 0.9 + rng.gamma(2.0, 2.0, rows)
    outliers = rng.random(rows) < 0.03
    minutes[outliers] = rng.choice([0.3, 75.0, 180.0], outliers.sum())
    dropoff = pickup + pd.to_timedelta(np.round(minutes * 60), unit="s")
    distance = np.round(np.abs(pu - do) * 0.35 + rng.gamma(1.5, 0.6, rows), 2)
    return pd.DataFrame(
        {
            "VendorID": rng.integers(1, 3, rows).astype("int64"),
            "tpep_pickup_datetime": pickup.astype("datetime64[us]"),
            "tpep_dropoff_datetime": dropoff.astype("datetime64[us]"),
            "passenger_count": rng.integers(1, 5, rows).astype("float64"),
            "trip_distance": distance,
            "PULocationID": pu.astype("int64"),
            "DOLocationID": do.astype("int64"),
            "fare_amount": np.round(3.0 + distance * 2.5 + minutes * 0.5, 2),
        }
    )


def write_months(
    out: Path = DEFAULT_DIR, months: tuple[str, ...] | list[str] = DEFAULT_MONTHS, rows: int = 3000
) -> list[Path]:
    """Write ``yellow_tripdata_<month>.parquet`` for each month into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for month in months:
        path = out / f"yellow_tripdata_{month}.parquet"
        make_month(month, rows).to_parquet(path, index=False)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="directory to write to")
    parser.add_argument("--months", nargs="+", default=list(DEFAULT_MONTHS), help="YYYY-MM ...")
    parser.add_argument("--rows", type=int, default=3000, help="trips per month")
    args = parser.parse_args(argv)
    for path in write_months(args.out, args.months, args.rows):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
