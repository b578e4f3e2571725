"""Block tests: moto S3 and webhook receiver (``blockkit``), servers (``serverkit``)."""

from __future__ import annotations

from blockkit import bucket, moto_s3, receiver
from serverkit import (
    _live_servers,
    api,
    database_url,
    live_server,
    postgres_admin_url,
    postgres_url,
    server_process,
    sqlite_url,
)

__all__ = [
    "_live_servers",
    "api",
    "bucket",
    "database_url",
    "live_server",
    "moto_s3",
    "postgres_admin_url",
    "postgres_url",
    "receiver",
    "server_process",
    "sqlite_url",
]
