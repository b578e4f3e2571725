"""A record the store refuses is isolated and reported; the rest still lands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tideflow.client import get_client
from tideflow.engine.recorder import Recorder, TaskRunInfo
from tideflow.exceptions import InvalidRecords
from tideflow.schemas.actions import FlowRunCreate
from tideflow.states import Completed, Pending


class _RefusesOne:
    """A client that refuses any batch containing the task run named 'poison'."""

    def __init__(self) -> None:
        self.inner = get_client()
        self.calls = 0

    def write_batch(self, task_runs: Any, logs: Any) -> None:
        self.calls += 1
        if any(r["name"] == "poison" for r in task_runs):
            raise InvalidRecords("value too long for type character varying(255)")
        self.inner.write_batch(task_runs, logs)


def test_refused_record_is_isolated_and_the_rest_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _RefusesOne()
    run = client.inner.create_flow_run(FlowRunCreate(flow_name="rejects"))
    recorder = Recorder(client, flush_interval=0.05)  # type: ignore[arg-type]
    names = [f"ok-{i}" for i in range(20)] + ["poison"]
    for i, name in enumerate(names):
        info = TaskRunInfo(f"00000000-0000-4000-8000-{i:012d}", run.id, name, "k", str(i),
                           datetime.now(UTC), [], {})  # fmt: skip
        recorder.record_task_state(info, Pending())
        recorder.record_task_state(info, Completed())
    assert recorder.flush(timeout=30), "flush hung on a refused record"
    written = client.inner.read_task_runs()
    assert sorted(t.name for t in written) == sorted(names[:-1])
    assert recorder.rejected == 1
    assert "poison" in caplog.text


def test_long_cache_keys_and_names_are_stored_whole() -> None:
    from tideflow import flow, task

    key = "https://example.com/data/" + "x" * 2000 + ".csv"

    @task(cache_key_fn=lambda context, **params: params["url"], task_run_name="n" * 600)
    def fetch(url: str) -> int:
        return len(url)

    @flow
    def long_keys() -> int:
        return fetch(key)

    assert long_keys() == len(key)
    (task_run,) = get_client().read_task_runs()
    assert task_run.cache_key == key
    assert task_run.name == "n" * 600
