"""Tests for tideflow.results.storage."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import tideflow.results.storage as storage_module
from tideflow.results import (
    BlockResultStorage,
    FsspecResultStorage,
    LocalResultStorage,
    ResultStorage,
    register_block_loader,
    resolve_result_storage,
    storage_from_url,
)
from tideflow.results.storage import validate_key


@pytest.fixture
def memory_url() -> str:
    return f"memory://tideflow-tests/{uuid.uuid4().hex}"


@pytest.fixture
def no_block_loader() -> Iterator[None]:
    """No loader during the test; the process's loader (tideflow.blocks') after it,
    so later tests in the same worker can still read block:// results."""
    previous = (storage_module._block_loader, storage_module._block_loader_set)
    register_block_loader(None)
    yield
    storage_module._block_loader, storage_module._block_loader_set = previous


class DictBlock:
    """A minimal storage block: the WritableFileSystem protocol over a dict."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read_path(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def write_path(self, path: str, content: bytes) -> str:
        self.files[path] = content
        return path


class SavedDictBlock(DictBlock):
    _block_type_slug = "dict-block"

    def __init__(self, name: str) -> None:
        super().__init__()
        self._block_document_name = name


class LocalDirBlock:
    """A block writing under a basepath, like Prefect's LocalFileSystem."""

    def __init__(self, basepath: str) -> None:
        self.basepath = basepath
        self.writes = 0

    def read_path(self, path: str) -> bytes:
        return (Path(self.basepath) / path).read_bytes()

    def write_path(self, path: str, content: bytes) -> None:
        self.writes += 1
        target = Path(self.basepath) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def exercise(storage: ResultStorage) -> None:
    assert not storage.exists("a/b/c")
    storage.write("a/b/c", b"one")
    assert storage.exists("a/b/c")
    assert storage.read("a/b/c") == b"one"
    storage.write("a/b/c", b"two")
    assert storage.read("a/b/c") == b"two"
    storage.delete("a/b/c")
    assert not storage.exists("a/b/c")
    storage.delete("a/b/c")  # idempotent
    with pytest.raises(FileNotFoundError):
        storage.read("a/b/c")


def test_local_storage_operations(tmp_path: Path) -> None:
    storage = resolve_result_storage(tmp_path / "results")
    assert isinstance(storage, LocalResultStorage)
    exercise(storage)


def test_memory_storage_operations(memory_url: str) -> None:
    storage = resolve_result_storage(memory_url)
    assert isinstance(storage, FsspecResultStorage)
    assert storage.url == memory_url
    exercise(storage)


def test_fsspec_file_storage_operations(tmp_path: Path) -> None:
    # FsspecResultStorage also works against fsspec's local filesystem.
    exercise(FsspecResultStorage(f"file://{tmp_path}/fs"))


def test_block_storage_operations() -> None:
    block = DictBlock()
    storage = resolve_result_storage(block)
    assert isinstance(storage, BlockResultStorage)
    storage.write("x/y", b"data")
    assert block.files == {"x/y": b"data"}
    assert storage.read("x/y") == b"data"
    assert storage.exists("x/y")
    assert not storage.exists("x/z")
    with pytest.raises(NotImplementedError, match="delete_path"):
        storage.delete("x/y")


def test_local_url_is_absolute_file_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = resolve_result_storage("relative dir")
    assert storage.url == (tmp_path / "relative dir").as_uri()
    assert storage.url.startswith("file:///")
    storage.write("k", b"v")
    assert (tmp_path / "relative dir" / "k").read_bytes() == b"v"


def test_string_path_pathlike_and_file_url_resolve_to_same_storage(tmp_path: Path) -> None:
    by_path = resolve_result_storage(tmp_path)
    assert resolve_result_storage(str(tmp_path)) is by_path
    assert resolve_result_storage(tmp_path.as_uri()) is by_path
    assert storage_from_url(by_path.url) is by_path


def test_default_storage_is_under_tideflow_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_HOME", str(tmp_path / "home"))
    storage = resolve_result_storage(None)
    assert storage.url == (tmp_path / "home" / "storage").as_uri()
    storage.write("k", b"v")
    assert (tmp_path / "home" / "storage" / "k").read_bytes() == b"v"


