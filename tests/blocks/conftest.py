"""Block tests: moto S3 and webhook receiver (``blockkit``), servers (``serverkit``)."""

from __future__ import annotations

from blockkit import bucket, moto_s3, receiver
from serverkit import database_url, live_server, postgres_admin_url, postgres_url, server_process

__all__ = [
    "bucket",
    "database_url",
    "live_server",
    "moto_s3",
    "postgres_admin_url",
    "postgres_url",
    "receiver",
    "server_process",
]
