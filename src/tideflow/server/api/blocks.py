"""``/api/block_documents``: saved blocks. Secrets are encrypted by the data-access layer
with the server's key; they are returned in clear only to ``include_secrets=true``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from tideflow.server.api.dependencies import ReadConn, WriteConn
from tideflow.server.models import blocks

router = APIRouter(tags=["blocks"])

_Slug = Annotated[str, Field(min_length=1, max_length=255)]


class BlockDocumentSave(BaseModel):
    """Save a block document (``data``: ``{"fields": ..., "secret_fields": [...]}``)."""

    model_config = ConfigDict(extra="forbid")

    block_type_slug: _Slug
    name: _Slug
    data: dict[str, Any]
    overwrite: bool = False
    #: client-chosen id: a retried save finds its own earlier write and succeeds
    id: str | None = Field(default=None, max_length=36)


@router.post("/block_documents")
def save_block_document(body: BlockDocumentSave, conn: WriteConn) -> dict[str, Any]:
    """Create a document, or replace it with ``overwrite``; 409 if the name is taken."""
    return blocks.save_block_document(
        conn,
        body.block_type_slug,
        body.name,
        body.data,
        overwrite=body.overwrite,
        document_id=body.id,
    )


@router.get("/block_documents")
def read_block_documents(
    conn: ReadConn, block_type_slug: Annotated[str | None, Query(max_length=255)] = None
) -> list[dict[str, Any]]:
    """Every document (of one type), secret fields masked."""
    return blocks.read_block_documents(conn, block_type_slug)


@router.get("/block_documents/{slug}/{name}")
def read_block_document(
    slug: str, name: str, conn: ReadConn, include_secrets: bool = False
) -> dict[str, Any]:
    """One document; secret fields masked unless ``include_secrets=true``."""
    return blocks.read_block_document(conn, slug, name, include_secrets=include_secrets)


@router.delete("/block_documents/{slug}/{name}", status_code=204)
def delete_block_document(slug: str, name: str, conn: WriteConn) -> Response:
    """Delete a document."""
    blocks.delete_block_document(conn, slug, name)
    return Response(status_code=204)