def test_default_storage_home_defaults_to_dot_tideflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEFLOW_HOME", raising=False)
    storage = resolve_result_storage()
    assert storage.url == (Path.home() / ".tideflow" / "storage").as_uri()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "..",
        "../escape",
        "a/../../b",
        "a/..",
        "/etc/passwd",
        "a\\b",
        "..\\x",
        "C:/windows",
        "a//b",
        "./a",
        "a/",
        "nul\x00byte",
    ],
)
def test_invalid_keys_are_rejected(key: str, tmp_path: Path, memory_url: str) -> None:
    with pytest.raises(ValueError, match="key"):
        validate_key(key)
    for storage in (
        resolve_result_storage(tmp_path),
        resolve_result_storage(memory_url),
        resolve_result_storage(DictBlock()),
    ):
        with pytest.raises(ValueError):
            storage.write(key, b"x")
        with pytest.raises(ValueError):
            storage.read(key)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["a", "a/b/c", "cache/abc123", "dots.in.name", "ünïcode", "run:1"])
def test_valid_keys(key: str, tmp_path: Path) -> None:
    storage = resolve_result_storage(tmp_path)
    storage.write(key, b"ok")
    assert storage.read(key) == b"ok"


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    storage = resolve_result_storage(tmp_path)
    for i in range(20):
        storage.write("deep/nested/key", f"value {i}".encode())
        storage.write(f"k{i}", b"x" * 10_000)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(["deep/nested/key", *[f"k{i}" for i in range(20)]])
    assert storage.read("deep/nested/key") == b"value 19"


def test_failed_local_write_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    storage = resolve_result_storage(tmp_path)
    storage.write("k", b"old")
    with pytest.raises(TypeError):
        storage.write("k", "not bytes")  # type: ignore[arg-type]
    assert storage.read("k") == b"old"
    assert sorted(os.listdir(tmp_path)) == ["k"]


def test_storage_from_url_memory(memory_url: str) -> None:
    writer = resolve_result_storage(memory_url + "/")
    assert writer.url == memory_url
    writer.write("k", b"v")
    reader = storage_from_url(memory_url)
    assert reader is writer
    # A fresh instance (as another process would build) sees the same data.
    assert FsspecResultStorage(memory_url).read("k") == b"v"


def test_storage_from_url_file(tmp_path: Path) -> None:
    (tmp_path / "with space").mkdir()
    (tmp_path / "with space" / "k").write_bytes(b"v")
    url = (tmp_path / "with space").as_uri()
    assert "%20" in url
    storage = storage_from_url(url)
    assert isinstance(storage, LocalResultStorage)
    assert storage.read("k") == b"v"
    assert storage.url == url


def test_storage_from_url_rejects_non_urls_and_remote_file_hosts() -> None:
    with pytest.raises(ValueError, match="Not a storage URL"):
        storage_from_url("/just/a/path")
    with pytest.raises(ValueError, match="remote host"):
        storage_from_url("file://otherhost/data")


def test_unknown_fsspec_protocol_is_clear_error() -> None:
    with pytest.raises((ImportError, ValueError)):
        resolve_result_storage("definitely-not-a-protocol://bucket")


def test_resolve_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="result_storage"):
        resolve_result_storage(42)


def test_resolve_passes_storage_through(tmp_path: Path) -> None:
    storage = LocalResultStorage(tmp_path)
    assert resolve_result_storage(storage) is storage


def test_unsaved_block_gets_process_local_url() -> None:
    block = DictBlock()
    storage = resolve_result_storage(block)
    assert storage.url.startswith("object://")
    assert storage_from_url(storage.url) is storage
    with pytest.raises(LookupError, match="save the block"):
        storage_from_url("object://some.Block/deadbeef")


def test_block_with_basepath_writes_through_block_and_is_readable_by_url(tmp_path: Path) -> None:
    block = LocalDirBlock(str(tmp_path / "base"))
    storage = resolve_result_storage(block)
    assert storage.url == (tmp_path / "base").as_uri()
    storage.write("r/1", b"payload")
    assert block.writes == 1
    assert storage_from_url(storage.url).read("r/1") == b"payload"


def test_saved_block_needs_a_loader(no_block_loader: None) -> None:
    block = SavedDictBlock("my results")
    storage = resolve_result_storage(block)
    assert storage.url == "block://dict-block/my%20results"
    storage.write("k", b"v")
    assert block.files == {"k": b"v"}
    with pytest.raises(LookupError, match="no block loader"):
        storage_from_url("block://dict-block/other")


def test_saved_block_loader_hook(no_block_loader: None) -> None:
    blocks = {("dict-block", "shared name"): SavedDictBlock("shared name")}
    blocks["dict-block", "shared name"].files["k"] = b"from loader"
    calls: list[tuple[str, str]] = []

    def loader(slug: str, name: str) -> SavedDictBlock:
        calls.append((slug, name))
        return blocks[slug, name]

    register_block_loader(loader)
    storage = storage_from_url("block://dict-block/shared%20name")
    assert isinstance(storage, BlockResultStorage)
    assert storage.read("k") == b"from loader"
    assert storage_from_url("block://dict-block/shared%20name") is storage
    assert calls == [("dict-block", "shared name")]
