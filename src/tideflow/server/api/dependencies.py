"""Dependencies routes declare with ``Annotated`` aliases, and the API-key middleware.

A route that reads takes ``conn: ReadConn``; one that writes takes ``conn: WriteConn``.
The transaction ends (commits, or rolls back on an exception) before the response is
sent, so a client never sees a success that was not committed.

On SQLite, writers inside this process queue on an asyncio lock before they open their
``BEGIN IMMEDIATE`` transaction: they wait in line without holding a worker thread,
instead of polling SQLite's busy handler (which sleeps up to 100 ms per try).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import contextmanager_in_threadpool
from sqlalchemy import Connection
from starlette.types import ASGIApp, Receive, Scope, Send

from tideflow.server.database.engine import Database

#: Paths anyone may call, even when the server requires an API key.
PUBLIC_PATHS: set[str] = {"/api/health"}


async def app_database(request: Request) -> Database:
    """The app's ``Database`` (async: no worker-thread hop for an attribute read)."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(app_database)]


def _read_connection(database: DatabaseDep) -> Iterator[Connection]:
    with database.read() as conn:
        yield conn


def _write_lock(request: Request, database: Database) -> asyncio.Lock | None:
    if database.dialect != "sqlite":
        return None
    state = request.app.state
    loop = asyncio.get_running_loop()
    if getattr(state, "write_lock_loop", None) is not loop:
        state.write_lock = asyncio.Lock()
        state.write_lock_loop = loop
    lock: asyncio.Lock = state.write_lock
    return lock


async def _write_connection(request: Request, database: DatabaseDep) -> AsyncIterator[Connection]:
    lock = _write_lock(request, database)
    async with lock or nullcontext(), contextmanager_in_threadpool(database.write()) as conn:
        yield conn


#: ``async with write_connection(request, database) as conn:`` for a route that must do
#: work (e.g. parse a large body) before it takes the write lock.
write_connection = asynccontextmanager(_write_connection)

ReadConn = Annotated[Connection, Depends(_read_connection, scope="function")]
WriteConn = Annotated[Connection, Depends(_write_connection, scope="function")]


class APIKeyMiddleware:
    """Requires ``Authorization: Bearer <key>`` on every path but ``PUBLIC_PATHS``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        detail = "Missing API key" if not given else "Invalid API key"
        await _send_json(
            send,
            401,
            {"detail": f"{detail}: send 'Authorization: Bearer <TIDEFLOW_API_KEY>'."},
            [(b"www-authenticate", b"Bearer")],
        )


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
