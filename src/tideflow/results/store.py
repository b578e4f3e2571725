"""Persist results, read them back from any process, and keep cache records.

A persisted result is one file holding a small self-describing envelope::

    b"\\x89TFR" | version (1 byte) | header length (4 bytes, big-endian) | JSON header | payload

The JSON header carries the spec of the serializer that wrote the payload, so reading a
result needs nothing but its bytes. A ``ResultReference`` (storage URL + key) points at
such a file and is what run states record.

Cache records live in the same storage under ``cache/<sha256 of the cache key>``: any
string is a valid cache key (URLs, absolute paths, unicode, very long keys). A record
that is missing, expired or unreadable is a cache miss; an unreadable one is logged at
warning level on the ``tideflow.results`` logger, never raised.

Example:
    >>> store = ResultStore(storage="memory://store-docstring", serializer="json")
    >>> ref = store.persist({"accuracy": 0.95})
    >>> ResultReference.from_dict(ref.to_dict()).load()
    {'accuracy': 0.95}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tideflow.results.storage import ResultStorage, resolve_result_storage, storage_from_url
from tideflow.serializers import SerializationError, Serializer, get_serializer

__all__ = [
    "ResultReference",
    "ResultStore",
    "cache_record_key",
    "decode_result",
    "encode_result",
]

logger = logging.getLogger("tideflow.results")

MAGIC = b"\x89TFR"
VERSION = 1
_PREFIX_LEN = len(MAGIC) + 1 + 4
_CACHE_RECORD_VERSION = 1


def _type_name(obj: object) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _header(serializer: Serializer) -> bytes:
    header = json.dumps({"serializer": serializer.to_spec()}, separators=(",", ":")).encode()
    return MAGIC + bytes([VERSION]) + len(header).to_bytes(4, "big") + header


def encode_result(value: Any, serializer: Serializer) -> bytes:
    """Serialize ``value`` into a self-describing result envelope.

    Raises:
        SerializationError: ``value`` cannot be serialized; the message names its type
            and the serializer.
    """
    return _encode(value, serializer, _header(serializer))


def _encode(value: Any, serializer: Serializer, header: bytes) -> bytes:
    try:
        payload = serializer.dumps(value)
    except Exception as exc:
        reason = exc.__cause__ if isinstance(exc, SerializationError) and exc.__cause__ else exc
        raise SerializationError(
            f"Could not serialize result of type {_type_name(value)!r} with serializer "
            f"{serializer.type!r}: {reason}"
        ) from exc
    return header + payload


# Header bytes -> serializer: a process usually reads results written by a handful of
# serializers, so the JSON header is parsed once per distinct header.
_serializers_by_header: dict[bytes, Serializer] = {}


def decode_result(data: bytes) -> Any:
    """Deserialize a result envelope written by ``encode_result``.

    Raises:
        SerializationError: ``data`` is not a tideflow result or cannot be decoded.
    """
    if data[: len(MAGIC)] != MAGIC or len(data) < _PREFIX_LEN:
        raise SerializationError("Not a tideflow result file (missing magic bytes)")
    if data[len(MAGIC)] != VERSION:
        raise SerializationError(
            f"Unsupported result format version {data[len(MAGIC)]}; this tideflow reads {VERSION}"
        )
    end = _PREFIX_LEN + int.from_bytes(data[len(MAGIC) + 1 : _PREFIX_LEN], "big")
    header = bytes(data[_PREFIX_LEN:end])
    serializer = _serializers_by_header.get(header)
    if serializer is None:
        try:
            spec = json.loads(header)["serializer"]
            serializer = Serializer.from_spec(spec)
        except (ValueError, KeyError, TypeError) as exc:
            raise SerializationError(f"Corrupt result header: {exc}") from exc
        if len(_serializers_by_header) > 256:
            _serializers_by_header.clear()
        _serializers_by_header[header] = serializer
    return serializer.loads(data[end:])


@dataclass(frozen=True, slots=True)
class ResultReference:
    """Where a persisted result lives; enough to load it from any process.

    Attributes:
        storage_url: the ``url`` of the storage holding the result.
        key: the result's key in that storage.
        serializer: the spec of the serializer that wrote it (informational: the file
            itself records it too).
    """

    storage_url: str
    key: str
    serializer: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; ``from_dict`` turns it back into a reference."""
        return {
            "type": "reference",
            "storage_url": self.storage_url,
            "key": self.key,
            "serializer": dict(self.serializer),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultReference:
        """Rebuild a reference from ``to_dict()`` output.

        Raises:
            ValueError: ``data`` is missing a field or has one of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"A result reference must be a dict, got {type(data).__name__}")
        if data.get("type", "reference") != "reference":
            raise ValueError(f"Not a result reference: type={data.get('type')!r}")
        storage_url, key = data.get("storage_url"), data.get("key")
        serializer = data.get("serializer") or {}
        if not isinstance(storage_url, str) or not storage_url:
            raise ValueError(f"Result reference needs a 'storage_url' string, got {storage_url!r}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"Result reference needs a 'key' string, got {key!r}")
        if not isinstance(serializer, Mapping):
            raise ValueError(f"Result reference 'serializer' must be a dict, got {serializer!r}")
        return cls(storage_url=storage_url, key=key, serializer=dict(serializer))

    def load(self) -> Any:
        """Read and deserialize the result (works in any process that can reach it).

        Raises:
            FileNotFoundError: the result file no longer exists.
            SerializationError: the file cannot be decoded.
        """
        return _read_value(storage_from_url(self.storage_url), self)


def _read_value(storage: ResultStorage, ref: ResultReference) -> Any:
    try:
        data = storage.read(ref.key)
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"Result {ref.key!r} not found in storage {ref.storage_url}"
        ) from exc
    return decode_result(data)


def cache_record_key(cache_key: str) -> str:
    """The storage key of the cache record for ``cache_key``: ``cache/<sha256 hex>``."""
    if not isinstance(cache_key, str):
        raise TypeError(f"A cache key must be a string, got {type(cache_key).__name__}")
    digest = hashlib.sha256(cache_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"cache/{digest}"


def _require_aware(name: str, value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


class ResultStore:
    """Persists values as result files in one storage, with one serializer.

    Args:
        storage: anything ``resolve_result_storage`` accepts; ``None`` is
            ``$TIDEFLOW_HOME/storage``.
        serializer: a ``Serializer`` or a name accepted by ``get_serializer``.
    """

    def __init__(
        self,
        storage: object = None,
        serializer: Serializer | str = "pickle",
    ) -> None:
        self.storage = resolve_result_storage(storage)
        self.serializer = get_serializer(serializer)
        self._header = _header(self.serializer)
        self._spec = self.serializer.to_spec()

    def __repr__(self) -> str:
        return f"ResultStore(storage={self.storage!r}, serializer={self.serializer!r})"

    def persist(self, value: Any, key: str | None = None) -> ResultReference:
        """Serialize ``value`` and write it under ``key`` (default: a new uuid4 hex).

        Raises:
            SerializationError: ``value`` cannot be serialized (names type and serializer).
            ValueError: ``key`` is not a valid relative key.
        """
        key = uuid.uuid4().hex if key is None else key
        self.storage.write(key, _encode(value, self.serializer, self._header))
        return ResultReference(self.storage.url, key, dict(self._spec))

    def load(self, ref: ResultReference) -> Any:
        """Read back the value ``ref`` points at (in this store's storage or any other)."""
        return _read_value(self._storage_for(ref), ref)

    def exists(self, ref: ResultReference) -> bool:
        """Whether the result file ``ref`` points at still exists."""
        return self._storage_for(ref).exists(ref.key)

    def _storage_for(self, ref: ResultReference) -> ResultStorage:
        if ref.storage_url == self.storage.url:
            return self.storage
        return storage_from_url(ref.storage_url)

    def write_cache_record(
        self, cache_key: str, ref: ResultReference, expiration: dt.datetime | None = None
    ) -> None:
        """Record that ``cache_key`` resolves to ``ref`` until ``expiration``.

        Writing again for the same key replaces the record (refreshes it).

        Args:
            cache_key: any string.
            ref: the persisted result to reuse.
            expiration: timezone-aware datetime after which the record is a miss;
                ``None`` never expires.

        Raises:
            ValueError: ``expiration`` is naive.
        """
        if expiration is not None:
            _require_aware("expiration", expiration)
        record = {
            "version": _CACHE_RECORD_VERSION,
            "cache_key": cache_key,
            "result": ref.to_dict(),
            "expiration": (
                None if expiration is None else expiration.astimezone(dt.UTC).isoformat()
            ),
        }
        self.storage.write(cache_record_key(cache_key), json.dumps(record).encode())

    def read_cache_record(
        self, cache_key: str, now: dt.datetime | None = None
    ) -> ResultReference | None:
        """The result recorded for ``cache_key``, or None if missing, expired or corrupt.

        Args:
            cache_key: the key given to ``write_cache_record``.
            now: the current time (timezone-aware); defaults to ``datetime.now(UTC)``.

        Raises:
            ValueError: ``now`` is naive.
        """
        if now is None:
            now = dt.datetime.now(dt.UTC)
        else:
            _require_aware("now", now)
        record_key = cache_record_key(cache_key)
        try:
            raw = self.storage.read(record_key)
        except FileNotFoundError:
            return None
        except Exception as exc:
            logger.warning("Could not read cache record %s (%r): %r", record_key, cache_key, exc)
            return None
        try:
            ref, expiration = _parse_cache_record(raw, cache_key)
        except Exception as exc:
            logger.warning(
                "Ignoring corrupt cache record %s in %s (%r): %s",
                record_key,
                self.storage.url,
                cache_key,
                exc,
            )
            return None
        if expiration is not None and now >= expiration:
            return None
        return ref

    def delete_cache_record(self, cache_key: str) -> None:
        """Remove the record for ``cache_key`` if there is one."""
        self.storage.delete(cache_record_key(cache_key))


def _parse_cache_record(raw: bytes, cache_key: str) -> tuple[ResultReference, dt.datetime | None]:
    record = json.loads(raw)
    if not isinstance(record, dict) or record.get("version") != _CACHE_RECORD_VERSION:
        raise ValueError("unknown record format")
    if record.get("cache_key") != cache_key:
        raise ValueError("record belongs to another cache key")
    ref = ResultReference.from_dict(record["result"])
    expiration = record.get("expiration")
    if expiration is None:
        return ref, None
    parsed = dt.datetime.fromisoformat(expiration)
    _require_aware("expiration", parsed)
    return ref, parsed
