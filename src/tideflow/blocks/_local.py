"""``FileSystemBlock`` (the storage protocol) and ``LocalFileSystem``."""

from __future__ import annotations

import abc
import contextlib
import itertools
import os
from pathlib import Path
from typing import ClassVar

from tideflow.blocks._paths import (
    copy_files,
    iter_files,
    load_ignore_file,
    resolve_local,
    safe_relative,
)
from tideflow.blocks.core import Block

DEFAULT_IGNORE_FILE = ".tideflowignore"

_tmp_counter = itertools.count()


class FileSystemBlock(Block, abc.ABC):
    """A storage block: files under a root, addressed by relative POSIX paths.

    Used for results (``read_path``/``write_path``) and for deployments' flow code
    (``put_directory`` at build time, ``get_directory`` on the agent). Paths that would
    leave the root are refused with ``ValueError``.
    """

    _block_abstract: ClassVar[bool] = True

    @abc.abstractmethod
    def read_path(self, path: str) -> bytes:
        """The bytes at ``path``; ``FileNotFoundError`` if missing."""

    @abc.abstractmethod
    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` at ``path`` (parents created); returns where it went."""

    @abc.abstractmethod
    def get_directory(
        self, from_path: str | None = None, local_path: str | os.PathLike[str] | None = None
    ) -> None:
        """Download ``from_path`` (default: the root) into ``local_path`` (default: cwd)."""

    @abc.abstractmethod
    def put_directory(
        self,
        local_path: str | os.PathLike[str] | None = None,
        to_path: str | None = None,
        ignore_file: str | os.PathLike[str] | None = DEFAULT_IGNORE_FILE,
    ) -> int:
        """Upload ``local_path`` (default: cwd) under ``to_path``; returns the file count.

        ``ignore_file`` (relative to ``local_path``) holds gitignore-style patterns of
        files to leave out; ``.git``, ``__pycache__`` and ``.venv`` are always left out.
        """


class LocalFileSystem(FileSystemBlock):
    """Files in a local (or mounted network) directory.

    Args:
        basepath: the root directory (``~`` expanded); default: the working directory
            at the time of use.

    Example:
        >>> import tempfile
        >>> fs = LocalFileSystem(basepath=tempfile.mkdtemp())
        >>> fs.write_path("models/a.txt", b"hi")  # doctest: +ELLIPSIS
        '...models/a.txt'
        >>> fs.read_path("models/a.txt")
        b'hi'
    """

    basepath: str | None = None

    def _root(self) -> Path:
        return Path(self.basepath or ".").expanduser().absolute()

    def _resolve(self, path: str | None, *, allow_root: bool = False) -> Path:
        root = self._root()
        rel = safe_relative(path, root=str(root), allow_root=allow_root)
        return resolve_local(root, rel, original=str(path))

    def read_path(self, path: str) -> bytes:
        """The bytes at ``path`` under ``basepath``."""
        return self._resolve(path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        """Write atomically (temp file + rename); returns the absolute path."""
        target = self._resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_tmp_counter)}.tmp")
        try:
            tmp.write_bytes(content)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return str(target)

    def exists(self, path: str) -> bool:
        """Whether ``path`` is a file under ``basepath``."""
        return self._resolve(path).is_file()

    def delete_path(self, path: str) -> None:
        """Remove the file at ``path`` (``FileNotFoundError`` if missing)."""
        self._resolve(path).unlink()

    def get_directory(
        self, from_path: str | None = None, local_path: str | os.PathLike[str] | None = None
    ) -> None:
        """Copy ``basepath/from_path`` into ``local_path`` (default: the working directory)."""
        source = self._resolve(from_path, allow_root=True)
        dest = Path(local_path or ".").absolute()
        if dest.exists() and dest.resolve() == source:
            return
        copy_files(iter_files(source), dest)

    def put_directory(
        self,
        local_path: str | os.PathLike[str] | None = None,
        to_path: str | None = None,
        ignore_file: str | os.PathLike[str] | None = DEFAULT_IGNORE_FILE,
    ) -> int:
        """Copy ``local_path`` (default: cwd) to ``basepath/to_path``, honouring ignores."""
        source = Path(local_path or ".").absolute().resolve()
        dest = self._resolve(to_path, allow_root=True)
        if dest == source:
            return 0
        files = list(iter_files(source, load_ignore_file(source, ignore_file), skip_real=dest))
        return copy_files(files, dest)
