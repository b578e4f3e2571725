"""Migrations and models describe one schema; both ways of creating it agree."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tideflow.server.database.engine import Database
from tideflow.server.database.migrate import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    downgrade,
    upgrade,
    upgrade_if_needed,
)
from tideflow.server.database.tables import Base


def _schema(db: Database) -> dict[str, tuple[list[str], list[str]]]:
    with db.engine.connect() as conn:
        insp = inspect(conn)
        return {
            table: (
                sorted(c["name"] for c in insp.get_columns(table)),
                sorted(str(i["name"]) for i in insp.get_indexes(table)),
            )
            for table in insp.get_table_names()
        }


def test_head_revision_constant_matches_alembic(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    script = ScriptDirectory.from_config(alembic_config(db))
    assert script.get_current_head() == HEAD_REVISION


def test_migrations_produce_exactly_the_models_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db, "head")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_fresh_database_fast_path_equals_migrated_schema(tmp_path: Path) -> None:
    migrated = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade(migrated, "head")
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade_if_needed(fresh)
    assert current_revision(fresh) == HEAD_REVISION
    assert _schema(fresh) == _schema(migrated)


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade_if_needed(db)
    downgrade(db, "base")
    assert current_revision(db) is None
    upgrade_if_needed(db)  # not empty (alembic_version remains) -> real migrations
    assert current_revision(db) == HEAD_REVISION
