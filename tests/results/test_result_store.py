"""Tests for tideflow.results.store: persisting, loading and references."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from tideflow.results import (
    ResultReference,
    ResultStore,
    decode_result,
    encode_result,
    resolve_result_storage,
)
from tideflow.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    JSONSerializer,
    PickleSerializer,
    SerializationError,
    Serializer,
)

SERIALIZERS: list[Serializer] = [
    PickleSerializer(),
    JSONSerializer(),
    CompressedPickleSerializer(),
    CompressedJSONSerializer(compressionlib="zlib"),
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=repr)
def test_persist_and_load_local(tmp_path: Path, serializer: Serializer) -> None:
    store = ResultStore(tmp_path, serializer)
    value = {"accuracy": 0.95, "at": dt.date(2024, 1, 2), "ids": {1, 2}}
    ref = store.persist(value)
    assert ref.storage_url == tmp_path.as_uri()
    assert len(ref.key) == 32
    assert ref.serializer == serializer.to_spec()
    assert (tmp_path / ref.key).is_file()
    assert store.load(ref) == value
    assert ref.load() == value
    assert store.exists(ref)


def test_persist_with_explicit_key_overwrites(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
    first = store.persist(1, key="flows/train/model")
    second = store.persist(2, key="flows/train/model")
    assert first == second
    assert store.load(first) == 2


def test_persist_memory_storage() -> None:
    url = f"memory://tideflow-tests/{uuid.uuid4().hex}"
    store = ResultStore(storage=url, serializer="compressed/json")
    ref = store.persist([1, 2, 3])
    assert ref.storage_url == url
    assert ResultReference.from_dict(json.loads(json.dumps(ref.to_dict()))).load() == [1, 2, 3]


def test_defaults_are_pickle_and_home_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDEFLOW_HOME", str(tmp_path))
    store = ResultStore()
    assert store.serializer == PickleSerializer()
    ref = store.persist(lambda: "closure ok")
    assert (tmp_path / "storage" / ref.key).is_file()
    assert store.load(ref)() == "closure ok"


def test_store_loads_refs_from_other_storages(tmp_path: Path) -> None:
    a = ResultStore(tmp_path / "a", "json")
    b = ResultStore(tmp_path / "b", "pickle")
    ref = a.persist({"from": "a"})
    assert b.load(ref) == {"from": "a"}


def test_file_is_self_describing(tmp_path: Path) -> None:
    # Written with JSON, read without knowing the serializer.
    ref = ResultStore(tmp_path, "compressed/json").persist({"x": 1})
    data = (tmp_path / ref.key).read_bytes()
    assert decode_result(data) == {"x": 1}
    assert decode_result(encode_result([1], PickleSerializer())) == [1]


def test_decode_rejects_foreign_and_corrupt_data() -> None:
    with pytest.raises(SerializationError, match="magic"):
        decode_result(b"plain bytes")
    with pytest.raises(SerializationError, match="magic"):
        decode_result(b"")
    good = encode_result({"x": 1}, JSONSerializer())
    with pytest.raises(SerializationError, match="version"):
        decode_result(good[:4] + b"\x07" + good[5:])
    with pytest.raises(SerializationError, match="header"):
        decode_result(good[:9] + b"{" * (len(good) - 9))
    with pytest.raises(SerializationError):
        decode_result(good[:-3])


def test_unserializable_value_error_names_type_and_serializer(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "pickle")
    with pytest.raises(SerializationError) as info:
        store.persist(x for x in range(3))
    message = str(info.value)
    assert message.startswith(
        "Could not serialize result of type 'generator' with serializer 'pickle': "
    )
    assert "cannot pickle" in message
    assert list(tmp_path.iterdir()) == []


def test_unserializable_json_error_names_inner_type(tmp_path: Path) -> None:
    class Model:
        pass

    with pytest.raises(SerializationError) as info:
        ResultStore(tmp_path, "json").persist({"model": Model()})
    message = str(info.value)
    assert "result of type 'dict' with serializer 'json'" in message
    assert "Model" in message


def test_unserializable_compressed_names_serializer(tmp_path: Path) -> None:
    with pytest.raises(SerializationError, match="'compressed/json'"):
        ResultStore(tmp_path, "compressed/json").persist(object())


def test_persist_rejects_bad_keys(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for key in ("../x", "/abs", "a\\b"):
        with pytest.raises(ValueError):
            store.persist(1, key=key)


def test_load_missing_result_is_file_not_found(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    ref = store.persist(1)
    (tmp_path / ref.key).unlink()
    assert not store.exists(ref)
    with pytest.raises(FileNotFoundError, match=ref.key):
        store.load(ref)


def test_reference_dict_round_trip_and_validation() -> None:
    ref = ResultReference("file:///tmp/x", "abc", {"type": "pickle", "picklelib": "pickle"})
    data = ref.to_dict()
    assert data == {
        "type": "reference",
        "storage_url": "file:///tmp/x",
        "key": "abc",
        "serializer": {"type": "pickle", "picklelib": "pickle"},
    }
    assert json.loads(json.dumps(data)) == data
    assert ResultReference.from_dict(data) == ref
    assert hash(ResultReference.from_dict(data)) == hash(ref)
    with pytest.raises(ValueError, match="key"):
        ResultReference.from_dict({"storage_url": "file:///x"})
    with pytest.raises(ValueError, match="storage_url"):
        ResultReference.from_dict({"key": "k", "storage_url": 3})
    with pytest.raises(ValueError, match="Not a result reference"):
        ResultReference.from_dict({**data, "type": "literal"})
    with pytest.raises(ValueError, match="dict"):
        ResultReference.from_dict("nope")  # type: ignore[arg-type]


def _run_python(code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("serializer", ["pickle", "json", "compressed/pickle"])
def test_cross_process_load(tmp_path: Path, serializer: str) -> None:
    value: Any = {"rows": [1, 2, 3], "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}
    ref = ResultStore(tmp_path / "shared store", serializer).persist(value)
    out = _run_python(
        """
        import json, sys
        from tideflow.results import ResultReference
        value = ResultReference.from_dict(json.loads(sys.argv[1])).load()
        print(repr(value))
        """,
        json.dumps(ref.to_dict()),
    )
    assert out == repr(value)


def test_cross_process_write_then_read_here(tmp_path: Path) -> None:
    out = _run_python(
        """
        import json, sys
        from tideflow.results import ResultStore
        ref = ResultStore(sys.argv[1], "compressed/json").persist({"answer": 42})
        print(json.dumps(ref.to_dict()))
        """,
        str(tmp_path),
    )
    assert ResultReference.from_dict(json.loads(out)).load() == {"answer": 42}


def test_store_accepts_storage_instance_and_block(tmp_path: Path) -> None:
    class Block:
        def __init__(self) -> None:
            self.files: dict[str, bytes] = {}

        def read_path(self, path: str) -> bytes:
            return self.files[path]

        def write_path(self, path: str, content: bytes) -> None:
            self.files[path] = content

    block = Block()
    store = ResultStore(block, "json")
    ref = store.persist({"a": 1}, key="k")
    assert set(block.files) == {"k"}
    assert store.load(ref) == {"a": 1}
    storage = resolve_result_storage(tmp_path)
    assert ResultStore(storage).storage is storage
    assert "ResultStore(storage=" in repr(store)
