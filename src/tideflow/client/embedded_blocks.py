"""Block documents on the embedded door: the data-access functions in-process.

Secrets are encrypted by ``tideflow.server.models.blocks`` with the key of this
process's ``TIDEFLOW_HOME`` (or ``TIDEFLOW_ENCRYPTION_KEY``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tideflow._lazy import lazy_module

if TYPE_CHECKING:
    from tideflow.server.database.engine import Database
    from tideflow.server.models import blocks
else:
    # Loaded on first use: it imports cryptography, which most flow scripts never need.
    blocks = lazy_module("tideflow.server.models.blocks")


class EmbeddedBlocksMixin:
    """``OrchestrationClient`` block-document methods for ``EmbeddedClient``."""

    db: Database

    def save_block_document(
        self, slug: str, name: str, data: dict[str, Any], overwrite: bool = False
    ) -> dict[str, Any]:
        """Save ``slug/name``; returns the document with secrets masked."""
        with self.db.write() as conn:
            return blocks.save_block_document(conn, slug, name, data, overwrite=overwrite)

    def read_block_document(
        self, slug: str, name: str, include_secrets: bool = False
    ) -> dict[str, Any]:
        """One document; secret values only with ``include_secrets=True``."""
        with self.db.read() as conn:
            return blocks.read_block_document(conn, slug, name, include_secrets=include_secrets)

    def read_block_documents(self, slug: str | None = None) -> list[dict[str, Any]]:
        """Every document (of one type), secrets masked."""
        with self.db.read() as conn:
            return blocks.read_block_documents(conn, slug)

    def delete_block_document(self, slug: str, name: str) -> None:
        """Delete ``slug/name`` (``ObjectNotFound`` if missing)."""
        with self.db.write() as conn:
            blocks.delete_block_document(conn, slug, name)
