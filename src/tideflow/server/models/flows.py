"""Flows (by name)."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, select

from tideflow.schemas.core import Flow
from tideflow.server.database import tables as t
from tideflow.server.models._dialect import insert_ignore
from tideflow.states import now_utc


def ensure_flow(conn: Connection, name: str) -> str:
    """The id of the flow called ``name``, creating it if needed (race-safe)."""
    if not name or len(name) > 255:
        raise ValueError(f"Flow name {name!r} must be 1 to 255 characters")
    found = conn.execute(select(t.Flow.id).where(t.Flow.name == name)).scalar()
    if found:
        return str(found)
    stmt = insert_ignore(conn, t.table_of(t.Flow), ["name"])
    conn.execute(stmt, {"id": str(uuid.uuid4()), "name": name, "tags": [], "created": now_utc()})
    return str(conn.execute(select(t.Flow.id).where(t.Flow.name == name)).scalar_one())


def read_flows(conn: Connection, *, limit: int = 200, offset: int = 0) -> list[Flow]:
    """Flows sorted by name."""
    rows = conn.execute(
        select(t.table_of(t.Flow)).order_by(t.Flow.name).limit(limit).offset(offset)
    ).mappings()
    return [Flow.model_validate(dict(r)) for r in rows]
