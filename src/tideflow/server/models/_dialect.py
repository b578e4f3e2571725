"""Small dialect differences (upserts) in one place."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, Table


def _dialect_module(conn: Connection) -> ModuleType:
    # Loaded by name on first use: importing the PostgreSQL dialect costs ~0.1 s, which
    # an embedded SQLite run should not pay.
    name = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    return importlib.import_module(f"sqlalchemy.dialects.{name}")


def insert_ignore(conn: Connection, table: Table, conflict_columns: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for the connection's dialect."""
    module = _dialect_module(conn)
    return module.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)


def upsert(
    conn: Connection,
    table: Table,
    conflict_columns: list[str],
    update_columns: list[str],
    where: Any = None,
) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO UPDATE SET cols = excluded.cols [WHERE ...]``.

    ``where`` is a callable taking the ``excluded`` pseudo-table and returning a clause.
    """
    module = _dialect_module(conn)
    stmt = module.insert(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=conflict_columns,
        set_={c: excluded[c] for c in update_columns},
        where=where(excluded) if where is not None else None,
    )
