"""Storage blocks over fsspec: ``RemoteFileSystem``, ``S3``, ``GCS``, ``S3Bucket``."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import fsspec.core
from pydantic import PrivateAttr, SecretStr, field_validator

from tideflow.blocks._local import DEFAULT_IGNORE_FILE, FileSystemBlock
from tideflow.blocks._paths import iter_files, load_ignore_file, resolve_local, safe_relative
from tideflow.blocks.core import Block
from tideflow.exceptions import UnsupportedStorageOperation

_EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"),
           "gcs": ("gcsfs", "gcs")}  # fmt: skip


def _require_package(protocol: str) -> None:
    package, extra = _EXTRAS.get(protocol, (None, None))
    if package and importlib.util.find_spec(package) is None:
        raise ImportError(
            f"{protocol}:// storage needs the {package} package: pip install 'tideflow[{extra}]'"
        )


class _FsspecFileSystem(FileSystemBlock):
    """Shared implementation: subclasses say where (``_url``) and how (``_settings``)."""

    _block_abstract: ClassVar[bool] = True
    _fs: Any = PrivateAttr(default=None)

    def _url(self) -> str:
        """The fsspec URL of the storage root (each subclass says where)."""
        raise UnsupportedStorageOperation(f"{type(self).__name__} does not define _url()")

    def _settings(self) -> dict[str, Any]:
        return {}

    @property
    def filesystem(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem (created on first use)."""
        if self._fs is None:
            url = self._url()
            _require_package(url.partition("://")[0].lower())
            try:
                self._fs, _ = fsspec.core.url_to_fs(url, **self._settings())
            except ImportError as exc:
                raise ImportError(
                    f"No fsspec implementation for {url.partition('://')[0]}:// ({exc})"
                ) from exc
        fs: fsspec.AbstractFileSystem = self._fs
        return fs

    def _root(self) -> str:
        return str(self.filesystem._strip_protocol(self._url())).rstrip("/")

    def _is_local(self) -> bool:
        protocol = self.filesystem.protocol
        protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
        return bool({"file", "local"} & set(protocols))

    def _remote(self, path: str | None, *, allow_root: bool = False) -> str:
        root = self._root()
        rel = safe_relative(path, root=self._url(), allow_root=allow_root)
        if self._is_local():  # a file:// root: symlinks must not lead out of it
            return str(resolve_local(Path(root or "/"), rel, original=str(path)))
        return f"{root}/{rel}" if rel else root

    def read_path(self, path: str) -> bytes:
        """The bytes at ``path``; ``FileNotFoundError`` if missing."""
        data: bytes = self.filesystem.cat_file(self._remote(path))
        return data

    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` at ``path``; returns the full path."""
        target = self._remote(path)
        fs = self.filesystem
        try:
            fs.pipe_file(target, content)
        except FileNotFoundError:
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.pipe_file(target, content)
        return target

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return bool(self.filesystem.exists(self._remote(path)))

    def delete_path(self, path: str) -> None:
        """Remove ``path`` (``FileNotFoundError`` if missing)."""
        self.filesystem.rm_file(self._remote(path))

    def get_directory(
        self, from_path: str | None = None, local_path: str | os.PathLike[str] | None = None
    ) -> None:
        """Download everything under ``from_path`` into ``local_path`` (default: cwd).

        The whole listing is checked before anything is written: an entry that would land
        outside ``local_path`` (``..``, absolute, encoded, through a symlink) refuses the
        download with ``ValueError``.
        """
        source = self._remote(from_path, allow_root=True)
        dest = Path(local_path or ".").absolute()
        dest.mkdir(parents=True, exist_ok=True)
        fs = self.filesystem
        fs.invalidate_cache()
        plan: list[tuple[str, Path]] = []
        for remote in sorted(fs.find(source, withdirs=False, detail=False)):
            rel = _relative_to(str(remote), source)
            checked = safe_relative(rel, root=str(dest))
            plan.append((str(remote), resolve_local(dest, checked, original=rel)))
        for remote, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(remote, str(target))

    def put_directory(
        self,
        local_path: str | os.PathLike[str] | None = None,
        to_path: str | None = None,
        ignore_file: str | os.PathLike[str] | None = DEFAULT_IGNORE_FILE,
    ) -> int:
        """Upload ``local_path`` (default: cwd) under ``to_path``; returns the file count."""
        source = Path(local_path or ".").absolute().resolve()
        to_rel = safe_relative(to_path, root=self._url(), allow_root=True)
        files = iter_files(source, load_ignore_file(source, ignore_file))
        # Check every destination before uploading anything.
        plan = [(real, self._remote(f"{to_rel}/{rel}" if to_rel else rel)) for real, rel in files]
        fs = self.filesystem
        for real, target in plan:
            if self._is_local():
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            fs.put_file(str(real), target)
        return len(plan)


def _relative_to(remote: str, source: str) -> str:
    """``remote`` relative to ``source``, refusing a listing entry outside it."""
    if remote == source:  # ``source`` is a single file
        return remote.rsplit("/", 1)[-1]
    prefix = source.rstrip("/") + "/" if source.rstrip("/") else "/"
    if not remote.startswith(prefix):
        raise ValueError(
            f"Refusing path {remote!r}: the remote listing returned it for {source!r}, "
            "which does not contain it"
        )
    return remote[len(prefix) :]


class RemoteFileSystem(_FsspecFileSystem):
    """Any fsspec location: ``s3://bucket/dir``, ``gs://bucket``, ``memory://x`` ...

    Args:
        basepath: the root URL; it must have a scheme (use ``LocalFileSystem`` for a
            local directory).
        settings: keyword arguments for the fsspec filesystem (credentials, endpoint).

    Example:
        >>> fs = RemoteFileSystem(basepath="memory://doc-example")
        >>> _ = fs.write_path("a/b.txt", b"hi")
        >>> fs.read_path("a/b.txt")
        b'hi'
    """

    basepath: str
    settings: dict[str, Any] = {}

    @field_validator("basepath")
    @classmethod
    def _needs_scheme(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or not scheme or (not rest.strip("/") and scheme != "memory"):
            raise ValueError(
                f"basepath {value!r} must be a URL such as 's3://bucket/path' or "
                "'memory://name'; use LocalFileSystem for a local directory"
            )
        return value

    def _url(self) -> str:
        return self.basepath.rstrip("/")

    def _settings(self) -> dict[str, Any]:
        return dict(self.settings)


class S3(_FsspecFileSystem):
    """An S3 bucket (and optional prefix) through s3fs (``pip install 'tideflow[s3]'``).

    Args:
        bucket_path: ``"bucket"`` or ``"bucket/prefix"``.
        aws_access_key_id: default: the usual AWS credential chain.
        aws_secret_access_key: secret, stored encrypted.
        endpoint_url: an S3-compatible endpoint (MinIO, moto, Ceph ...).
    """

    bucket_path: str
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    endpoint_url: str | None = None

    @field_validator("bucket_path")
    @classmethod
    def _no_scheme(cls, value: str) -> str:
        value = value.removeprefix("s3://").strip("/")
        if not value:
            raise ValueError("bucket_path must name a bucket, e.g. 'my-model-registry'")
        return value

    def _url(self) -> str:
        return f"s3://{self.bucket_path}"

    def _settings(self) -> dict[str, Any]:
        return _s3_settings(
            self.aws_access_key_id, self.aws_secret_access_key, None, None, self.endpoint_url
        )


class GCS(_FsspecFileSystem):
    """A Google Cloud Storage bucket through gcsfs (``pip install 'tideflow[gcs]'``).

    Args:
        bucket_path: ``"bucket"`` or ``"bucket/prefix"``.
        service_account_info: the service account key JSON; secret, stored encrypted.
            Default: the application-default credentials.
        project: the GCP project.
    """

    bucket_path: str
    service_account_info: SecretStr | None = None
    project: str | None = None

    def _url(self) -> str:
        return f"gs://{self.bucket_path.removeprefix('gs://').strip('/')}"

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.service_account_info is not None:
            try:
                settings["token"] = json.loads(self.service_account_info.get_secret_value())
            except json.JSONDecodeError:
                raise ValueError("GCS service_account_info must be the key file's JSON") from None
        if self.project:
            settings["project"] = self.project
        return settings


def _s3_settings(
    key: str | None,
    secret: SecretStr | None,
    token: SecretStr | None,
    region: str | None,
    endpoint_url: str | None,
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if key:
        settings["key"] = key
    if secret is not None:
        settings["secret"] = secret.get_secret_value()
    if token is not None:
        settings["token"] = token.get_secret_value()
    client_kwargs: dict[str, Any] = {}
    if region:
        client_kwargs["region_name"] = region
    if endpoint_url:
        settings["endpoint_url"] = endpoint_url
    if client_kwargs:
        settings["client_kwargs"] = client_kwargs
    return settings


class AwsCredentials(Block):
    """AWS credentials (as in ``prefect_aws``); unset fields fall back to the usual chain."""

    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    region_name: str | None = None


class S3Bucket(_FsspecFileSystem):
    """An S3 bucket as in ``prefect_aws.s3.S3Bucket``; no extra package to install.

    Usable as ``result_storage=S3Bucket.load("my-bucket")`` and as deployment storage.

    Args:
        bucket_name: the bucket.
        credentials: ``AwsCredentials`` (default: the usual AWS chain).
        bucket_folder: a prefix inside the bucket for everything this block touches.
        endpoint_url: an S3-compatible endpoint (MinIO, moto ...).
    """

    bucket_name: str
    credentials: AwsCredentials = AwsCredentials()
    bucket_folder: str = ""
    endpoint_url: str | None = None

    @field_validator("bucket_folder")
    @classmethod
    def _folder_inside(cls, value: str) -> str:
        return safe_relative(value, allow_root=True)

    def _url(self) -> str:
        folder = f"/{self.bucket_folder}" if self.bucket_folder else ""
        return f"s3://{self.bucket_name}{folder}"

    def _settings(self) -> dict[str, Any]:
        c = self.credentials
        return _s3_settings(
            c.aws_access_key_id,
            c.aws_secret_access_key,
            c.aws_session_token,
            c.region_name,
            self.endpoint_url,
        )

    def upload_from_path(
        self, from_path: str | os.PathLike[str], to_path: str | None = None
    ) -> str:
        """Upload one local file (to ``to_path``, default its file name); returns the key."""
        source = Path(from_path)
        target = self._remote(to_path or source.name)
        self.filesystem.put_file(str(source), target)
        return target

    def download_object_to_path(self, from_path: str, to_path: str | os.PathLike[str]) -> Path:
        """Download one object to a local file; returns the local path."""
        target = Path(to_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.filesystem.get_file(self._remote(from_path), str(target))
        return target

    def list_objects(self, folder: str = "") -> list[str]:
        """Paths (relative to ``bucket_folder``) of the objects under ``folder``."""
        source = self._remote(folder, allow_root=True)
        self.filesystem.invalidate_cache()
        found = self.filesystem.find(source, withdirs=False, detail=False)
        root = self._remote(None, allow_root=True)
        return sorted(_relative_to(str(p), root) for p in found)
