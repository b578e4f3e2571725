"""Keeping storage paths inside their root, and listing a directory for upload.

Every path a storage block reads, writes, uploads or downloads goes through
``safe_relative`` (refuses ``..``, absolute paths, backslashes, NUL bytes, URLs and the
percent-encoded forms of all of these) and, on a local disk, ``resolve_local`` (refuses
symlinks that lead outside the root). A refused path raises ``ValueError`` naming it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote

from tideflow.blocks._ignore import ALWAYS_SKIP, IgnoreSpec

_log = logging.getLogger("tideflow.filesystems")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _refuse(path: str, reason: str, root: str | None) -> ValueError:
    where = f" inside the storage root {root!r}" if root else " inside the storage root"
    return ValueError(f"Refusing path {path!r}: {reason}; paths must stay{where}")


def safe_relative(
    path: str | os.PathLike[str] | None, *, root: str | None = None, allow_root: bool = False
) -> str:
    """``path`` as a normalised relative POSIX path (``"a/b.txt"``; ``""`` for the root).

    Args:
        path: the user's (or a remote listing's) path.
        root: named in error messages.
        allow_root: accept an empty path / ``"."`` meaning the root itself.

    Raises:
        ValueError: the path (or its percent-decoded form) is absolute, contains ``..``,
            a backslash, a NUL byte or a URL scheme, or is empty when that is not allowed.
    """
    if path is None:
        path = ""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"A storage path must be a string, got {type(path).__name__}")
    decoded = path
    for _ in range(8):  # %252e%252e -> %2e%2e -> ..
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    for candidate in dict.fromkeys((path, decoded)):
        encoded = " (once percent-decoded)" if candidate != path else ""
        if "\x00" in candidate:
            raise _refuse(path, f"it contains a NUL byte{encoded}", root)
        if "\\" in candidate:
            raise _refuse(path, f"it contains a backslash{encoded}", root)
        if "://" in candidate:
            raise _refuse(path, f"it is a URL{encoded}, not a relative path", root)
        if candidate.startswith("/") or _DRIVE.match(candidate):
            raise _refuse(path, f"it is absolute{encoded}", root)
        if any(part.strip() == ".." for part in candidate.split("/")):
            raise _refuse(path, f"it goes up with '..'{encoded}", root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts and not allow_root:
        raise ValueError(f"A file path is required, got {path!r}")
    return "/".join(parts)


def resolve_local(root: Path, rel: str, *, original: str | None = None) -> Path:
    """The real path of ``root/rel``, following symlinks, refused if it leaves ``root``.

    ``rel`` must already be checked by ``safe_relative``; ``root`` itself may be a
    symlink (that is the user's choice of root).
    """
    root_real = root.resolve()
    target = root_real / rel if rel else root_real
    real = target.resolve()
    if real != root_real and not real.is_relative_to(root_real):
        shown = original if original is not None else rel
        raise ValueError(
            f"Refusing path {shown!r}: it resolves to {str(real)!r} through a symlink, "
            f"outside the storage root {str(root_real)!r}"
        )
    return real


def iter_files(
    root: Path, ignore: IgnoreSpec | None = None, *, skip_real: Path | None = None
) -> Iterator[tuple[Path, str]]:
    """Every file under ``root`` as ``(real path, relative POSIX path)``, sorted.

    Skips ``.git``, ``__pycache__``, ``.venv`` and whatever ``ignore`` excludes (an
    excluded directory is not entered). Symlinks are followed when their target stays
    inside ``root``; a symlink leading outside raises ``ValueError`` (exclude it in the
    ignore file to upload the rest); a broken one is skipped with a warning.
    ``skip_real``: a directory (e.g. the upload's destination) never to enter.
    """
    root_real = root.resolve()
    if not root_real.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a directory")

    def walk(
        directory: Path, prefix: str, ancestors: frozenset[Path]
    ) -> Iterator[tuple[Path, str]]:
        if directory in ancestors:  # a symlink loop back up the tree
            return
        ancestors = ancestors | {directory}
        with os.scandir(directory) as entries:
            ordered = sorted(entries, key=lambda e: e.name)
        for entry in ordered:
            rel = f"{prefix}{entry.name}"
            if entry.name in ALWAYS_SKIP:
                continue
            if ignore is not None and ignore.match(rel, is_dir=entry.is_dir()):
                continue
            real = Path(entry.path)
            if entry.is_symlink():
                real = real.resolve()
                if not real.exists():
                    _log.warning("Skipping broken symlink %s", rel)
                    continue
                if real != root_real and not real.is_relative_to(root_real):
                    raise ValueError(
                        f"Refusing path {rel!r}: it is a symlink to {str(real)!r}, outside "
                        f"{str(root_real)!r}; add it to the ignore file to leave it out"
                    )
            is_dir = real.is_dir()
            if skip_real is not None and (real == skip_real or real.is_relative_to(skip_real)):
                continue
            if is_dir:
                yield from walk(real, f"{rel}/", ancestors)
            elif real.is_file():
                yield real, rel

    yield from walk(root_real, "", frozenset())


def copy_files(files: Iterable[tuple[Path, str]], dest_root: Path, *, prefix: str = "") -> int:
    """Copy ``(source, relative path)`` pairs under ``dest_root/prefix``; returns the count.

    Every destination is checked before anything is copied, so a refused path leaves
    nothing half-copied.
    """
    dest_root.mkdir(parents=True, exist_ok=True)
    plan = []
    for source, rel in files:
        joined = f"{prefix}/{rel}" if prefix else rel
        checked = safe_relative(joined, root=str(dest_root))
        plan.append((source, resolve_local(dest_root, checked, original=joined)))
    for source, target in plan:
        if source == target:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return len(plan)


def load_ignore_file(root: Path, ignore_file: str | os.PathLike[str] | None) -> IgnoreSpec | None:
    """The patterns of ``root/ignore_file`` (or an absolute ignore file), if it exists."""
    if not ignore_file:
        return None
    path = Path(ignore_file)
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        return None
    return IgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())
