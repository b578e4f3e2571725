"""Where results live: local directories, fsspec URLs and storage blocks.

``resolve_result_storage`` turns what a user passes as ``result_storage`` into a
``ResultStorage``:

* ``None``: ``$TIDEFLOW_HOME/storage`` (``~/.tideflow/storage`` by default);
* a local path (``str`` or ``os.PathLike``) or a ``file://`` URL;
* any other fsspec URL (``memory://``, ``s3://``, ``gs://`` ...); fsspec and the
  protocol's package (s3fs, gcsfs) are only imported when such a URL is used;
* an object with ``read_path(path) -> bytes`` and ``write_path(path, content)``
  (a storage block such as ``LocalFileSystem`` or ``S3Bucket``).

Every storage has a ``url``, a stable, serializable identity that another process
turns back into a storage with ``storage_from_url``:

* local directories: ``file:///abs/path``; other fsspec storages: the URL as given
  (without a trailing slash);
* a saved block (one with ``_block_type_slug`` and ``_block_document_name``):
  ``block://<type-slug>/<name>``; rebuilding it needs a loader registered with
  ``register_block_loader`` (the blocks package registers one);
* an unsaved block with a ``basepath`` attribute: the storage of that basepath, i.e.
  results are read back directly from the files the block wrote;
* any other object: ``object://<module.Class>/<id>``, usable only in the process that
  created it.

Resolved storages are cached by URL, so resolving the same value again is cheap.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
import itertools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit

from tideflow.exceptions import UnsupportedStorageOperation
from tideflow.settings import home_dir

__all__ = [
    "BlockResultStorage",
    "FsspecResultStorage",
    "LocalResultStorage",
    "ResultStorage",
    "WritableFileSystem",
    "get_default_result_storage",
    "register_block_loader",
    "resolve_result_storage",
    "storage_from_url",
    "validate_key",
]


@runtime_checkable
class WritableFileSystem(Protocol):
    """What a storage block must provide to hold results (Prefect's protocol)."""

    def read_path(self, path: str) -> bytes:
        """Return the bytes at ``path``; raise ``FileNotFoundError`` when it is missing."""

    def write_path(self, path: str, content: bytes) -> Any:
        """Write ``content`` to ``path``, creating parent directories as needed."""


BlockLoader = Callable[[str, str], WritableFileSystem]
"""Loads a saved block from its type slug and document name."""


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative name such as ``"cache/ab12"``.

    Raises:
        ValueError: the key is empty, absolute, contains a backslash, a NUL byte,
            or an empty, ``.`` or ``..`` segment.
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"A result key must be a non-empty string, got {key!r}")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"Invalid result key {key!r}: backslashes and NUL are not allowed")
    if key.startswith("/") or (key[1:2] == ":" and key[0].isalpha()):
        raise ValueError(f"Invalid result key {key!r}: keys must be relative, not absolute")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(
                f"Invalid result key {key!r}: '..', '.' and empty path segments are not allowed"
            )
    return key


class ResultStorage(abc.ABC):
    """A place holding result files under relative keys.

    Attributes:
        url: stable identity of this storage; ``storage_from_url(url)`` rebuilds it.
    """

    url: str

    @abc.abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key``, replacing any previous content."""

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """Return the bytes under ``key``.

        Raises:
            FileNotFoundError: nothing is stored under ``key``.
        """

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; does nothing when it does not exist."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


_tmp_counter = itertools.count()


class LocalResultStorage(ResultStorage):
    """Results in a local directory; writes are atomic (temp file + ``os.replace``).

    Args:
        basepath: the directory; created on first write.
    """

    def __init__(self, basepath: str | os.PathLike[str]) -> None:
        self.basepath = Path(basepath).expanduser().absolute()
        self.url = self.basepath.as_uri()
        self._root = str(self.basepath)

    def path(self, key: str) -> str:
        """The absolute filesystem path of ``key``."""
        return os.path.join(self._root, validate_key(key))

    def write(self, key: str, data: bytes) -> None:
        """Write atomically: a reader sees the old content or the new, never a part."""
        target = self.path(key)
        # pid + counter: unique across threads and forked processes without randomness.
        tmp = f"{target}.{os.getpid()}-{next(_tmp_counter)}.tmp"
        try:
            fh = open(tmp, "wb")  # noqa: SIM115 - closed below, before os.replace
        except FileNotFoundError:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fh = open(tmp, "wb")  # noqa: SIM115
        try:
            with fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def read(self, key: str) -> bytes:
        """Return the bytes under ``key``."""
        with open(self.path(key), "rb") as fh:
            return fh.read()

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file in this directory."""
        return os.path.isfile(self.path(key))

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))


