"""``GitRepository``: flow code pulled from a git repository with the ``git`` CLI."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator, model_validator

from tideflow.blocks._local import DEFAULT_IGNORE_FILE, FileSystemBlock
from tideflow.blocks._paths import copy_files, iter_files, resolve_local, safe_relative
from tideflow.exceptions import UnsupportedStorageOperation

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
_ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_CLONE_TIMEOUT_SECONDS = 600


class GitRepository(FileSystemBlock):
    """A git repository, cloned with the ``git`` command-line tool when used.

    Read-only: ``get_directory`` and ``read_path`` work; to change the code, push to the
    repository.

    Args:
        url: ``https://...``, ``ssh://...``, ``git@host:org/repo.git``, ``file:///path``
            or a local path.
        reference: a branch, a tag or a commit sha (default: the remote's HEAD).
        access_token: for private ``https://`` repositories; secret, stored encrypted.
            Sent as an HTTP header through git's environment, never put in the URL, the
            clone's config or a command line.
        username: the user name that goes with the token (default ``x-access-token``,
            GitHub's; GitLab uses ``oauth2``).
        include_submodules: also clone submodules.

    Example:
        ``GitRepository(url="https://github.com/org/repo.git", reference="v1.2").get_directory(
        local_path="/tmp/code")``
    """

    url: str
    reference: str | None = None
    access_token: SecretStr | None = None
    username: str | None = None
    include_submodules: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not value or value.startswith("-"):
            raise ValueError(f"Invalid git url {value!r}: it must not be empty or start with '-'")
        if "::" in value.split("/", 1)[0]:
            raise ValueError(
                f"Invalid git url {value!r}: remote-helper transports ('ext::', 'fd::' ...) "
                "are not allowed"
            )
        scheme = urlsplit(value).scheme.lower()
        if "://" in value and scheme not in _ALLOWED_SCHEMES:
            raise ValueError(
                f"Invalid git url {value!r}: scheme {scheme!r} is not one of "
                f"{', '.join(sorted(_ALLOWED_SCHEMES))}"
            )
        return value

    @field_validator("reference")
    @classmethod
    def _check_reference(cls, value: str | None) -> str | None:
        if value is not None and (
            not value or value.startswith("-") or any(c.isspace() or ord(c) < 32 for c in value)
        ):
            raise ValueError(
                f"Invalid git reference {value!r}: expected a branch, tag or commit sha"
            )
        return value

    @model_validator(mode="after")
    def _token_needs_https(self) -> Self:
        if self.access_token is not None and urlsplit(self.url).scheme.lower() not in (
            "https",
            "http",
        ):
            raise ValueError("access_token can only be used with an https:// git url")
        return self

    # cloning ------------------------------------------------------------------------

    def _is_local(self) -> bool:
        if self.url.startswith("file://"):
            return True
        return "://" not in self.url and not _SCP_LIKE.match(self.url)

    def _git_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GIT_TERMINAL_PROMPT"] = "0"
        config: list[tuple[str, str]] = [("protocol.ext.allow", "never")]
        if self.include_submodules and self._is_local():
            # git refuses file:// submodules by default (CVE-2022-39253); a repository
            # that is itself local is trusted as much as its submodules.
            config.append(("protocol.file.allow", "always"))
        if self.access_token is not None:
            user = self.username or "x-access-token"
            raw = f"{user}:{self.access_token.get_secret_value()}".encode()
            header = "Authorization: Basic " + base64.b64encode(raw).decode("ascii")
            config.append(("http.extraHeader", header))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"] = key
            env[f"GIT_CONFIG_VALUE_{i}"] = value
        return env

    def _run(self, args: list[str], cwd: Path | None = None) -> None:
        git = shutil.which("git")
        if git is None:
            raise RuntimeError("GitRepository needs the git command-line tool on PATH")
        proc = subprocess.run(
            [git, *args],
            cwd=cwd,
            env=self._git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_CLONE_TIMEOUT_SECONDS,
            check=False,
        )
        if proc.returncode != 0:
            message = proc.stderr.strip() or proc.stdout.strip()
            if self.access_token is not None:
                message = message.replace(self.access_token.get_secret_value(), "**********")
            raise RuntimeError(f"git {args[0]} of {self.url!r} failed: {message}")

    def clone(self, destination: str | os.PathLike[str]) -> Path:
        """Clone into ``destination`` (which must not exist or be empty) at ``reference``."""
        dest = Path(destination).absolute()
        submodules = ["--recurse-submodules", "--shallow-submodules"]
        shallow = ["clone", "--quiet", "--depth", "1"]
        if self.reference:
            shallow += ["--branch", self.reference]
        if self.include_submodules:
            shallow += submodules
        try:
            self._run([*shallow, "--", self.url, str(dest)])
        except RuntimeError:
            if not (self.reference and _SHA.match(self.reference)):
                raise
            # A commit sha cannot be cloned with --branch: full clone, then check it out.
            shutil.rmtree(dest, ignore_errors=True)
            self._run(["clone", "--quiet", "--no-checkout", "--", self.url, str(dest)])
            self._run(["checkout", "--quiet", "--detach", self.reference, "--"], cwd=dest)
            if self.include_submodules:
                self._run(["submodule", "update", "--quiet", "--init", "--recursive"], cwd=dest)
        return dest

    # FileSystemBlock -------------------------------------------------------------------

    def get_directory(
        self, from_path: str | None = None, local_path: str | os.PathLike[str] | None = None
    ) -> None:
        """Clone, then copy ``from_path`` (default: the whole repository, without
        ``.git``) into ``local_path`` (default: the working directory)."""
        rel = safe_relative(from_path, root=self.url, allow_root=True)
        dest = Path(local_path or ".").absolute()
        with tempfile.TemporaryDirectory(prefix="tideflow-git-") as tmp:
            repo = self.clone(Path(tmp) / "repo")
            source = resolve_local(repo, rel, original=str(from_path))
            copy_files(iter_files(source), dest)

    def read_path(self, path: str) -> bytes:
        """The bytes of ``path`` at ``reference`` (clones the repository)."""
        rel = safe_relative(path, root=self.url)
        with tempfile.TemporaryDirectory(prefix="tideflow-git-") as tmp:
            repo = self.clone(Path(tmp) / "repo")
            return resolve_local(repo, rel, original=path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        """Not supported: a git repository is read-only storage."""
        raise UnsupportedStorageOperation(
            f"GitRepository is read-only: commit and push {path!r} to {self.url} instead"
        )

    def put_directory(
        self,
        local_path: str | os.PathLike[str] | None = None,
        to_path: str | None = None,
        ignore_file: str | os.PathLike[str] | None = DEFAULT_IGNORE_FILE,
    ) -> int:
        """Not supported: push the flow's code to the repository instead."""
        raise UnsupportedStorageOperation(
            f"GitRepository is read-only: commit and push your flow code to {self.url}; "
            "agents clone it at run time"
        )
