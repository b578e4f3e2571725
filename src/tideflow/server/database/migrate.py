"""Alembic migrations, applied on first use.

Checking the schema costs one query: the stored revision is compared with
``HEAD_REVISION``, and Alembic itself is only imported when an upgrade is needed (it
adds ~100 ms to a short script otherwise). A test pins ``HEAD_REVISION`` to Alembic's
head. Concurrent first runs serialise on a lock: a file lock next to a SQLite file, an
advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

    from tideflow.server.database.engine import Database

HEAD_REVISION = "0005"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 7_310_215_530


def current_revision(db: Database) -> str | None:
    """The revision stored in the database, or None for an empty database."""
    with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).first()
        else:
            exists = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
        if not exists:
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None


def alembic_config(db: Database) -> Config:
    """An Alembic config pointing at our migrations and ``db``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["tideflow_database"] = db
    return config


def upgrade_if_needed(db: Database) -> None:
    """Upgrade ``db`` to ``HEAD_REVISION`` unless it is there already.

    An empty database gets the newest schema in one step (``create_all`` plus the
    revision stamp, as ``alembic stamp`` would write it) instead of replaying every
    migration: a first ``python my_flow.py`` on a new machine should not pay for
    importing Alembic. ``tests/server/test_migrations.py`` proves the models and the
    migrations describe the same schema, so both paths end identical.
    """
    if current_revision(db) == HEAD_REVISION:
        return
    with _migration_lock(db):
        revision = current_revision(db)
        if revision == HEAD_REVISION:
            return
        if revision is None and _is_empty(db):
            create_fresh(db)
        else:
            upgrade(db, "head")


def _is_empty(db: Database) -> bool:
    with db.engine.connect() as conn:
        return not inspect(conn).get_table_names()


def create_fresh(db: Database) -> None:
    """Create the newest schema on an empty database and stamp ``HEAD_REVISION``."""
    from tideflow.server.database.tables import Base

    with db.engine.connect() as conn, conn.begin():
        Base.metadata.create_all(conn)
        conn.execute(
            text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        conn.execute(
            text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD_REVISION}
        )


def upgrade(db: Database, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on ``db``."""
    from alembic import command

    command.upgrade(alembic_config(db), revision)


def downgrade(db: Database, revision: str = "base") -> None:
    """Run ``alembic downgrade`` on ``db``."""
    from alembic import command

    command.downgrade(alembic_config(db), revision)


@contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    if db.dialect == "sqlite":
        database = make_url(db.url).database or ""
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _PG_LOCK_ID})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_LOCK_ID})
                conn.commit()
