"""Clients for the orchestration store: embedded (local database) or HTTP (a server).

``get_client()`` picks the door from settings: ``TIDEFLOW_API_URL`` set means the HTTP
API of that server, otherwise the embedded database at ``TIDEFLOW_DATABASE_URL``
(default ``$TIDEFLOW_HOME/tideflow.db``).
"""

from __future__ import annotations

import threading

from tideflow.client.base import OrchestrationClient
from tideflow.settings import get_settings

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


def _make_client(api_url: str | None, database_url: str, api_key: str | None) -> OrchestrationClient:
    if api_url:
        from tideflow.client.http import HttpClient

        return HttpClient(api_url, api_key=api_key)
    from tideflow.client.embedded import EmbeddedClient

    return EmbeddedClient(database_url)


def reset_clients() -> None:
    """Forget cached clients (after settings change)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


__all__ = ["OrchestrationClient", "get_client", "reset_clients"]
