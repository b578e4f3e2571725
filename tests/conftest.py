"""Shared fixtures: every test gets its own TIDEFLOW_HOME (database, results)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tideflow.testing import tideflow_test_harness

# Shared fixture modules (tests/serverkit.py: servers on SQLite and PostgreSQL;
# tests/blockkit.py: moto S3 and a webhook receiver), available to every test.
pytest_plugins = ["serverkit", "blockkit"]


@pytest.fixture(autouse=True)
def tideflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated tideflow home for each test (outside the test's own tmp_path, so
    tests can make assertions about everything in tmp_path)."""
    home = tmp_path_factory.mktemp("tideflow-home")
    with tideflow_test_harness(home) as path:
        yield path


@pytest.fixture
def client(tideflow_home: Path):  # type: ignore[no-untyped-def]
    """The embedded client on this test's database."""
    from tideflow.client import get_client

    return get_client()


def pytest_configure(config: pytest.Config) -> None:
    # Keep console logs of flow runs quiet in test output unless asked for.
    os.environ.setdefault("TIDEFLOW_LOGGING_LEVEL", "WARNING")
