"""Storage blocks on local disk and fsspec memory: round trips, directories, ignores, and
every kind of path that tries to leave the storage root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from tideflow.filesystems import (
    GCS,
    FileSystemBlock,
    LocalFileSystem,
    RemoteFileSystem,
    WritableFileSystem,
)

BAD_PATHS = [
    "../outside.txt",
    "a/../../outside.txt",
    "a/b/../../../outside.txt",
    "..",
    "/etc/passwd",
    "//etc/passwd",
    "%2e%2e/outside.txt",
    "%2E%2E/outside.txt",
    "a/%2e%2e/%2e%2e/outside.txt",
    "..%2foutside.txt",
    "%2e%2e%2foutside.txt",
    "%252e%252e/outside.txt",
    "%2fetc/passwd",
    "..\\outside.txt",
    "a\\..\\..\\outside.txt",
    "%5c..%5coutside.txt",
    "C:/Windows/win.ini",
    "c:outside.txt",
    "file:///etc/passwd",
    "s3://other-bucket/key",
    "a/\x00b",
    "%00",
]


def _make_tree(root: Path) -> None:
    files = {
        "flow.py": "print('hi')\n",
        "pkg/__init__.py": "",
        "pkg/mod.py": "x = 1\n",
        "pkg/__pycache__/mod.cpython-311.pyc": "bytecode",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".venv/bin/python": "",
        "data/big.csv": "a,b\n",
        "data/keep.csv": "k\n",
        "notes.log": "log\n",
        "logs/keep.log": "keep\n",
        "build/out.bin": "bin",
        "src/build/generated.py": "gen",
        "secrets/.env": "TOKEN=x",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------- local
def test_local_round_trip(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path / "store"))
    where = fs.write_path("models/v1/model.bin", b"\x00\x01weights")
    assert Path(where) == (tmp_path / "store/models/v1/model.bin").resolve()
    assert fs.read_path("models/v1/model.bin") == b"\x00\x01weights"
    assert fs.read_path("./models//v1/model.bin") == b"\x00\x01weights"
    assert fs.exists("models/v1/model.bin") and not fs.exists("nope")
    fs.write_path("models/v1/model.bin", b"new")
    assert fs.read_path("models/v1/model.bin") == b"new"
    assert [p.name for p in (tmp_path / "store/models/v1").iterdir()] == ["model.bin"]
    fs.delete_path("models/v1/model.bin")
    with pytest.raises(FileNotFoundError):
        fs.read_path("models/v1/model.bin")
    assert isinstance(fs, FileSystemBlock) and WritableFileSystem is FileSystemBlock


def test_local_default_basepath_is_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    LocalFileSystem().write_path("x.txt", b"1")
    assert (tmp_path / "x.txt").read_bytes() == b"1"


def test_local_saved_block_round_trip(tmp_path: Path) -> None:
    LocalFileSystem(basepath=str(tmp_path)).save("local-store")
    fs = LocalFileSystem.load("local-store")
    fs.write_path("a.txt", b"a")
    assert (tmp_path / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_local_refuses_escaping_paths(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    fs = LocalFileSystem(basepath=str(root))
    with pytest.raises(ValueError, match="Refusing path") as info:
        fs.write_path(bad, b"pwned")
    assert repr(bad) in str(info.value) or repr(bad)[1:-1] in str(info.value)
    with pytest.raises(ValueError, match="Refusing path"):
        fs.read_path(bad)
    with pytest.raises(ValueError, match="Refusing path"):
        fs.get_directory(from_path=bad, local_path=tmp_path / "dl")
    with pytest.raises(ValueError, match="Refusing path"):
        fs.put_directory(local_path=root, to_path=bad)
    assert not (tmp_path / "outside.txt").exists()


def test_empty_path_is_refused_for_files(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path))
    with pytest.raises(ValueError, match="file path is required"):
        fs.write_path("", b"x")


def test_names_that_only_look_like_traversal_are_fine(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path))
    for name in ("...", "..foo", "foo..", "a%20b.txt", "%41.txt", "~user/x"):
        fs.write_path(name if "/" in name else f"d/{name}", b"ok")
    assert (tmp_path / "d/a%20b.txt").read_bytes() == b"ok"
    assert (tmp_path / "~user/x").read_bytes() == b"ok"


def test_local_refuses_symlinks_leaving_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    os.symlink(outside, root / "link-dir")
    os.symlink(outside / "secret.txt", root / "link-file")
    os.symlink(root / "inside.txt", root / "inside-link")
    (root / "inside.txt").write_text("fine")
    fs = LocalFileSystem(basepath=str(root))
    for bad in ("link-dir/secret.txt", "link-file", "link-dir/new.txt"):
        with pytest.raises(ValueError, match="through a symlink, outside the storage root"):
            fs.read_path(bad)
        with pytest.raises(ValueError, match="outside the storage root"):
            fs.write_path(bad, b"pwned")
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (outside / "new.txt").exists()
    assert fs.read_path("inside-link") == b"fine"  # a symlink within the root is fine
    with pytest.raises(ValueError, match="outside"):
        fs.get_directory(from_path="link-dir", local_path=tmp_path / "dl")


def test_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "alias")
    fs = LocalFileSystem(basepath=str(tmp_path / "alias"))
    fs.write_path("a.txt", b"a")
    assert (real / "a.txt").read_bytes() == b"a"


# ---------------------------------------------------------------------- directories
IGNORE = """\
# comments and blank lines are skipped

