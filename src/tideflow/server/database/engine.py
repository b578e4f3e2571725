"""Database connections for SQLite (default) and PostgreSQL.

``Database.write()`` opens a transaction that may write. On SQLite it starts with
``BEGIN IMMEDIATE`` so the write lock is taken up front: a deferred transaction that
later upgrades to a writer can fail at once with "database is locked" when another
process wrote in between, which the busy timeout does not cover. Readers use plain
``BEGIN`` and, in WAL mode, never wait for writers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from tideflow._json import dumps
from tideflow.exceptions import StoreUnavailable

SQLITE_BUSY_TIMEOUT_SECONDS = 60.0


class Database:
    """One database: an engine plus read/write transaction helpers."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {
                "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                "check_same_thread": False,
            }
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
        else:
            raise ValueError(
                f"Unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
                "expected sqlite:///path or postgresql+psycopg://user@host/db"
            )
        self.engine: Engine = create_engine(url, json_serializer=json_dumps, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._migrated = False
        self._lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection inside a transaction that commits on success."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(tideflow_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (a transaction that is rolled back at the end)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def ensure_migrated(self) -> None:
        """Bring the schema to the newest revision (once per process)."""
        if self._migrated:
            return
        with self._lock:
            if self._migrated:
                return
            from tideflow.server.database.migrate import upgrade_if_needed

            try:
                upgrade_if_needed(self)
            except Exception as exc:
                if _is_connection_error(exc):
                    raise StoreUnavailable(
                        f"Cannot reach the database at {self.safe_url}: {exc}"
                    ) from exc
                raise
            self._migrated = True

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


def json_dumps(value: Any) -> str:
    """JSON text for a column value (datetimes as ISO strings)."""
    return dumps(value)


def _is_connection_error(exc: Exception) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event decide how transactions start (see module doc).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("tideflow_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def get_database(url: str) -> Database:
    """The process-wide ``Database`` for ``url``, migrated to the newest schema."""
    db = _databases.get(url)
    if db is None:
        with _databases_lock:
            db = _databases.get(url)
            if db is None:
                db = Database(url)
                _databases[url] = db
    db.ensure_migrated()
    return db


def forget_databases() -> None:
    """Dispose and forget every cached ``Database`` (tests switch TIDEFLOW_HOME)."""
    with _databases_lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
