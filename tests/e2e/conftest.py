"""Fixtures for end-to-end tests: server subprocesses, flows in subprocesses."""

from __future__ import annotations

from serverkit import (
    _live_servers,
    api,
    database_url,
    live_server,
    postgres_admin_url,
    postgres_url,
    server_process,
    sqlite_server,
    sqlite_url,
)

__all__ = [
    "_live_servers",
    "api",
    "database_url",
    "live_server",
    "postgres_admin_url",
    "postgres_url",
    "server_process",
    "sqlite_server",
    "sqlite_url",
]
