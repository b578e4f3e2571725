"""``AsyncEmbeddedClient``: the embedded client's methods as coroutines.

Database calls block, so each one runs in a worker thread (``asyncio.to_thread``);
the event loop stays free. ``get_async_client()`` returns this when no server is
configured, and ``AsyncHttpClient`` otherwise: both are used the same way.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from tideflow.client.base import OrchestrationClient


class AsyncEmbeddedClient:
    """Wraps a sync ``OrchestrationClient``; every method becomes awaitable."""

    def __init__(self, client: OrchestrationClient) -> None:
        self._client = client
        self.location = client.location

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr
        return _in_thread(attr)

    async def aclose(self) -> None:
        """Nothing to close: the embedded client is shared process-wide."""

    async def __aenter__(self) -> AsyncEmbeddedClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _in_thread(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    return call
