"""``/api/concurrency_limits`` (limits by tag) and ``/api/concurrency_slots`` (leases)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tideflow.schemas.actions import ConcurrencyLimitCreate
from tideflow.schemas.core import ConcurrencyLimit
from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import concurrency_limits

router = APIRouter(tags=["concurrency limits"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Acquire(_Body):
    """Take one slot of every limited tag in ``tags`` for ``holder``, or none."""

    tags: list[str] = Field(max_length=100)
    holder: str = Field(min_length=1, max_length=64)
    lease_seconds: float = Field(gt=0, le=86_400)


class Renew(_Body):
    holder: str = Field(min_length=1, max_length=64)
    lease_seconds: float = Field(gt=0, le=86_400)


class Release(_Body):
    holder: str = Field(min_length=1, max_length=64)


class Acquired(BaseModel):
    acquired: bool


class Held(BaseModel):
    slots: int


@router.post("/concurrency_limits")
def create_concurrency_limit(data: ConcurrencyLimitCreate, conn: WriteConn) -> ConcurrencyLimit:
    """Create the limit for a tag, or change it if it exists."""
    return concurrency_limits.create_concurrency_limit(conn, data.tag, data.concurrency_limit)


@router.get("/concurrency_limits")
def read_concurrency_limits(conn: ReadConn) -> list[ConcurrencyLimit]:
    """Every limit with its number of active slots."""
    return concurrency_limits.read_concurrency_limits(conn)


@router.get("/concurrency_limits/{tag:path}")
def read_concurrency_limit(tag: str, conn: ReadConn) -> ConcurrencyLimit:
    """The limit for one tag, with its number of active slots."""
    return concurrency_limits.read_concurrency_limit(conn, tag)


@router.delete("/concurrency_limits/{tag:path}", status_code=204)
def delete_concurrency_limit(tag: str, conn: WriteConn) -> Response:
    """Remove a tag's limit and its leases."""
    concurrency_limits.delete_concurrency_limit(conn, tag)
    return Response(status_code=204)


@router.post("/concurrency_slots/acquire")
def acquire_slots(body: Acquire, conn: WriteConn) -> Acquired:
    """All-or-nothing: ``acquired`` is false when any limited tag is full."""
    ok = concurrency_limits.acquire_slots(conn, body.tags, body.holder, body.lease_seconds)
    return Acquired(acquired=ok)


@router.post("/concurrency_slots/renew")
def renew_slots(body: Renew, conn: WriteConn) -> Held:
    """Extend every lease of ``holder``."""
    return Held(slots=concurrency_limits.renew_slots(conn, body.holder, body.lease_seconds))


@router.post("/concurrency_slots/release")
def release_slots(body: Release, conn: WriteConn) -> Held:
    """Give back every slot of ``holder``."""
    return Held(slots=concurrency_limits.release_slots(conn, body.holder))
