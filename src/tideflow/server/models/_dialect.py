"""Small dialect differences (upserts) in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignore(conn: Connection, table: Table, conflict_columns: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for the connection's dialect."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
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
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = module.insert(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=conflict_columns,
        set_={c: excluded[c] for c in update_columns},
        where=where(excluded) if where is not None else None,
    )
