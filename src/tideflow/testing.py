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

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tideflow.client import reset_clients
from tideflow.engine.recorder import flush_all
from tideflow.server.database.engine import Database, forget_databases
from tideflow.server.database.migrate import HEAD_REVISION
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
    _seed_database(path)
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


_template: Path | None = None
_template_lock = threading.Lock()


def _seed_database(home: Path) -> None:
    """Give a fresh home an already-migrated database.

    Migrating an empty SQLite database takes ~0.2 s; copying a migrated one made once
    per process takes ~1 ms, which keeps a suite of many isolated tests fast. A home
    that already has a database is left alone.
    """
    target = home / "tideflow.db"
    if target.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template_database(), target)


def _template_database() -> Path:
    global _template
    with _template_lock:
        if _template is None or not _template.exists():
            folder = Path(tempfile.mkdtemp(prefix="tideflow-template-"))
            atexit.register(shutil.rmtree, folder, True)
            migrated = folder / "migrated.db"
            db = Database(f"sqlite:///{migrated}")
            try:
                db.ensure_migrated()
            finally:
                db.dispose()
            # One self-contained file (no -wal/-shm companions) that is safe to copy.
            template = folder / f"template-{HEAD_REVISION}.db"
            with sqlite3.connect(migrated) as source, sqlite3.connect(template) as copy:
                source.backup(copy)
            source.close()
            copy.close()
            _template = template
        return _template


def _reset() -> None:
    reload_settings()
    reset_clients()
    forget_databases()


# Prefect's name, so existing test suites port unchanged.
prefect_test_harness = tideflow_test_harness

__all__ = ["prefect_test_harness", "tideflow_test_harness"]
