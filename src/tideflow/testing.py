"""Testing helpers for users' own test suites.

``tideflow_test_harness()`` points tideflow at a throwaway home directory (database,
results, profiles) for the duration of a ``with`` block or a pytest fixture, so tests
never touch ``~/.tideflow`` and never see each other's runs.

Example:
    >>> from tideflow.testing import tideflow_test_harness
    >>> with tideflow_test_harness() as home:
    ...     pass
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tideflow.client import reset_clients
from tideflow.engine.recorder import flush_all
from tideflow.server.database.engine import forget_databases
from tideflow.settings import reload_settings

_ISOLATED_VARS = ("TIDEFLOW_HOME", "TIDEFLOW_API_URL", "TIDEFLOW_DATABASE_URL", "TIDEFLOW_API_KEY")


@contextmanager
def tideflow_test_harness(home: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Run tideflow against a fresh, temporary store; yields its home directory.

    Args:
        home: use this directory instead of a new temporary one (it is not deleted).
    """
    saved = {name: os.environ.get(name) for name in _ISOLATED_VARS}
    made = home is None
    path = Path(tempfile.mkdtemp(prefix="tideflow-test-")) if home is None else Path(home)
    flush_all(timeout=30)
    for name in _ISOLATED_VARS:
        os.environ.pop(name, None)
    os.environ["TIDEFLOW_HOME"] = str(path)
    _reset()
    try:
        yield path
    finally:
        flush_all(timeout=30)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset()
        if made:
            shutil.rmtree(path, ignore_errors=True)


def _reset() -> None:
    reload_settings()
    reset_clients()
    forget_databases()


# Prefect's name, so existing test suites port unchanged.
prefect_test_harness = tideflow_test_harness

__all__ = ["prefect_test_harness", "tideflow_test_harness"]
