"""Tests for tideflow.serializers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import pickle
import uuid
from typing import Any

import pydantic
import pytest

from tideflow.exceptions import TideflowError
from tideflow.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    SerializationError,
    Serializer,
    get_serializer,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: int
    y: dt.date


class Metrics(pydantic.BaseModel):
    accuracy: float
    at: dt.datetime
    tags: list[str] = []


ALL_SERIALIZERS: list[Serializer] = [
    PickleSerializer(),
    PickleSerializer(picklelib="pickle"),
    JSONSerializer(),
    JSONSerializer(dumps_kwargs={"indent": 2, "sort_keys": True}),
    CompressedPickleSerializer(),
    CompressedJSONSerializer(),
    *[
        CompressedSerializer(serializer=PickleSerializer(), compressionlib=lib)
        for lib in ("lzma", "zlib", "bz2", "gzip")
    ],
    CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib"),
]

PLAIN_VALUES: list[Any] = [
    None,
    True,
    0,
    -12345678901234567890,
    3.5,
    "",
    "héllo wörld ✓",
    [1, "two", None],
    {"nested": {"list": [1, 2, {"deep": True}]}},
]


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS, ids=repr)
@pytest.mark.parametrize("value", PLAIN_VALUES, ids=repr)
def test_round_trip_plain_values(serializer: Serializer, value: Any) -> None:
    blob = serializer.dumps(value)
    assert isinstance(blob, bytes)
    assert serializer.loads(blob) == value


def test_cloudpickle_round_trips_lambdas_and_closures() -> None:
    factor = 3

    def scale(x: int) -> int:
        return x * factor

    serializer = PickleSerializer()
    assert serializer.loads(serializer.dumps(lambda x: x + 1))(1) == 2
    assert serializer.loads(serializer.dumps(scale))(2) == 6
    compressed = CompressedPickleSerializer(compressionlib="bz2")
    assert compressed.loads(compressed.dumps(scale))(5) == 15


def test_stdlib_pickle_refuses_lambdas_with_clear_error() -> None:
    with pytest.raises(SerializationError) as info:
        PickleSerializer(picklelib="pickle").dumps(lambda: 1)
    assert "function" in str(info.value)
    assert "pickle" in str(info.value)


def test_pickle_error_names_type() -> None:
    with pytest.raises(SerializationError, match=r"'generator'.*'pickle'"):
        PickleSerializer().dumps(x for x in range(3))


def test_serialization_error_is_type_error_and_tideflow_error() -> None:
    assert issubclass(SerializationError, TypeError)
    assert issubclass(SerializationError, TideflowError)


JSON_VALUES: list[Any] = [
    dt.datetime(2024, 5, 17, 12, 30, 1, 123456),
    dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 5, 17, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.date(2024, 2, 29),
    dt.time(23, 59, 59, 999999),
    dt.timedelta(days=400, seconds=3, microseconds=7),
    dt.timedelta(microseconds=-1),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("3.14159265358979323846264338327950288"),
    pathlib.Path("/data/x.csv"),
    pathlib.PurePosixPath("a/b"),
    pathlib.PureWindowsPath(r"C:\data\x.csv"),
    {1, 2, 3},
    frozenset({"a", "b"}),
    {1, "mixed", None},
    b"\x00\xffbinary",
    bytearray(b"abc"),
    1 + 2j,
    Color.BLUE,
    Point(1, dt.date(2020, 1, 1)),
    Metrics(accuracy=0.95, at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), tags=["a"]),
    {"when": dt.date(2024, 1, 2), "ids": [uuid.UUID(int=1)], "paths": {pathlib.Path("p")}},
]


@pytest.mark.parametrize("serializer", [JSONSerializer(), CompressedJSONSerializer()], ids=repr)
@pytest.mark.parametrize("value", JSON_VALUES, ids=lambda v: type(v).__name__)
def test_json_round_trips_rich_types(serializer: Serializer, value: Any) -> None:
    restored = serializer.loads(serializer.dumps(value))
    expected = bytes(value) if isinstance(value, bytearray) else value
    assert restored == expected
    assert type(restored) is type(expected)


def test_json_output_is_readable_json() -> None:
    blob = JSONSerializer().dumps({"at": dt.date(2024, 1, 2), "n": 1})
    assert blob == b'{"at": {"__class__": "datetime.date", "data": "2024-01-02"}, "n": 1}'


def test_json_dumps_kwargs_apply() -> None:
    blob = JSONSerializer(dumps_kwargs={"sort_keys": True}).dumps({"b": 1, "a": 2})
    assert blob == b'{"a": 2, "b": 1}'


def test_json_unserializable_names_type() -> None:
    class Opaque:
        pass

    with pytest.raises(SerializationError) as info:
        JSONSerializer().dumps({"value": Opaque()})
    message = str(info.value)
    assert "Opaque" in message
    assert "JSON" in message
    assert isinstance(info.value, TypeError)


def test_json_unserializable_generator() -> None:
    with pytest.raises(SerializationError, match="'generator'"):
        JSONSerializer().dumps(x for x in range(3))


def test_json_circular_reference_is_serialization_error() -> None:
    value: list[Any] = []
    value.append(value)
    with pytest.raises(SerializationError, match=r"'list'.*'json'"):
        JSONSerializer().dumps(value)


def test_json_decode_refuses_arbitrary_classes() -> None:
    blob = b'{"__class__": "subprocess.Popen", "data": ["echo"]}'
    with pytest.raises(SerializationError, match=r"subprocess\.Popen"):
        JSONSerializer().loads(blob)


def test_json_decode_unknown_class_is_clear() -> None:
    blob = b'{"__class__": "no_such_module_xyz.Thing", "data": 1}'
    with pytest.raises(SerializationError, match=r"no_such_module_xyz\.Thing"):
        JSONSerializer().loads(blob)


def test_loads_of_garbage_is_serialization_error() -> None:
    for serializer in (PickleSerializer(), JSONSerializer(), CompressedPickleSerializer()):
        with pytest.raises(SerializationError):
            serializer.loads(b"\x00 definitely not valid")


def test_json_rejects_unknown_jsonlib_and_hook_kwargs() -> None:
    with pytest.raises(ValueError, match="jsonlib"):
        JSONSerializer(jsonlib="simplejson")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="object_encoder"):
        JSONSerializer(dumps_kwargs={"default": str})


def test_bad_constructor_choices() -> None:
    with pytest.raises(ValueError, match="picklelib"):
        PickleSerializer(picklelib="dill")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="compressionlib"):
        CompressedSerializer(serializer=PickleSerializer(), compressionlib="zstd")  # type: ignore[arg-type]


def test_compression_actually_compresses() -> None:
    value = "x" * 100_000
    compressed = CompressedPickleSerializer().dumps(value)
    assert len(compressed) < len(PickleSerializer().dumps(value)) / 10


@pytest.mark.parametrize("serializer", ALL_SERIALIZERS, ids=repr)
def test_spec_round_trip_equality_pickle_and_repr(serializer: Serializer) -> None:
    spec = serializer.to_spec()
    assert isinstance(spec["type"], str)
    import json

    assert json.loads(json.dumps(spec)) == spec  # JSON-able
    rebuilt = Serializer.from_spec(json.loads(json.dumps(spec)))
    assert rebuilt == serializer
    assert type(rebuilt) is type(serializer)
    assert hash(rebuilt) == hash(serializer)
    assert pickle.loads(pickle.dumps(serializer)) == serializer
    assert repr(serializer).startswith(type(serializer).__name__ + "(")


def test_types_and_specs() -> None:
    assert PickleSerializer.type == "pickle"
    assert JSONSerializer.type == "json"
    assert CompressedSerializer.type == "compressed"
    assert CompressedPickleSerializer().to_spec() == {
        "type": "compressed/pickle",
        "serializer": {"type": "pickle", "picklelib": "cloudpickle"},
        "compressionlib": "lzma",
    }
    assert repr(PickleSerializer()) == "PickleSerializer(picklelib='cloudpickle')"


def test_equality_distinguishes_configuration() -> None:
    assert PickleSerializer() == PickleSerializer()
    assert PickleSerializer() != PickleSerializer(picklelib="pickle")
    assert CompressedPickleSerializer() != CompressedSerializer(serializer=PickleSerializer())
    assert PickleSerializer() != "pickle"
    assert len({PickleSerializer(), PickleSerializer(), JSONSerializer()}) == 2


def test_serializers_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PickleSerializer().picklelib = "pickle"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pickle", PickleSerializer()),
        ("json", JSONSerializer()),
        ("compressed/pickle", CompressedPickleSerializer()),
        ("compressed/json", CompressedJSONSerializer()),
    ],
)
def test_get_serializer_names(name: str, expected: Serializer) -> None:
    assert get_serializer(name) == expected


def test_compressed_serializer_accepts_a_name_at_runtime() -> None:
    serializer = CompressedSerializer(serializer="json")  # type: ignore[arg-type]
    assert serializer.serializer == JSONSerializer()


def test_get_serializer_passes_instances_and_specs() -> None:
    instance = CompressedSerializer(serializer=JSONSerializer(), compressionlib="gzip")
    assert get_serializer(instance) is instance
    assert get_serializer(instance.to_spec()) == instance


def test_get_serializer_unknown_name_lists_choices() -> None:
    with pytest.raises(ValueError) as info:
        get_serializer("yaml")
    message = str(info.value)
    for choice in ("'yaml'", "'pickle'", "'json'", "'compressed/pickle'", "'compressed/json'"):
        assert choice in message


def test_get_serializer_wrong_type() -> None:
    with pytest.raises(TypeError, match="int"):
        get_serializer(3)  # type: ignore[arg-type]


def test_from_spec_errors() -> None:
    with pytest.raises(ValueError, match="Unknown serializer type 'nope'"):
        Serializer.from_spec({"type": "nope"})
    with pytest.raises(ValueError, match="'type' key"):
        Serializer.from_spec({"picklelib": "pickle"})
    with pytest.raises(ValueError, match="Invalid spec for serializer 'pickle'"):
        Serializer.from_spec({"type": "pickle", "bogus": 1})


@dataclasses.dataclass(frozen=True, eq=False)
class ReversingSerializer(Serializer):
    """A custom serializer registered by subclassing."""

    type = "test-reversing"
    encoding: str = "utf-8"

    def dumps(self, obj: Any) -> bytes:
        return str(obj)[::-1].encode(self.encoding)

    def loads(self, blob: bytes) -> Any:
        return blob.decode(self.encoding)[::-1]


def test_custom_serializer_registers_and_round_trips_spec() -> None:
    custom = ReversingSerializer()
    assert custom.loads(custom.dumps("abc")) == "abc"
    assert Serializer.from_spec({"type": "test-reversing", "encoding": "utf-8"}) == custom
    wrapped = CompressedSerializer(serializer=custom)
    assert Serializer.from_spec(wrapped.to_spec()) == wrapped
