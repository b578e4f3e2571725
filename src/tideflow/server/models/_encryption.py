"""The key that encrypts block secrets at rest (Fernet, from ``cryptography``).

Where the key comes from, first match wins:

1. ``TIDEFLOW_ENCRYPTION_KEY``: one Fernet key, or several separated by commas to rotate
   keys (the first encrypts, every one can decrypt);
2. ``$TIDEFLOW_HOME/encryption.key``: generated on first use, readable by its owner only
   (mode 0600).

Encryption happens in the data-access layer, i.e. on the server for the HTTP door and in
the user's process for the embedded door: a client never needs the key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tideflow.settings import home_dir

ENV_VAR = "TIDEFLOW_ENCRYPTION_KEY"
KEY_FILE_NAME = "encryption.key"

_log = logging.getLogger("tideflow.server.blocks")
_cache: dict[tuple[str | None, str], MultiFernet] = {}
_lock = threading.Lock()


class DecryptionError(ValueError):
    """A stored secret could not be decrypted with the configured key(s)."""


def key_file_path() -> Path:
    """``$TIDEFLOW_HOME/encryption.key``."""
    return home_dir() / KEY_FILE_NAME


def get_fernet() -> MultiFernet:
    """The Fernet(s) for the current environment (cached per key source)."""
    env = os.environ.get(ENV_VAR) or None
    path = key_file_path()
    cache_key = (env, str(path))
    fernet = _cache.get(cache_key)
    if fernet is None:
        with _lock:
            fernet = _cache.get(cache_key)
            if fernet is None:
                fernet = _cache[cache_key] = _load(env, path)
    return fernet


def encrypt(plaintext: bytes) -> str:
    """A Fernet token (ASCII) for ``plaintext``."""
    return get_fernet().encrypt(plaintext).decode("ascii")


def decrypt(token: str, *, what: str) -> bytes:
    """The plaintext of ``token``; ``what`` names the secret in the error."""
    try:
        return get_fernet().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionError(
            f"Cannot decrypt {what}: it was encrypted with another key. Set {ENV_VAR} to "
            f"the key used when it was saved (or keep {key_file_path()}), or save the "
            "block again."
        ) from None


def _load(env: str | None, path: Path) -> MultiFernet:
    if env:
        keys = [k.strip() for k in env.split(",") if k.strip()]
        try:
            return MultiFernet([Fernet(k) for k in keys])
        except ValueError:
            raise ValueError(
                f"{ENV_VAR} must be one or more comma-separated Fernet keys (32 url-safe "
                "base64-encoded bytes); generate one with: python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    return MultiFernet([Fernet(_read_or_create_key_file(path))])


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a private temp file, then hard-link it into place: the link fails if another
    # process won the race, and nobody ever reads a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return _read_key_file(path)


def _read_key_file(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise ValueError(f"The encryption key file {path} is empty; delete it to make a new one")
    mode = path.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        _log.warning(
            "The encryption key file %s is readable by others (mode %o); run chmod 600 on it",
            path,
            mode,
        )
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(
            f"The encryption key file {path} does not hold a Fernet key; delete it to "
            "generate a new one (secrets saved with the old key become unreadable)"
        ) from None
    return key


def reset_cache() -> None:
    """Forget loaded keys (tests change ``TIDEFLOW_HOME`` and the environment)."""
    with _lock:
        _cache.clear()
