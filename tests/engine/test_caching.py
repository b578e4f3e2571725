"""Task caching: cache_key_fn (both forms), expiration, refresh, across runs and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.exceptions import CacheKeyError
from tideflow.schemas.filters import TaskRunFilter
from tideflow.states import State, StateType
from tideflow.tasks import task_input_hash
from tideflow.testing import tideflow_test_harness


def run_state(t: Any, *args: Any, **kwargs: Any) -> State[Any]:
    """Run task ``t`` inside a fresh flow run and return its final state."""

    @flow(name="cache-probe")
    def probe() -> dict[str, State[Any]]:
        # Wrapped in a dict so the flow's own final state does not depend on it.
        return {"state": t(*args, return_state=True, **kwargs)}

    return probe()["state"]


def task_history(task_run_id: str) -> list[str]:
    return [s.name for s in get_client().read_task_run_states(task_run_id)]


def probe_task_states() -> list[tuple[str, str]]:
    runs = get_client().read_task_runs(TaskRunFilter())
    return sorted((r.name, r.state_name or "") for r in runs)


def test_prefect_form_cache_key_fn_caches_across_flow_runs() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: f"square-{parameters['x']}")
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    first = run_state(square, 3)
    second = run_state(square, 3)
    third = run_state(square, 4)
    assert calls == [3, 4]
    assert first.name == "Completed" and second.name == "Cached" and third.name == "Completed"
    assert second.type is StateType.COMPLETED
    assert second.result() == 9
    assert "square-3" in (second.message or "")
    # The cached run is recorded too, straight from Pending to Cached.
    runs = get_client().read_task_runs(TaskRunFilter(name_like="square"))
    cached = [r for r in runs if r.state_name == "Cached"]
    assert len(cached) == 1 and cached[0].cache_key == "square-3"
    assert task_history(cached[0].id) == ["Pending", "Cached"]


def test_seed_form_cache_key_fn_with_kwargs() -> None:
    calls: list[str] = []

    @task(
        name="extract_data",
        retries=3,
        retry_delay_seconds=30,
        cache_key_fn=lambda context, **params: params["url"],
        cache_expiration=timedelta(hours=12),
    )
    def extract_data(url: str, limit: int = 5) -> str:
        calls.append(url)
        return f"data from {url}"

    a = run_state(extract_data, "data/data-2024-01-01.csv")
    b = run_state(extract_data, "data/data-2024-01-01.csv", limit=99)  # key ignores limit
    c = run_state(extract_data, "data/data-2024-01-02.csv")
    assert calls == ["data/data-2024-01-01.csv", "data/data-2024-01-02.csv"]
    assert [a.name, b.name, c.name] == ["Completed", "Cached", "Completed"]
    assert b.result() == "data from data/data-2024-01-01.csv"


def test_context_given_to_cache_key_fn() -> None:
    seen: list[Any] = []

    def key(context: Any, parameters: dict[str, Any]) -> str:
        seen.append((context.task.name, context.task_run_name, dict(parameters)))
        return "k"

    @task(cache_key_fn=key)
    def t(a: int, b: int = 2) -> int:
        return a + b

    run_state(t, 1)
    assert seen[0][0] == "t" and seen[0][1].startswith("t-")
    assert seen[0][2] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "key",
    [
        "/abs/path/to/data/yellow_tripdata_2023-01.parquet",
        "https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_2023-01.parquet?x=1&y=2",
        "s3://bucket/../../etc/passwd",
        "C:\\Users\\me\\data.csv",
        "ünïcødé 🐍 key",
        "x" * 5000,
        "..",
        "",
    ],
)
def test_any_string_is_a_valid_cache_key(key: str) -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: key)
    def t() -> str:
        calls.append(1)
        return "value"

    assert run_state(t).name == "Completed"
    second = run_state(t)
    assert second.name == "Cached" and second.result() == "value"
    assert calls == [1]


def test_cache_key_none_means_no_caching() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda context, parameters: None)
    def t() -> int:
        calls.append(1)
        return 1

    assert run_state(t).name == "Completed"
    assert run_state(t).name == "Completed"
    assert calls == [1, 1]


def test_expired_cache_recomputes_and_unexpired_does_not() -> None:
    calls: list[str] = []

    @task(cache_key_fn=lambda c, p: "short", cache_expiration=timedelta(microseconds=1))
    def short() -> str:
        calls.append("short")
        return "s"

    @task(cache_key_fn=lambda c, p: "long", cache_expiration=timedelta(hours=12))
    def long() -> str:
        calls.append("long")
        return "l"

    assert [run_state(short).name, run_state(short).name] == ["Completed", "Completed"]
    assert [run_state(long).name, run_state(long).name] == ["Completed", "Cached"]
    assert calls == ["short", "short", "long"]


def test_refresh_cache_recomputes_and_updates_the_record() -> None:
    value = ["v1"]

    @task(cache_key_fn=lambda c, p: "refreshable")
    def t() -> str:
        return value[0]

    assert run_state(t).result() == "v1"
    value[0] = "v2"
    assert run_state(t).result() == "v1"  # cached
    refreshed = run_state(t.with_options(refresh_cache=True))
    assert refreshed.name == "Completed" and refreshed.result() == "v2"
    value[0] = "v3"
    again = run_state(t)
    assert again.name == "Cached" and again.result() == "v2"


def test_task_input_hash() -> None:
    calls: list[Any] = []

    @task(cache_key_fn=task_input_hash)
    def t(x: Any, y: int = 0) -> Any:
        calls.append(x)
        return x

    @task(cache_key_fn=task_input_hash)
    def other(x: Any, y: int = 0) -> Any:
        calls.append(("other", x))
        return x

    assert run_state(t, {"a": [1, 2]}).name == "Completed"
    assert run_state(t, {"a": [1, 2]}).name == "Cached"
    assert run_state(t, {"a": [1, 3]}).name == "Completed"
    assert run_state(t, {"a": [1, 2]}, y=1).name == "Completed"
    # Another task with the same inputs does not share t's results.
    assert run_state(other, {"a": [1, 2]}).name == "Completed"
    assert len(calls) == 4


def test_task_input_hash_sees_the_whole_of_big_inputs() -> None:
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"x": range(1000)})
    changed = frame.copy()
    changed.loc[500, "x"] = -1
    array = np.zeros(5000)
    changed_array = array.copy()
    changed_array[2500] = 1.0
    # Their reprs are truncated and equal; their hashes must not be.
    assert repr(frame) == repr(changed) and repr(array) == repr(changed_array)
    assert task_input_hash(None, {"df": frame}) != task_input_hash(None, {"df": changed})
    assert task_input_hash(None, {"df": frame}) == task_input_hash(None, {"df": frame.copy()})
    assert task_input_hash(None, {"a": array}) != task_input_hash(None, {"a": changed_array})

    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def total(df: Any) -> int:
        calls.append(1)
        return int(df["x"].sum())

    assert run_state(total, frame).result() == sum(range(1000))
    assert run_state(total, changed).result() == sum(range(1000)) - 500 - 1
    assert len(calls) == 2


def test_task_input_hash_is_stable_for_json_types_and_none_when_unhashable() -> None:
    import datetime
    import threading

    a = task_input_hash(None, {"s": {"b", "a"}, "d": datetime.date(2024, 1, 1)})
    b = task_input_hash(None, {"d": datetime.date(2024, 1, 1), "s": {"a", "b"}})
    assert a == b and isinstance(a, str) and len(a) == 64
    assert task_input_hash(None, {"lock": threading.Lock()}) is None


def test_failing_cache_key_fn_fails_the_task_with_a_clear_error() -> None:
    calls: list[int] = []

    def broken_key(context: Any, parameters: dict[str, Any]) -> str:
        raise KeyError("url")

    @task(name="download", cache_key_fn=broken_key)
    def download() -> None:
        calls.append(1)

    state = run_state(download)
    assert state.is_failed() and calls == []
    assert "download" in state.message and "KeyError" in state.message
    assert "cache_key_fn" in state.message
    with pytest.raises(CacheKeyError, match="download"):
        state.result()

    @flow
    def uses_it() -> None:
        download()

    flow_state = uses_it(return_state=True)
    assert flow_state.is_failed() and "download" in flow_state.message


def test_seed_lambda_with_missing_parameter_names_the_task() -> None:
    @task(name="extract_data", cache_key_fn=lambda context, **params: params["url"])
    def extract(path: str) -> str:
        return path

    state = run_state(extract, "x")
    assert state.is_failed()
    assert "extract_data" in state.message and "url" in state.message


def test_non_string_cache_key_is_an_error() -> None:
    @task(cache_key_fn=lambda c, p: 42)
    def t() -> None: ...

    state = run_state(t)
    assert state.is_failed() and "int" in state.message and "'t'" in state.message


def test_failed_runs_are_not_cached() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda c, p: "fails")
    def t() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first time")
        return 7

    assert run_state(t).is_failed()
    assert run_state(t).name == "Completed"
    assert run_state(t).name == "Cached"
    assert len(calls) == 2


def test_cache_is_isolated_per_tideflow_home(tmp_path: Path) -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda c, p: "home-scoped")
    def t() -> int:
        calls.append(1)
        return len(calls)

    with tideflow_test_harness(tmp_path / "one"):
        assert run_state(t).name == "Completed"
        assert run_state(t).name == "Cached"
    with tideflow_test_harness(tmp_path / "two"):
        # A new home has an empty cache: results must not leak from the first one.
        state = run_state(t)
        assert state.name == "Completed" and state.result() == 2
        ref = state.details["result"]
        assert str(tmp_path / "two") in ref["storage_url"]
    assert calls == [1, 1]


def test_cached_tasks_are_cached_across_processes(tideflow_home: Path, tmp_path: Path) -> None:
    side_effects = tmp_path / "executions.txt"
    script = tmp_path / "cached_flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from datetime import timedelta
            from tideflow import flow, task

            @task(
                cache_key_fn=lambda context, **params: params["url"],
                cache_expiration=timedelta(hours=12),
            )
            def extract_data(url):
                with open({str(side_effects)!r}, "a") as f:
                    f.write(url + "\\n")
                return {{"rows": 3, "url": url}}

            @flow
            def pipeline(url: str):
                state = extract_data(url, return_state=True)
                print(state.name, state.result()["rows"])

            if __name__ == "__main__":
                pipeline(sys.argv[1])
            """
        )
    )
    env = {**os.environ, "TIDEFLOW_HOME": str(tideflow_home), "TIDEFLOW_LOGGING_LEVEL": "ERROR"}

    def run(url: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(script), url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    url = "https://example.com/data/2024-01-01.csv"
    assert run(url) == "Completed 3"
    assert run(url) == "Cached 3"
    assert side_effects.read_text().splitlines() == [url]
    # This process sees the other processes' cache too (same home, same key).
    calls: list[int] = []

    @task(cache_key_fn=lambda context, **params: params["url"])
    def extract_here(url: str) -> dict[str, Any]:
        calls.append(1)
        return {}

    state = run_state(extract_here, url)
    assert state.name == "Cached" and state.result() == {"rows": 3, "url": url}
    assert calls == []
    states = [r.state_name for r in get_client().read_task_runs(TaskRunFilter())]
    assert sorted(states) == ["Cached", "Cached", "Completed"]


def test_cache_with_memory_storage() -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda c, p: "mem", result_storage="memory://cache-test")
    def t() -> list[int]:
        calls.append(1)
        return [1, 2]

    assert run_state(t).result() == [1, 2]
    cached = run_state(t)
    assert cached.name == "Cached" and cached.result() == [1, 2]
    assert cached.details["cache_key"] == "mem"
    assert calls == [1]


def test_cached_result_in_a_retrying_flow_is_not_recomputed() -> None:
    calls: list[int] = []
    attempts: list[int] = []

    @task(cache_key_fn=lambda c, p: "retry-flow")
    def t() -> int:
        calls.append(1)
        return 5

    @flow(retries=1)
    def f() -> int:
        attempts.append(1)
        value = t()
        if len(attempts) == 1:
            raise RuntimeError("fail once")
        return value

    assert f() == 5
    assert calls == [1] and len(attempts) == 2


def test_cache_record_whose_result_file_is_gone_is_a_miss(tideflow_home: Path) -> None:
    calls: list[int] = []

    @task(cache_key_fn=lambda c, p: "cleaned-up")
    def t() -> dict[str, int]:
        calls.append(1)
        return {"v": len(calls)}

    @task
    def use(x: dict[str, int]) -> int:
        return x["v"]

    @flow
    def f() -> int:
        return use(t())

    assert f() == 1
    # Someone cleans the result files but not the cache records.
    for path in (tideflow_home / "storage").iterdir():
        if path.is_file():
            path.unlink()
    assert f() == 2  # recomputed, not a Cached state pointing at a missing file
    assert run_state(t).name == "Cached"
    assert calls == [1, 1]
