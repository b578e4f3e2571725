"""Persisted results: serializers, storages, storage keys, reading from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.exceptions import SerializationError
from tideflow.results.store import MAGIC, ResultReference
from tideflow.schemas.filters import FlowRunFilter, TaskRunFilter
from tideflow.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    JSONSerializer,
    PickleSerializer,
)
from tideflow.states import State


def run_state(t: Any, *args: Any, **flow_options: Any) -> State[Any]:
    """Run task ``t`` in a fresh flow run; its final state."""

    @flow(name="results-probe", **flow_options)
    def probe() -> dict[str, State[Any]]:
        return {"state": t(*args, return_state=True)}

    return probe()["state"]


def reference(state: State[Any]) -> ResultReference:
    assert state.details is not None and "result" in state.details, state.details
    return ResultReference.from_dict(state.details["result"])


def stored_task_run(name: str) -> Any:
    (run,) = get_client().read_task_runs(TaskRunFilter(name_like=name))
    return run


def header_of(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    length = int.from_bytes(data[5:9], "big")
    return json.loads(data[9 : 9 + length])  # type: ignore[no-any-return]


def test_persist_result_in_default_storage(tideflow_home: Path) -> None:
    @task(persist_result=True)
    def calculate_metrics() -> dict[str, float]:
        return {"accuracy": 0.95, "precision": 0.92}

    state = run_state(calculate_metrics)
    assert state.result() == {"accuracy": 0.95, "precision": 0.92}
    ref = reference(state)
    path = tideflow_home / "storage" / ref.key
    assert path.is_file()
    assert header_of(path)["serializer"]["type"] == "pickle"
    assert ref.load() == {"accuracy": 0.95, "precision": 0.92}
    # The task run in the store references the same file.
    run = stored_task_run("calculate_metrics")
    assert run.state_details["result"]["key"] == ref.key
    final = get_client().read_task_run_states(run.id)[-1].to_state()
    assert final.result() == {"accuracy": 0.95, "precision": 0.92}


def test_unpersisted_results_have_no_reference() -> None:
    @task
    def plain() -> int:
        return 1

    state = run_state(plain)
    assert state.result() == 1
    assert "result" not in (state.details or {})
    assert "result" not in (stored_task_run("plain").state_details or {})


@pytest.mark.parametrize(
    ("serializer", "spec_type"),
    [
        (JSONSerializer(), "json"),
        ("json", "json"),
        (CompressedJSONSerializer(), "compressed/json"),
        ("compressed/json", "compressed/json"),
        (CompressedPickleSerializer(), "compressed/pickle"),
        (PickleSerializer(), "pickle"),
    ],
)
def test_result_serializers(serializer: Any, spec_type: str, tideflow_home: Path) -> None:
    @task(persist_result=True, result_serializer=serializer)
    def calculate_metrics() -> dict[str, Any]:
        return {"accuracy": 0.95, "labels": ["a", "b"] * 50}

    state = run_state(calculate_metrics)
    ref = reference(state)
    assert ref.serializer["type"] == spec_type
    path = tideflow_home / "storage" / ref.key
    assert header_of(path)["serializer"]["type"] == spec_type
    assert ref.load() == {"accuracy": 0.95, "labels": ["a", "b"] * 50}
    payload = path.read_bytes()
    if spec_type == "json":
        assert b'"accuracy": 0.95' in payload or b'"accuracy":0.95' in payload
    if spec_type.startswith("compressed"):
        assert b"accuracy" not in payload  # actually compressed


def test_json_serializer_round_trips_rich_types() -> None:
    import datetime
    import uuid

    value = {
        "when": datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.UTC),
        "id": uuid.UUID(int=5),
        "tags": {"b", "a"},
    }

    @task(persist_result=True, result_serializer=JSONSerializer(), cache_result_in_memory=False)
    def rich() -> dict[str, Any]:
        return value

    state = run_state(rich)
    assert isinstance(state.data, ResultReference)  # not kept in memory
    assert state.result() == value


def test_local_directory_result_storage(tmp_path: Path) -> None:
    target = tmp_path / "results-dir"

    @task(persist_result=True, result_storage=str(target))
    def t() -> list[int]:
        return [1, 2, 3]

    @task(persist_result=True, result_storage=target / "as-path")
    def t_path() -> str:
        return "path"

    ref = reference(run_state(t))
    assert (target / ref.key).is_file() and ref.storage_url.startswith("file://")
    assert ref.load() == [1, 2, 3]
    ref2 = reference(run_state(t_path))
    assert (target / "as-path" / ref2.key).is_file()


def test_memory_result_storage() -> None:
    @task(persist_result=True, result_storage="memory://tideflow-results-test")
    def t() -> dict[str, int]:
        return {"n": 1}

    state = run_state(t)
    ref = reference(state)
    assert ref.storage_url.startswith("memory://")
    assert ref.load() == {"n": 1}
    assert State.from_record(state.to_record()).result() == {"n": 1}


def test_flow_level_result_settings_apply_to_tasks(tmp_path: Path) -> None:
    @task
    def inner() -> dict[str, int]:
        return {"inner": 1}

    @flow(persist_result=True, result_serializer="json", result_storage=str(tmp_path / "fl"))
    def f() -> dict[str, Any]:
        return inner(return_state=True).details["result"]  # type: ignore[no-any-return]

    ref = ResultReference.from_dict(f())
    assert ref.serializer["type"] == "json"
    assert (tmp_path / "fl" / ref.key).is_file()
    assert ref.load() == {"inner": 1}


def test_unserializable_flow_result_fails_the_flow_with_a_clear_error() -> None:
    @flow(persist_result=True, result_serializer="json")
    def returns_object() -> Any:
        return object()

    state = returns_object(return_state=True)
    assert state.is_failed()
    assert "returns-object" in state.message and "cannot be persisted" in state.message
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["returns-object"]))
    assert run.state_name == "Failed"


def test_flow_persist_result_references_its_return_value(tmp_path: Path) -> None:
    @flow(persist_result=True, result_storage=str(tmp_path / "flow-results"))
    def f() -> dict[str, int]:
        return {"rmse": 3}

    state = f(return_state=True)
    ref = reference(state)
    assert ref.load() == {"rmse": 3}
    (run,) = get_client().read_flow_runs(FlowRunFilter(flow_name_any=["f"]))
    assert run.state_details["result"]["key"] == ref.key
    final = get_client().read_flow_run_states(run.id)[-1].to_state()
    assert final.result() == {"rmse": 3}


def test_result_readable_from_another_process(tideflow_home: Path, tmp_path: Path) -> None:
    @task(persist_result=True, result_serializer="compressed/json")
    def metrics() -> dict[str, float]:
        return {"accuracy": 0.95}

    @task(persist_result=True)
    def pickled() -> Any:
        return {"set": {1, 2}, "tuple": (1, "a")}

    run_state(metrics)
    run_state(pickled)
    script = tmp_path / "read_results.py"
    script.write_text(
        textwrap.dedent(
            """
            from tideflow.client import get_client
            from tideflow.schemas.filters import TaskRunFilter

            for run in sorted(get_client().read_task_runs(TaskRunFilter()), key=lambda r: r.name):
                state = get_client().read_task_run_states(run.id)[-1].to_state()
                print(run.name.split("-")[0], repr(state.result()))
            """
        )
    )
    env = {**os.environ, "TIDEFLOW_HOME": str(tideflow_home)}
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "metrics {'accuracy': 0.95}",
        "pickled {'set': {1, 2}, 'tuple': (1, 'a')}",
    ]


def test_unserializable_result_fails_with_a_clear_error() -> None:
    @task(name="train_model", persist_result=True, result_serializer="json")
    def train_model() -> Any:
        return object()

    @task(name="make_lock", persist_result=True)
    def make_lock() -> Any:
        return threading.Lock()

    for t, name in ((train_model, "train_model"), (make_lock, "make_lock")):
        state = run_state(t)
        assert state.is_failed(), name
        assert name in state.message and "cannot be persisted" in state.message
        with pytest.raises(SerializationError, match=name):
            state.result()
        assert stored_task_run(name).state_name == "Failed"


def test_unserializable_result_fails_the_flow() -> None:
    @task(persist_result=True, result_serializer="json")
    def bad() -> Any:
        return {1, object()}

    @flow
    def f() -> Any:
        return bad()

    state = f(return_state=True)
    assert state.is_failed() and "'bad'" in state.message


def test_result_storage_key_templating(tmp_path: Path) -> None:
    storage = tmp_path / "keyed"

    @task(
        persist_result=True,
        result_storage=str(storage),
        result_storage_key="metrics/{parameters[date]}-{task_run.name}.pkl",
        task_run_name="metrics-for-{date}",
    )
    def metrics(date: str) -> dict[str, str]:
        return {"date": date}

    ref = reference(run_state(metrics, "2024-01-01"))
    assert ref.key == "metrics/2024-01-01-metrics-for-2024-01-01.pkl"
    assert (storage / "metrics" / "2024-01-01-metrics-for-2024-01-01.pkl").is_file()
    assert ref.load() == {"date": "2024-01-01"}

    @task(
        persist_result=True,
        result_storage=str(storage),
        result_storage_key="by-flow/{flow_run[name]}.pkl",
    )
    def by_flow() -> int:
        return 1

    @flow(flow_run_name="nightly-run")
    def nightly() -> dict[str, Any]:
        return {"state": by_flow(return_state=True)}

    assert reference(nightly()["state"]).key == "by-flow/nightly-run.pkl"


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("{parameters[missing]}", "could not be formatted"),
        ("{nope}", "could not be formatted"),
        ("/etc/absolute", "absolute"),
        ("../escape", r"\.\."),
    ],
)
def test_bad_result_storage_key_fails_the_task(template: str, match: str) -> None:
    @task(name="keyed", persist_result=True, result_storage_key=template)
    def keyed(x: int = 1) -> int:
        return x

    state = run_state(keyed)
    assert state.is_failed()
    assert "'keyed'" in state.message and template in state.message
    with pytest.raises(ValueError, match=match):
        state.result()


def test_same_storage_key_overwrites() -> None:
    @task(persist_result=True, result_storage_key="latest.pkl")
    def latest(x: int) -> int:
        return x

    first = reference(run_state(latest, 1))
    second = reference(run_state(latest, 2))
    assert first.key == second.key == "latest.pkl"
    assert first.load() == 2  # the file now holds the newest result


def test_persisted_results_survive_a_new_home_switch(tmp_path: Path) -> None:
    """A reference keeps pointing at the storage it was written to."""
    from tideflow.testing import tideflow_test_harness

    @task(persist_result=True)
    def t() -> str:
        return "kept"

    with tideflow_test_harness(tmp_path / "a"):
        ref = reference(run_state(t))
    with tideflow_test_harness(tmp_path / "b"):
        assert ref.load() == "kept"
        assert str(tmp_path / "a") in ref.storage_url
