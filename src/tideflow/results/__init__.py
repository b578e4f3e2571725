"""Persisted results: where they are stored, how they are encoded, and cache records.

See ``docs/results.md``. The pieces:

* ``resolve_result_storage`` / ``storage_from_url``: local directories, fsspec URLs and
  storage blocks behind one small ``ResultStorage`` interface;
* ``ResultStore``: writes values as self-describing result files and returns a
  ``ResultReference`` that any process can ``load()``; keeps cache records;
* serializers live in ``tideflow.serializers``.
"""

from tideflow.results.storage import (
    BlockResultStorage,
    FsspecResultStorage,
    LocalResultStorage,
    ResultStorage,
    WritableFileSystem,
    get_default_result_storage,
    register_block_loader,
    resolve_result_storage,
    storage_from_url,
)
from tideflow.results.store import (
    ResultReference,
    ResultStore,
    cache_record_key,
    decode_result,
    encode_result,
)

__all__ = [
    "BlockResultStorage",
    "FsspecResultStorage",
    "LocalResultStorage",
    "ResultReference",
    "ResultStorage",
    "ResultStore",
    "WritableFileSystem",
    "cache_record_key",
    "decode_result",
    "encode_result",
    "get_default_result_storage",
    "register_block_loader",
    "resolve_result_storage",
    "storage_from_url",
]
