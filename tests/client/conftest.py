"""Fixtures for the HTTP client's tests (real servers; see tests/serverkit.py)."""

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
