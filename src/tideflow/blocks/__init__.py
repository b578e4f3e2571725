"""Blocks: named configuration saved in the tideflow store (``Block.save`` / ``Block.load``).

* ``tideflow.blocks.core``: the ``Block`` base class and the registry of block types;
* ``tideflow.blocks.system``: ``Secret``, ``String``, ``JSON``, ``DateTime``;
* ``tideflow.filesystems``: storage blocks (local, fsspec, S3, GCS, git);
* ``tideflow.notifications`` (also ``tideflow.blocks.notifications``): Slack, Teams and
  custom webhooks, usable as ``on_failure`` hooks.

Importing this package registers the loader that lets persisted results written through
a saved storage block (``block://type-slug/name``) be read back in another process.
"""

from __future__ import annotations

from typing import cast

from tideflow.blocks.core import (
    SECRET_MASK,
    Block,
    block_types,
    get_block_class,
    load_block,
    validate_block_name,
)
from tideflow.results.storage import WritableFileSystem, register_block_loader


def _load_storage_block(slug: str, name: str) -> WritableFileSystem:
    block = load_block(slug, name)
    if not isinstance(block, WritableFileSystem):
        raise TypeError(
            f"Block {slug}/{name} is a {type(block).__name__}, which cannot hold results "
            "(it has no read_path/write_path)"
        )
    return cast(WritableFileSystem, block)


register_block_loader(_load_storage_block)

__all__ = [
    "SECRET_MASK",
    "Block",
    "block_types",
    "get_block_class",
    "load_block",
    "validate_block_name",
]
