"""Fixtures for the server's tests: every API test runs on SQLite and on PostgreSQL.

``database_url`` is parametrized ``["sqlite", "postgres"]``. PostgreSQL comes from
``TIDEFLOW_TEST_POSTGRES_URL`` (``.ci/run`` sets it), or outside CI from a throwaway
cluster this session starts (``tests/pg.py``); in CI without it the tests fail.
"""

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
