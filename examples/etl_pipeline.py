"""A small ETL pipeline: daily order exports from three warehouses -> one revenue report.

What it shows:

* **concurrency**: ``ConcurrentTaskRunner`` extracts and transforms the three exports
  at once (``.map``);
* **retries**: the west warehouse's export fails on its first read in every run (a
  deterministic stand-in for a network blip) and succeeds on the retry;
* **caching**: ``transform`` is keyed on its input (``task_input_hash``) for an hour, so
  a second run reuses its results and shows the task runs as ``Cached``;
* **logging**: ``get_run_logger()`` lines are stored with the runs;
  ``tideflow flow-run logs <id>`` prints them.

Run it with ``python examples/etl_pipeline.py`` (or ``make run``), then
``tideflow flow-run ls`` and ``tideflow flow-run inspect <id>``. The data ships with
the example (``examples/data/orders/*.csv``); the report is written to
``$TIDEFLOW_HOME/examples/etl`` unless ``out_dir`` says otherwise.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from tideflow import flow, get_run_context, get_run_logger, task
from tideflow.settings import home_dir
from tideflow.task_runners import ConcurrentTaskRunner
from tideflow.tasks import task_input_hash

DATA_DIR = Path(__file__).resolve().parent / "data" / "orders"
FLAKY_WAREHOUSE = "west"


@task(retries=2, retry_delay_seconds=0.1, tags=["io"])
def extract(path: str) -> list[dict[str, str]]:
    """Read one warehouse's order export."""
    logger = get_run_logger()
    source = Path(path)
    if source.stem == FLAKY_WAREHOUSE and get_run_context().retry_count == 0:
        raise ConnectionError(f"warehouse {source.stem!r} did not answer (simulated blip)")
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    logger.info("Extracted %d orders from %s", len(rows), source.name)
    return rows


@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1))
def transform(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Drop cancelled and incomplete orders; total the revenue per product."""
    logger = get_run_logger()
    revenue: dict[str, float] = defaultdict(float)
    kept = skipped = 0
    region = rows[0]["region"] if rows else "unknown"
    for row in rows:
        if row["status"] != "shipped":
            continue
        if not row["quantity"]:
            skipped += 1
            continue
        revenue[row["product"]] += int(row["quantity"]) * float(row["unit_price"])
        kept += 1
    if skipped:
        logger.warning("%s: skipped %d shipped orders without a quantity", region, skipped)
    total = round(sum(revenue.values()), 2)
    logger.info("%s: %d orders, revenue %.2f", region, kept, total)
    return {
        "region": region,
        "orders": kept,
        "skipped": skipped,
        "revenue": total,
        "by_product": {k: round(v, 2) for k, v in sorted(revenue.items())},
    }


@task
def load(summaries: list[dict[str, Any]], out_dir: str) -> str:
    """Write the report: one CSV row per region plus a JSON file with the details."""
    logger = get_run_logger()
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    report = target / "revenue_by_region.csv"
    with report.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "orders", "skipped", "revenue"])
        for s in sorted(summaries, key=lambda s: s["region"]):
            writer.writerow([s["region"], s["orders"], s["skipped"], f"{s['revenue']:.2f}"])
    (target / "revenue_by_region.json").write_text(json.dumps(summaries, indent=2))
    logger.info("Wrote %s", report)
    return str(report)


@flow(name="etl-pipeline", task_runner=ConcurrentTaskRunner(max_workers=4))
def etl_pipeline(data_dir: str | None = None, out_dir: str | None = None) -> dict[str, Any]:
    """Extract every ``*.csv`` in ``data_dir``, transform each, load one report."""
    logger = get_run_logger()
    paths = sorted(str(p) for p in Path(data_dir or DATA_DIR).glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no *.csv files in {data_dir or DATA_DIR}")
    logger.info("Processing %d exports", len(paths))
    raw = extract.map(paths)
    summaries = transform.map(raw)
    report = load(summaries, out_dir or str(home_dir() / "examples" / "etl"))
    revenue = round(sum(s.result()["revenue"] for s in summaries), 2)
    logger.info("Total revenue %.2f; report at %s", revenue, report)
    return {"report": report, "regions": len(paths), "revenue": revenue}


if __name__ == "__main__":
    print(etl_pipeline())
