"""Clients for the orchestration store: embedded (local database) or HTTP (a server).

``get_client()`` picks the door from settings: ``TIDEFLOW_API_URL`` set means the HTTP
API of that server, otherwise the embedded database at ``TIDEFLOW_DATABASE_URL``
(default ``$TIDEFLOW_HOME/tideflow.db``). ``get_async_client()`` is the same choice
with coroutine methods, for ``async with get_async_client() as client: ...``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tideflow.client.base import OrchestrationClient
from tideflow.settings import get_settings

if TYPE_CHECKING:
    from tideflow.client._async_embedded import AsyncEmbeddedClient
    from tideflow.client.http import AsyncHttpClient

_clients: dict[tuple[str, str | None], OrchestrationClient] = {}
_lock = threading.Lock()


def get_client() -> OrchestrationClient:
    """The process-wide client for the current settings."""
    settings = get_settings()
    key = (settings.api_url or settings.database_url, settings.api_key)
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _make_client(settings.api_url, settings.database_url, settings.api_key)
            _clients[key] = client
    return client


def _make_client(
    api_url: str | None, database_url: str, api_key: str | None
) -> OrchestrationClient:
    if api_url:
        from tideflow.client.http import HttpClient

        return HttpClient(api_url, api_key=api_key)
    from tideflow.client.embedded import EmbeddedClient

    return EmbeddedClient(database_url)


def get_async_client() -> AsyncHttpClient | AsyncEmbeddedClient:
    """A new async client for the current settings; use it as an async context manager.

    Unlike ``get_client()`` it is not shared: an async HTTP client belongs to the event
    loop it runs on.
    """
    settings = get_settings()
    if settings.api_url:
        from tideflow.client.http import AsyncHttpClient

        return AsyncHttpClient(settings.api_url, api_key=settings.api_key)
    from tideflow.client._async_embedded import AsyncEmbeddedClient

    return AsyncEmbeddedClient(get_client())


def reset_clients() -> None:
    """Forget cached clients (after settings change)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


__all__ = ["OrchestrationClient", "get_async_client", "get_client", "reset_clients"]
