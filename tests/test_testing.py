"""``tideflow_test_harness``: a throwaway store for users' own test suites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.server.database.engine import get_database
from tideflow.server.database.migrate import HEAD_REVISION, current_revision
from tideflow.settings import get_settings
from tideflow.testing import prefect_test_harness, tideflow_test_harness


@task(persist_result=True)
def persisted(x: int) -> int:
    return x * 2


@flow
def user_flow(x: int) -> int:
    return persisted(x)


def test_harness_isolates_runs_and_cleans_up(tideflow_home: Path) -> None:
    user_flow(1)
    assert get_client().count_flow_runs() == 1
    with tideflow_test_harness() as home:
        assert home.is_dir() and home != tideflow_home
        assert os.environ["TIDEFLOW_HOME"] == str(home)
        assert get_settings().home == home
        assert get_client().count_flow_runs() == 0  # the outer run is not visible
        assert user_flow(2) == 4
        assert get_client().count_flow_runs() == 1
        assert any((home / "storage").iterdir())  # results went to the new home
        assert (home / "tideflow.db").is_file()
    assert not home.exists()  # a temporary home is deleted
    assert os.environ["TIDEFLOW_HOME"] == str(tideflow_home)
    assert get_client().count_flow_runs() == 1  # back to the outer store, untouched


def test_harness_isolates_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIDEFLOW_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("TIDEFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    with tideflow_test_harness() as home:
        assert "TIDEFLOW_API_URL" not in os.environ
        assert "TIDEFLOW_DATABASE_URL" not in os.environ
        assert user_flow(3) == 6  # embedded store, not the unreachable server
        assert str(home) in get_settings().database_url
    assert os.environ["TIDEFLOW_API_URL"] == "http://127.0.0.1:9/api"
    assert not (tmp_path / "elsewhere.db").exists()


def test_given_home_is_kept_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "kept-home"
    with tideflow_test_harness(home) as path:
        assert path == home
        user_flow(1)
    assert (home / "tideflow.db").is_file()
    with tideflow_test_harness(home):
        assert get_client().count_flow_runs() == 1  # an existing database is kept
        user_flow(2)
        assert get_client().count_flow_runs() == 2


def test_each_fresh_home_starts_empty_and_migrated(tmp_path: Path) -> None:
    for name in ("one", "two"):
        with tideflow_test_harness(tmp_path / name):
            assert get_client().count_flow_runs() == 0
            assert get_client().read_task_runs() == []
            db = get_database(get_settings().database_url)
            assert current_revision(db) == HEAD_REVISION
            user_flow(1)


def test_harness_restores_even_when_the_block_raises(tideflow_home: Path) -> None:
    with pytest.raises(RuntimeError, match="inside"), tideflow_test_harness():
        raise RuntimeError("inside")
    assert os.environ["TIDEFLOW_HOME"] == str(tideflow_home)
    assert get_client().count_flow_runs() == 0


def test_harness_as_a_pytest_fixture_pattern() -> None:
    # What a user writes in their conftest.py, per the Prefect docs.
    def fixture():  # type: ignore[no-untyped-def]
        with prefect_test_harness():
            yield

    fx = fixture()
    next(fx)
    assert user_flow(5) == 10
    assert get_client().count_flow_runs() == 1
    with pytest.raises(StopIteration):
        next(fx)
    assert prefect_test_harness is tideflow_test_harness


def test_task_fn_is_testable_without_any_store() -> None:
    assert persisted.fn(21) == 42
    assert user_flow.fn(1) == 2  # calls the task inside a plain function: still works
