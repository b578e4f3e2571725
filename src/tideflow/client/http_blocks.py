"""Block documents on the HTTP door (``/api/block_documents``).

The server encrypts secret fields with its own key; this client never sees the key and
sends secrets only over the connection to the server (use https beyond loopback).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote


def _path(slug: str, name: str) -> str:
    return f"/block_documents/{quote(slug, safe='')}/{quote(name, safe='')}"


class HttpBlocksMixin:
    """``OrchestrationClient`` block-document methods for ``HttpClient``."""

    if TYPE_CHECKING:  # provided by the HTTP client class the mixin is added to

        def _request(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            params: dict[str, Any] | None = None,
        ) -> Any: ...

    def save_block_document(
        self, slug: str, name: str, data: dict[str, Any], overwrite: bool = False
    ) -> dict[str, Any]:
        """Save ``slug/name``; returns the document with secrets masked."""
        body = {
            "block_type_slug": slug,
            "name": name,
            "data": data,
            "overwrite": overwrite,
            # A client-chosen id makes a retry after a lost response succeed, not 409.
            "id": str(uuid.uuid4()),
        }
        doc: dict[str, Any] = self._request("POST", "/block_documents", json=body)
        return doc

    def read_block_document(
        self, slug: str, name: str, include_secrets: bool = False
    ) -> dict[str, Any]:
        """One document; secret values only with ``include_secrets=True``."""
        params = {"include_secrets": "true"} if include_secrets else None
        doc: dict[str, Any] = self._request("GET", _path(slug, name), params=params)
        return doc

    def read_block_documents(self, slug: str | None = None) -> list[dict[str, Any]]:
        """Every document (of one type), secrets masked."""
        params = {"block_type_slug": slug} if slug is not None else None
        docs: list[dict[str, Any]] = self._request("GET", "/block_documents", params=params)
        return docs

    def delete_block_document(self, slug: str, name: str) -> None:
        """Delete ``slug/name`` (``ObjectNotFound`` if missing)."""
        self._request("DELETE", _path(slug, name))