class FsspecResultStorage(ResultStorage):
    """Results under an fsspec URL (``memory://``, ``s3://``, ``gs://`` ...).

    Args:
        url: the root URL; the protocol's package must be installed
            (``pip install 'tideflow[s3]'`` for ``s3://``).
    """

    def __init__(self, url: str) -> None:
        # Lazy: fsspec costs import time and plain local paths never need it.
        import fsspec.core

        self.url = url.rstrip("/")
        try:
            self._fs, root = fsspec.core.url_to_fs(self.url)
        except ImportError as exc:
            raise ImportError(
                f"Result storage {url!r} needs an fsspec implementation that is not "
                f"installed ({exc}); e.g. pip install 'tideflow[s3]' for s3://"
            ) from exc
        self._root = str(root).rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self._root}/{validate_key(key)}"

    def write(self, key: str, data: bytes) -> None:
        """Write ``data`` (object stores replace objects atomically)."""
        path = self._path(key)
        try:
            self._fs.pipe_file(path, data)
        except FileNotFoundError:
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self._fs.pipe_file(path, data)

    def read(self, key: str) -> bytes:
        """Return the bytes under ``key``."""
        data: bytes = self._fs.cat_file(self._path(key))
        return data

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return bool(self._fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(key))


class BlockResultStorage(ResultStorage):
    """Results written through a storage block's ``read_path``/``write_path``.

    Args:
        block: an object implementing ``WritableFileSystem``. Its ``read_path`` should
            raise ``FileNotFoundError`` for a missing path; ``exists`` uses the block's
            own ``exists(path)`` when it has one, and ``delete`` needs ``delete_path``.
        url: the identity to use (see the module docstring); computed when omitted.
    """

    def __init__(self, block: WritableFileSystem, url: str | None = None) -> None:
        self.block = block
        self.url = url or _block_url(block)

    def write(self, key: str, data: bytes) -> None:
        """Write through ``block.write_path``."""
        self.block.write_path(validate_key(key), data)

    def read(self, key: str) -> bytes:
        """Read through ``block.read_path``."""
        return self.block.read_path(validate_key(key))

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists (``block.exists`` if available, else a read attempt)."""
        validate_key(key)
        exists = getattr(self.block, "exists", None)
        if callable(exists):
            return bool(exists(key))
        try:
            self.block.read_path(key)
        except Exception:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete through ``block.delete_path``.

        Raises:
            UnsupportedStorageOperation: the block has no ``delete_path`` method.
        """
        validate_key(key)
        delete_path = getattr(self.block, "delete_path", None)
        if not callable(delete_path):
            raise UnsupportedStorageOperation(
                f"{type(self.block).__name__} has no delete_path(); cannot delete {key!r}"
            )
        with contextlib.suppress(FileNotFoundError):
            delete_path(key)


def _block_url(block: object) -> str:
    slug = getattr(block, "_block_type_slug", None)
    name = getattr(block, "_block_document_name", None)
    if slug and name:
        return f"block://{quote(str(slug), safe='')}/{quote(str(name), safe='')}"
    cls = type(block)
    return f"object://{cls.__module__}.{cls.__qualname__}/{id(block):x}"


_cache: dict[str, ResultStorage] = {}
_cache_lock = threading.Lock()
_block_loader: BlockLoader | None = None
#: whether register_block_loader was called (even with None, which means "no loader")
_block_loader_set = False


def _cached(url: str, factory: Callable[[], ResultStorage]) -> ResultStorage:
    storage = _cache.get(url)
    if storage is None:
        with _cache_lock:
            storage = _cache.get(url)
            if storage is None:
                storage = _cache[url] = factory()
    return storage


def register_block_loader(loader: BlockLoader | None) -> None:
    """Set the function ``storage_from_url`` uses to load ``block://`` URLs.

    Args:
        loader: called as ``loader(block_type_slug, block_document_name)`` and returning
            the block; ``None`` removes the current loader.
    """
    global _block_loader, _block_loader_set
    _block_loader = loader
    _block_loader_set = True
    with _cache_lock:
        for url in [u for u in _cache if u.startswith("block://")]:
            del _cache[url]