*.log
!logs/keep.log
/build/
data/*
!data/keep.csv
secrets
"""


def test_local_put_and_get_directory_with_ignore(tmp_path: Path) -> None:
    project, store, out = tmp_path / "project", tmp_path / "store", tmp_path / "out"
    _make_tree(project)
    (project / ".tideflowignore").write_text(IGNORE)
    fs = LocalFileSystem(basepath=str(store))
    count = fs.put_directory(local_path=project, to_path="flows/v1")
    expected = {
        ".tideflowignore",
        "flow.py",
        "pkg/__init__.py",
        "pkg/mod.py",
        "data/keep.csv",
        "logs/keep.log",
        "src/build/generated.py",  # /build/ is anchored to the root
    }
    assert _files(store / "flows/v1") == expected
    assert count == len(expected)
    fs.get_directory(from_path="flows/v1", local_path=out)
    assert _files(out) == expected
    assert (out / "pkg/mod.py").read_text() == "x = 1\n"


def test_put_directory_without_ignore_file_still_skips_vcs_and_caches(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    _make_tree(project)
    LocalFileSystem(basepath=str(store)).put_directory(local_path=project, ignore_file=None)
    files = _files(store)
    assert "notes.log" in files and "secrets/.env" in files
    assert not any(f.startswith((".git/", ".venv/")) or "__pycache__" in f for f in files)


def test_put_directory_custom_ignore_file_and_default_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    _make_tree(project)
    (project / "deploy.ignore").write_text("*\n!flow.py\n")
    monkeypatch.chdir(project)
    LocalFileSystem(basepath=str(store)).put_directory(ignore_file="deploy.ignore")
    assert _files(store) == {"flow.py"}


def test_put_directory_refuses_symlink_leaving_the_project(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    _make_tree(project)
    (tmp_path / "private").mkdir()
    (tmp_path / "private/id_rsa").write_text("KEY")
    os.symlink(tmp_path / "private", project / "creds")
    fs = LocalFileSystem(basepath=str(store))
    with pytest.raises(ValueError, match=r"'creds'.*symlink.*outside"):
        fs.put_directory(local_path=project)
    assert not store.exists() or not _files(store)  # nothing half-uploaded
    (project / ".tideflowignore").write_text("creds\n")
    fs.put_directory(local_path=project)
    assert "flow.py" in _files(store) and not any("id_rsa" in f for f in _files(store))


def test_put_directory_follows_symlinks_inside_and_skips_broken(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    _make_tree(project)
    os.symlink(project / "pkg", project / "pkg-alias")
    os.symlink(project / "missing", project / "broken")
    os.symlink(project, project / "pkg/loop")  # a cycle back to the root
    LocalFileSystem(basepath=str(store)).put_directory(local_path=project, ignore_file=None)
    files = _files(store)
    assert "pkg-alias/mod.py" in files and "broken" not in files


def test_put_directory_into_a_subdirectory_of_itself(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _make_tree(project)
    fs = LocalFileSystem(basepath=str(project / "storage"))
    first = fs.put_directory(local_path=project, ignore_file=None)
    second = fs.put_directory(local_path=project, ignore_file=None)
    assert first == second  # the storage directory is never uploaded into itself
    assert not (project / "storage/storage").exists()


# ---------------------------------------------------------------------- fsspec
def test_remote_memory_round_trip_and_directories(tmp_path: Path) -> None:
    project, out = tmp_path / "project", tmp_path / "out"
    _make_tree(project)
    (project / ".tideflowignore").write_text(IGNORE)
    fs = RemoteFileSystem(basepath="memory://tests-remote/root")
    fs.write_path("a/b.txt", b"hi")
    assert fs.read_path("a/b.txt") == b"hi" and fs.exists("a/b.txt")
    with pytest.raises(FileNotFoundError):
        fs.read_path("nope.txt")
    n = fs.put_directory(local_path=project, to_path="code")
    fs.get_directory(from_path="code", local_path=out)
    assert len(_files(out)) == n and "flow.py" in _files(out) and "notes.log" not in _files(out)
    fs.delete_path("a/b.txt")
    assert not fs.exists("a/b.txt")


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_remote_refuses_escaping_paths(bad: str) -> None:
    fs = RemoteFileSystem(basepath="memory://tests-remote-bad/root")
    with pytest.raises(ValueError, match="Refusing path"):
        fs.write_path(bad, b"pwned")
    with pytest.raises(ValueError, match="Refusing path"):
        fs.read_path(bad)
    assert not MemoryFileSystem().exists("/tests-remote-bad/outside.txt")


def test_remote_file_url_root_refuses_symlinks(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    fs = RemoteFileSystem(basepath=root.as_uri())
    fs.write_path("ok/a.txt", b"a")
    assert (root / "ok/a.txt").read_bytes() == b"a"
    with pytest.raises(ValueError, match="outside"):
        fs.write_path("link/evil.txt", b"x")
    assert not (outside / "evil.txt").exists()


class _EvilFileSystem(MemoryFileSystem):
    """A remote whose listing names files outside the requested directory."""

    protocol = "evil"
    listing: list[str] = []

    def find(self, path: str, *args: Any, **kwargs: Any) -> Any:
        return list(self.listing)


@pytest.mark.parametrize(
    "entry",
    [
        "/evil-root/code/../../outside.txt",
        "/evil-root/code/%2e%2e/%2e%2e/outside.txt",
        "/evil-root/code/a\\..\\..\\outside.txt",
        "/elsewhere/outside.txt",
        "/evil-root/code//etc/passwd",
    ],
)
def test_malicious_listing_cannot_write_outside_local_path(tmp_path: Path, entry: str) -> None:
    fsspec.register_implementation("evil", _EvilFileSystem, clobber=True)
    fs = RemoteFileSystem(basepath="evil://evil-root")
    fs.write_path("code/fine.txt", b"fine")
    _EvilFileSystem.listing = ["/evil-root/code/fine.txt", entry]
    dest = tmp_path / "a" / "b" / "dest"
    with pytest.raises(ValueError, match="Refusing path"):
        fs.get_directory(from_path="code", local_path=dest)
    assert not any(p.name == "outside.txt" for p in tmp_path.rglob("*"))
    assert not (dest / "fine.txt").exists()  # checked before anything is written


def test_download_refuses_symlink_in_local_path(tmp_path: Path) -> None:
    fs = RemoteFileSystem(basepath="memory://tests-remote-symlink")
    fs.write_path("code/sub/file.txt", b"x")
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(ValueError, match="outside"):
        fs.get_directory(from_path="code", local_path=dest)
    assert not (outside / "file.txt").exists()


def test_remote_basepath_must_be_a_url() -> None:
    with pytest.raises(ValueError, match="use LocalFileSystem"):
        RemoteFileSystem(basepath="/just/a/path")
    with pytest.raises(ValueError, match="must be a URL"):
        RemoteFileSystem(basepath="s3://")


def test_remote_saved_and_loaded_with_settings() -> None:
    RemoteFileSystem(basepath="memory://tests-saved", settings={"skip_instance_cache": True}).save(
        "mem"
    )
    fs = RemoteFileSystem.load("mem")
    assert fs.settings == {"skip_instance_cache": True}
    fs.write_path("x", b"1")
    assert RemoteFileSystem.load("mem").read_path("x") == b"1"


def test_gcs_without_gcsfs_names_the_extra() -> None:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    fs = GCS(bucket_path="my-bucket", service_account_info='{"type": "service_account"}')
    assert "**********" in repr(fs)
    with pytest.raises(ImportError, match=r"pip install 'tideflow\[gcs\]'"):
        fs.read_path("model.pkl")
