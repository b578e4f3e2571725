"""``/api/health``, ``/api/version`` and maintenance (``/api/admin/vacuum``)."""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tideflow.server.api.dependencies import DatabaseDep, WriteConn
from tideflow.server.database.migrate import HEAD_REVISION
from tideflow.server.models import retention
from tideflow.states import now_utc

router = APIRouter(tags=["admin"])

#: Bumped when a route changes incompatibly; clients may compare it.
API_VERSION = "1"


def _package_version() -> str:
    try:
        return version("tideflow")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0+unknown"


class Health(BaseModel):
    status: str = "ok"


class VersionInfo(BaseModel):
    version: str
    api_version: str
    database: str
    schema_revision: str


class VacuumRequest(BaseModel):
    """Delete terminal flow runs that ended more than ``older_than_seconds`` ago."""

    model_config = ConfigDict(extra="forbid")

    older_than_seconds: float = Field(gt=0)


class VacuumResult(BaseModel):
    deleted_flow_runs: int


@router.get("/health")
async def health() -> Health:
    """Liveness: answers without touching the database or requiring an API key."""
    return Health()


@router.get("/version")
async def read_version(database: DatabaseDep) -> VersionInfo:
    """The server's version, API version, database kind and schema revision."""
    return VersionInfo(
        version=_package_version(),
        api_version=API_VERSION,
        database=database.dialect,
        schema_revision=HEAD_REVISION,
    )


@router.post("/admin/vacuum")
def vacuum(body: VacuumRequest, conn: WriteConn) -> VacuumResult:
    """Delete old finished runs with their task runs and logs (never unfinished ones)."""
    cutoff = now_utc() - timedelta(seconds=body.older_than_seconds)
    return VacuumResult(deleted_flow_runs=retention.delete_terminal_runs_before(conn, cutoff))