def _is_url(value: str) -> bool:
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum()


def _local_path_from_file_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"Cannot use a remote host in a file:// URL: {url!r}")
    path = unquote(parts.path)
    if os.name == "nt" and path[:1] == "/" and path[2:3] == ":":
        path = path[1:]  # file:///C:/x -> C:/x
    return path


def storage_from_url(url: str) -> ResultStorage:
    """Rebuild the storage identified by ``url`` (a ``ResultStorage.url``).

    Raises:
        LookupError: a ``block://`` URL with no loader registered, or an ``object://``
            URL from another process.
        ValueError: ``url`` is not a URL.
    """
    storage = _cache.get(url)
    if storage is not None:
        return storage
    if not _is_url(url):
        raise ValueError(f"Not a storage URL: {url!r} (expected e.g. file:///path)")
    scheme = url.partition("://")[0].lower()
    if scheme == "file":
        return _local(_local_path_from_file_url(url))
    if scheme == "block":
        if not _block_loader_set:
            # tideflow.blocks registers its loader when imported; a process reading a
            # result may never have imported it. By name, because it imports this module;
            # outside _cache_lock, because registering takes that lock.
            importlib.import_module("tideflow.blocks")
        return _cached(url, lambda: _load_block_storage(url))
    if scheme == "object":
        raise LookupError(
            f"Result storage {url!r} was an unsaved object in another process; save the "
            "block (block.save('name')) so other processes can load it"
        )
    return _cached(url.rstrip("/"), lambda: FsspecResultStorage(url))


def _load_block_storage(url: str) -> ResultStorage:
    if _block_loader is None:
        raise LookupError(
            f"Cannot load result storage {url!r}: no block loader is registered "
            "(import tideflow.blocks, or call tideflow.results.register_block_loader)"
        )
    slug, _, name = url.partition("://")[2].partition("/")
    block = _block_loader(unquote(slug), unquote(name))
    return BlockResultStorage(block, url=url)


_by_abspath: dict[str, ResultStorage] = {}


def _local(path: str | os.PathLike[str]) -> ResultStorage:
    key = os.fspath(path)
    storage = _by_abspath.get(key)
    if storage is None:
        new = LocalResultStorage(path)
        storage = _cached(new.url, lambda: new)
        # Relative paths depend on the working directory, so only absolute ones skip the
        # Path arithmetic next time.
        if os.path.isabs(key):
            _by_abspath[key] = storage
    return storage


def get_default_result_storage() -> ResultStorage:
    """The storage used when none is configured: ``$TIDEFLOW_HOME/storage``."""
    return _local(home_dir() / "storage")


def resolve_result_storage(value: object = None) -> ResultStorage:
    """Turn a ``result_storage`` setting into a ``ResultStorage``.

    Args:
        value: ``None`` (the default storage), a ``ResultStorage``, a local path, a
            ``file://`` or other fsspec URL, or an object with ``read_path`` and
            ``write_path`` (a storage block).

    Raises:
        TypeError: ``value`` is none of the above.

    Example:
        >>> storage = resolve_result_storage("memory://docs-example")
        >>> storage.write("a/b", b"hi")
        >>> storage_from_url(storage.url).read("a/b")
        b'hi'
    """
    if value is None:
        return get_default_result_storage()
    if isinstance(value, ResultStorage):
        return value
    if isinstance(value, str):
        return storage_from_url(value) if _is_url(value) else _local(value)
    if isinstance(value, os.PathLike):
        return _local(os.fspath(value))
    if isinstance(value, WritableFileSystem):
        return _block_storage(value)
    raise TypeError(
        "result_storage must be None, a path, a URL or a block with read_path/write_path, "
        f"got {type(value).__name__}"
    )


def _block_storage(block: WritableFileSystem) -> ResultStorage:
    url = _block_url(block)
    if url.startswith("block://"):
        return _cached(url, lambda: BlockResultStorage(block, url=url))
    basepath = getattr(block, "basepath", None)
    if isinstance(basepath, str | os.PathLike) and os.fspath(basepath):
        # Writes go through the block (it may carry credentials); other processes read
        # the same files back through the basepath's own URL.
        base = os.fspath(basepath)
        base_url = (
            base.rstrip("/") if _is_url(base) else Path(base).expanduser().absolute().as_uri()
        )
        return BlockResultStorage(block, url=base_url)
    return _cached(url, lambda: BlockResultStorage(block, url=url))
