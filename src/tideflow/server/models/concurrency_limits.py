"""Tag concurrency limits, enforced with expiring slot leases.

A task run with tag ``T`` takes one slot of ``T``'s limit before it starts and gives it
back when it ends. Slots are leases: a holder renews them while it runs, and a slot
whose lease expired (its process died) is free again, so a killed process never leaks
one. Acquiring is all-or-nothing across a task's tags, inside one write transaction
(BEGIN IMMEDIATE on SQLite, row locks on the limit rows on PostgreSQL).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update

from tideflow.exceptions import ObjectNotFound
from tideflow.schemas.core import ConcurrencyLimit
from tideflow.server.database import tables as t
from tideflow.server.models._dialect import upsert
from tideflow.states import now_utc

_LIMIT = t.table_of(t.ConcurrencyLimit)
_SLOT = t.table_of(t.ConcurrencySlot)


def create_concurrency_limit(conn: Connection, tag: str, limit: int) -> ConcurrencyLimit:
    """Create the limit for ``tag``, or change it if it exists."""
    if limit < 0:
        raise ValueError(f"concurrency limit for tag {tag!r} must be >= 0, got {limit}")
    stmt = upsert(conn, _LIMIT, ["tag"], ["concurrency_limit"])
    conn.execute(
        stmt,
        {"id": str(uuid.uuid4()), "tag": tag, "concurrency_limit": limit, "created": now_utc()},
    )
    return read_concurrency_limit(conn, tag)


def read_concurrency_limit(conn: Connection, tag: str) -> ConcurrencyLimit:
    """The limit for ``tag`` with its active slot count, or ``ObjectNotFound``."""
    row = conn.execute(select(_LIMIT).where(_LIMIT.c.tag == tag)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"No concurrency limit for tag {tag!r}")
    return ConcurrencyLimit.model_validate({**row, "active_slots": _active(conn, [tag])[tag]})


def read_concurrency_limits(conn: Connection) -> list[ConcurrencyLimit]:
    """Every limit with its active slot count."""
    rows = list(conn.execute(select(_LIMIT).order_by(_LIMIT.c.tag)).mappings())
    active = _active(conn, [r["tag"] for r in rows])
    return [ConcurrencyLimit.model_validate({**r, "active_slots": active[r["tag"]]}) for r in rows]


def delete_concurrency_limit(conn: Connection, tag: str) -> None:
    """Remove the limit for ``tag`` (and its leases)."""
    if conn.execute(delete(_LIMIT).where(_LIMIT.c.tag == tag)).rowcount == 0:
        raise ObjectNotFound(f"No concurrency limit for tag {tag!r}")
    conn.execute(delete(_SLOT).where(_SLOT.c.tag == tag))


def _active(conn: Connection, tags: Sequence[str], now: datetime | None = None) -> dict[str, int]:
    counts = dict.fromkeys(tags, 0)
    if not tags:
        return counts
    rows = conn.execute(
        select(_SLOT.c.tag, func.count())
        .where(_SLOT.c.tag.in_(list(tags)), _SLOT.c.expires > (now or now_utc()))
        .group_by(_SLOT.c.tag)
    )
    for tag, n in rows:
        counts[tag] = int(n)
    return counts


def acquire_slots(
    conn: Connection,
    tags: Sequence[str],
    holder: str,
    lease_seconds: float,
    now: datetime | None = None,
) -> bool:
    """Take one slot of every limited tag for ``holder``, or none at all.

    Returns True when the holder now has the slots (tags without a limit need none).
    """
    now = now or now_utc()
    query = select(_LIMIT.c.tag, _LIMIT.c.concurrency_limit).where(_LIMIT.c.tag.in_(list(tags)))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    limits = {tag: n for tag, n in conn.execute(query)}
    if not limits:
        return True
    conn.execute(delete(_SLOT).where(_SLOT.c.tag.in_(list(limits)), _SLOT.c.expires <= now))
    held = {
        r[0]
        for r in conn.execute(
            select(_SLOT.c.tag).where(_SLOT.c.holder == holder, _SLOT.c.tag.in_(list(limits)))
        )
    }
    active = _active(conn, list(limits), now)
    for tag, limit in limits.items():
        if tag not in held and active[tag] >= limit:
            return False
    expires = now + timedelta(seconds=lease_seconds)
    new = [
        {"id": str(uuid.uuid4()), "tag": tag, "holder": holder, "expires": expires}
        for tag in limits
        if tag not in held
    ]
    if new:
        conn.execute(_SLOT.insert(), new)
    if held:
        renew_slots(conn, holder, lease_seconds, now)
    return True


def renew_slots(
    conn: Connection, holder: str, lease_seconds: float, now: datetime | None = None
) -> int:
    """Extend every lease of ``holder``; returns how many it holds."""
    expires = (now or now_utc()) + timedelta(seconds=lease_seconds)
    return conn.execute(
        update(_SLOT).where(_SLOT.c.holder == holder).values(expires=expires)
    ).rowcount


def release_slots(conn: Connection, holder: str) -> int:
    """Give back every slot ``holder`` has."""
    return conn.execute(delete(_SLOT).where(_SLOT.c.holder == holder)).rowcount
