"""The tideflow server application: ``create_app()`` builds the FastAPI app.

Every router in ``tideflow.server.api.ROUTERS`` is mounted under ``/api``; the services
in ``tideflow.server.services.SERVICES`` run while the app is served. With an API key,
every path but ``/api/health`` requires ``Authorization: Bearer <key>``.

Example:
    >>> from tideflow.server.app import create_app
    >>> app = create_app("sqlite:///:memory:")
    >>> app.title
    'tideflow'
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tideflow.server.api import ROUTERS
from tideflow.server.api.admin import API_VERSION
from tideflow.server.api.dependencies import APIKeyMiddleware
from tideflow.server.api.errors import install_error_handlers
from tideflow.server.database.engine import get_database
from tideflow.server.services import SERVICES, Service
from tideflow.settings import get_settings

#: Largest request body the server reads (bytes); bigger ones get 413.
MAX_BODY_BYTES = 64 * 1024 * 1024


def create_app(
    database_url: str | None = None,
    api_key: str | None = None,
    *,
    services: Sequence[type[Service]] | None = None,
) -> FastAPI:
    """The server app on ``database_url`` (default: settings), migrated to the newest schema.

    Args:
        database_url: SQLAlchemy URL; default ``TIDEFLOW_DATABASE_URL`` or the embedded
            SQLite file under ``TIDEFLOW_HOME``.
        api_key: require this bearer token; default ``TIDEFLOW_API_KEY`` (None: open).
        services: background services to run while served; default ``SERVICES``.
    """
    settings = get_settings()
    database = get_database(database_url or settings.database_url)
    key = api_key if api_key is not None else settings.api_key
    to_run = list(SERVICES if services is None else services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = [cls(database) for cls in to_run]
        for service in running:
            service.start()
        app.state.services = running
        try:
            yield
        finally:
            for service in running:
                service.stop()

    app = FastAPI(
        title="tideflow",
        version=API_VERSION,
        summary="Orchestration API: flow runs, task runs, logs, concurrency limits.",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.database = database
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix="/api")
    if key:
        app.add_middleware(APIKeyMiddleware, api_key=key)
    return app
