"""``/api/flows``: the flows the store knows (created with their first run)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tideflow.schemas.core import Flow
from tideflow.schemas.filters import MAX_PAGE_SIZE
from tideflow.server.api.dependencies import ReadConn
from tideflow.server.models import flows

router = APIRouter(prefix="/flows", tags=["flows"])


@router.get("")
def read_flows(
    conn: ReadConn,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Flow]:
    """Flows sorted by name."""
    return flows.read_flows(conn, limit=limit, offset=offset)
