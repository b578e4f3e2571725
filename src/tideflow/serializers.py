"""Serializers turn a result into bytes and back (mirrors ``prefect.serializers``).

Every serializer describes itself as a small JSON-able dict (``to_spec()``) and can be
rebuilt from it (``Serializer.from_spec``): a result written by one process records the
spec of the serializer that wrote it, so any other process can read it back.

Built-in serializers:

* ``PickleSerializer`` (``"pickle"``): cloudpickle by default, so lambdas and closures
  survive. Loading a pickle runs code: only load results you wrote yourself.
* ``JSONSerializer`` (``"json"``): portable, readable results. Beyond plain JSON it
  round-trips datetimes, dates, times, timedeltas, UUIDs, Decimals, paths, sets,
  frozensets, bytes, enums, dataclasses and pydantic models, encoded in a tagged form
  ``{"__class__": "<module.qualname>", "data": ...}``.
* ``CompressedSerializer`` (``"compressed"``): wraps another serializer with lzma, zlib,
  bz2 or gzip; ``CompressedPickleSerializer`` (``"compressed/pickle"``) and
  ``CompressedJSONSerializer`` (``"compressed/json"``) are ready-made pairs.

Example:
    >>> from tideflow.serializers import Serializer, get_serializer
    >>> s = get_serializer("compressed/json")
    >>> s.loads(s.dumps({"accuracy": 0.95}))
    {'accuracy': 0.95}
    >>> Serializer.from_spec(s.to_spec()) == s
    True
"""

from __future__ import annotations

import abc
import base64
import bz2
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import gzip
import importlib
import json
import lzma
import pathlib
import pickle
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import cloudpickle

from tideflow.exceptions import SerializationError

__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "SerializationError",
    "Serializer",
    "get_serializer",
    "tideflow_json_object_decoder",
    "tideflow_json_object_encoder",
]

_REGISTRY: dict[str, type[Serializer]] = {}


def _type_name(obj: object) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class Serializer(abc.ABC):
    """Base of all serializers.

    Subclasses set a unique class attribute ``type`` (which registers them for
    ``from_spec``), implement ``dumps``/``loads``, and are frozen dataclasses whose
    fields are JSON-able, so ``to_spec``/``from_spec`` work without extra code.
    Two serializers are equal when their specs are equal.
    """

    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        serializer_type = cls.__dict__.get("type")
        if isinstance(serializer_type, str):
            _REGISTRY[serializer_type] = cls

    @abc.abstractmethod
    def dumps(self, obj: Any) -> bytes:
        """Encode ``obj`` as bytes.

        Raises:
            SerializationError: ``obj`` cannot be encoded; the message names its type.
        """

    @abc.abstractmethod
    def loads(self, blob: bytes) -> Any:
        """Decode bytes written by ``dumps``.

        Raises:
            SerializationError: ``blob`` is not valid for this serializer.
        """

    def to_spec(self) -> dict[str, Any]:
        """Describe this serializer as a small JSON-able dict, e.g. ``{"type": "pickle"}``."""
        spec: dict[str, Any] = {"type": self.type}
        if dataclasses.is_dataclass(self):
            for f in dataclasses.fields(self):
                value = getattr(self, f.name)
                spec[f.name] = value.to_spec() if isinstance(value, Serializer) else value
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Serializer:
        """Rebuild a serializer from the dict returned by ``to_spec``.

        Args:
            spec: a mapping with a ``type`` key naming a registered serializer type.

        Raises:
            ValueError: the spec is malformed or names an unknown type.
        """
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise ValueError(f"A serializer spec must be a dict with a 'type' key, got {spec!r}")
        fields = dict(spec)
        serializer_type = fields.pop("type")
        target = _REGISTRY.get(serializer_type)
        if target is None:
            raise ValueError(
                f"Unknown serializer type {serializer_type!r}; known types: "
                f"{sorted(_REGISTRY)} (import the module defining a custom serializer first)"
            )
        try:
            return target._from_fields(fields)
        except TypeError as exc:
            raise ValueError(f"Invalid spec for serializer {serializer_type!r}: {exc}") from exc

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Serializer:
        return cls(**fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Serializer):
            return NotImplemented
        return type(self) is type(other) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_spec(), sort_keys=True, default=repr))


@dataclasses.dataclass(frozen=True, eq=False)
class PickleSerializer(Serializer):
    """Serialize with cloudpickle (default) or the standard library's pickle.

    Args:
        picklelib: ``"cloudpickle"`` (handles lambdas, closures and interactively
            defined classes) or ``"pickle"``.

    Example:
        >>> s = PickleSerializer()
        >>> s.loads(s.dumps(lambda x: x + 1))(1)
        2
    """

    type: ClassVar[str] = "pickle"
    picklelib: Literal["cloudpickle", "pickle"] = "cloudpickle"

    def __post_init__(self) -> None:
        if self.picklelib not in ("cloudpickle", "pickle"):
            raise ValueError(f"picklelib must be 'cloudpickle' or 'pickle', got {self.picklelib!r}")

    def dumps(self, obj: Any) -> bytes:
        """Pickle ``obj`` with the highest protocol."""
        dump = cloudpickle.dumps if self.picklelib == "cloudpickle" else pickle.dumps
        try:
            return dump(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"Could not serialize object of type {_type_name(obj)!r} with serializer "
                f"'pickle' ({self.picklelib}): {exc}"
            ) from exc

    def loads(self, blob: bytes) -> Any:
        """Unpickle ``blob``; only load data you trust."""
        try:
            return pickle.loads(blob)
        except Exception as exc:
            raise SerializationError(f"Could not deserialize pickled data: {exc!r}") from exc


_Encoder = Callable[[Any], Any]
_Decoder = Callable[[dict[str, Any]], Any]

_SIMPLE_TYPES: dict[str, Callable[[Any], Any]] = {
    "datetime.datetime": dt.datetime.fromisoformat,
    "datetime.date": dt.date.fromisoformat,
    "datetime.time": dt.time.fromisoformat,
    "datetime.timedelta": lambda data: dt.timedelta(*data),
    "uuid.UUID": uuid.UUID,
    "decimal.Decimal": decimal.Decimal,
    "pathlib.Path": pathlib.Path,
    "pathlib.PurePosixPath": pathlib.PurePosixPath,
    "pathlib.PureWindowsPath": pathlib.PureWindowsPath,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.bytes": lambda data: base64.b64decode(data),
    "builtins.complex": lambda data: complex(*data),
}


def _tag(name: str, data: Any) -> dict[str, Any]:
    return {"__class__": name, "data": data}


def tideflow_json_object_encoder(obj: Any) -> Any:
    """``default=`` hook for ``json.dumps`` used by ``JSONSerializer``.

    Returns a tagged ``{"__class__": ..., "data": ...}`` dict for the types listed in the
    module docstring.

    Raises:
        SerializationError: the type is not supported; the message names it.
    """
    # datetime before date: datetime is a subclass of date.
    if isinstance(obj, dt.datetime):
        return _tag("datetime.datetime", obj.isoformat())
    if isinstance(obj, dt.date):
        return _tag("datetime.date", obj.isoformat())
    if isinstance(obj, dt.time):
        return _tag("datetime.time", obj.isoformat())
    if isinstance(obj, dt.timedelta):
        return _tag("datetime.timedelta", [obj.days, obj.seconds, obj.microseconds])
    if isinstance(obj, uuid.UUID):
        return _tag("uuid.UUID", str(obj))
    if isinstance(obj, decimal.Decimal):
        return _tag("decimal.Decimal", str(obj))
    if isinstance(obj, pathlib.PurePath):
        # Concrete paths decode as pathlib.Path, which picks the reading platform's flavour.
        name = type(obj).__name__
        name = name if name in ("PurePosixPath", "PureWindowsPath") else "Path"
        return _tag(f"pathlib.{name}", str(obj))
    if isinstance(obj, set | frozenset):
        items = list(obj)
        with contextlib.suppress(TypeError):  # unorderable members keep iteration order
            items.sort()
        return _tag(f"builtins.{'set' if isinstance(obj, set) else 'frozenset'}", items)
    if isinstance(obj, bytes | bytearray):
        return _tag("builtins.bytes", base64.b64encode(bytes(obj)).decode("ascii"))
    if isinstance(obj, complex):
        return _tag("builtins.complex", [obj.real, obj.imag])
    cls = type(obj)
    name = f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(obj, enum.Enum):
        return _tag(name, obj.value)
    if callable(getattr(obj, "model_dump", None)) and hasattr(cls, "model_validate"):
        return _tag(name, obj.model_dump(mode="json"))
    if dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
        return _tag(name, fields)
    raise SerializationError(
        f"Object of type {_type_name(obj)!r} is not JSON serializable by JSONSerializer; "
        "use PickleSerializer (result_serializer='pickle') for arbitrary Python objects"
    )


def _import_qualified(name: str) -> Any:
    module_name, _, qualname = name.rpartition(".")
    # Nested classes: walk back until a module imports.
    parts = qualname.split(".")
    while module_name:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            parts.insert(0, head)
            continue
        for part in parts:
            target = getattr(target, part)
        return target
    raise ImportError(f"Cannot import {name!r}")


def tideflow_json_object_decoder(obj: dict[str, Any]) -> Any:
    """``object_hook=`` for ``json.loads`` reversing ``tideflow_json_object_encoder``.

    Dicts that are not exactly ``{"__class__": str, "data": ...}`` are returned as-is.
    Classes named in a tag are imported only when they are enums, dataclasses or pydantic
    models; anything else raises ``SerializationError``.
    """
    if len(obj) != 2 or "__class__" not in obj or "data" not in obj:
        return obj
    name, data = obj["__class__"], obj["data"]
    if not isinstance(name, str):
        return obj
    simple = _SIMPLE_TYPES.get(name)
    if simple is not None:
        return simple(data)
    try:
        cls = _import_qualified(name)
    except (ImportError, AttributeError) as exc:
        raise SerializationError(f"Cannot decode JSON value of type {name!r}: {exc}") from exc
    if isinstance(cls, type):
        if issubclass(cls, enum.Enum):
            return cls(data)
        if hasattr(cls, "model_validate"):
            return cls.model_validate(data)
        if dataclasses.is_dataclass(cls):
            return cls(**data)
    raise SerializationError(f"Refusing to decode JSON value of unsupported type {name!r}")


@functools.cache
def _resolve_hook(path: str | None) -> Any:
    # Resolved on first use, not at construction: the hook may live in a module that
    # imports this one, and a spec read from disk must not import anything until needed.
    return None if path is None else _import_qualified(path)


@dataclasses.dataclass(frozen=True, eq=False)
class JSONSerializer(Serializer):
    """Serialize to UTF-8 JSON, with tagged support for common non-JSON types.

    Args:
        jsonlib: the JSON library; only ``"json"`` (the standard library) is supported.
        object_encoder: import path of the ``default=`` hook for ``json.dumps``.
        object_decoder: import path of the ``object_hook=`` for ``json.loads``.
        dumps_kwargs: extra JSON-able keyword arguments for ``json.dumps``
            (e.g. ``{"indent": 2, "sort_keys": True}``).
        loads_kwargs: extra JSON-able keyword arguments for ``json.loads``.

    Example:
        >>> import datetime
        >>> s = JSONSerializer()
        >>> s.loads(s.dumps({"at": datetime.date(2024, 1, 2)}))
        {'at': datetime.date(2024, 1, 2)}
    """

    type: ClassVar[str] = "json"
    jsonlib: Literal["json"] = "json"
    object_encoder: str | None = "tideflow.serializers.tideflow_json_object_encoder"
    object_decoder: str | None = "tideflow.serializers.tideflow_json_object_decoder"
    dumps_kwargs: dict[str, Any] | None = None
    loads_kwargs: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.jsonlib != "json":
            raise ValueError(f"jsonlib must be 'json', got {self.jsonlib!r}")
        for name in ("dumps_kwargs", "loads_kwargs"):
            kwargs = getattr(self, name)
            if kwargs is not None and ("default" in kwargs or "object_hook" in kwargs):
                raise ValueError(f"Set the hook with object_encoder/object_decoder, not {name}")

    def dumps(self, obj: Any) -> bytes:
        """Encode ``obj`` as UTF-8 JSON."""
        encoder: _Encoder | None = _resolve_hook(self.object_encoder)
        try:
            text = json.dumps(obj, default=encoder, **(self.dumps_kwargs or {}))
        except SerializationError:
            raise
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"Could not serialize object of type {_type_name(obj)!r} with serializer "
                f"'json': {exc}"
            ) from exc
        return text.encode("utf-8")

    def loads(self, blob: bytes) -> Any:
        """Decode UTF-8 JSON written by ``dumps``."""
        decoder: _Decoder | None = _resolve_hook(self.object_decoder)
        try:
            return json.loads(blob, object_hook=decoder, **(self.loads_kwargs or {}))
        except SerializationError:
            raise
        except (ValueError, TypeError) as exc:
            raise SerializationError(f"Could not deserialize JSON data: {exc}") from exc


_COMPRESSORS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "lzma": (lzma.compress, lzma.decompress),
    "zlib": (zlib.compress, zlib.decompress),
    "bz2": (bz2.compress, bz2.decompress),
    "gzip": (gzip.compress, gzip.decompress),
}


@dataclasses.dataclass(frozen=True, eq=False)
class CompressedSerializer(Serializer):
    """Wrap another serializer and compress its output.

    Args:
        serializer: the inner serializer (an instance or a ``get_serializer`` name).
        compressionlib: ``"lzma"`` (default), ``"zlib"``, ``"bz2"`` or ``"gzip"``.

    Example:
        >>> s = CompressedSerializer(serializer=PickleSerializer(), compressionlib="zlib")
        >>> s.loads(s.dumps([1, 2, 3]))
        [1, 2, 3]
    """

    type: ClassVar[str] = "compressed"
    serializer: Serializer
    compressionlib: Literal["lzma", "zlib", "bz2", "gzip"] = "lzma"

    def __post_init__(self) -> None:
        if not isinstance(self.serializer, Serializer):
            object.__setattr__(self, "serializer", get_serializer(self.serializer))
        if self.compressionlib not in _COMPRESSORS:
            raise ValueError(
                f"compressionlib must be one of {sorted(_COMPRESSORS)}, got {self.compressionlib!r}"
            )

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> Serializer:
        inner = fields.get("serializer")
        if isinstance(inner, Mapping):
            fields = {**fields, "serializer": Serializer.from_spec(inner)}
        return cls(**fields)

    def dumps(self, obj: Any) -> bytes:
        """Serialize with the inner serializer, then compress."""
        return _COMPRESSORS[self.compressionlib][0](self.serializer.dumps(obj))

    def loads(self, blob: bytes) -> Any:
        """Decompress, then deserialize with the inner serializer."""
        try:
            raw = _COMPRESSORS[self.compressionlib][1](blob)
        except Exception as exc:
            raise SerializationError(
                f"Could not decompress data with {self.compressionlib}: {exc}"
            ) from exc
        return self.serializer.loads(raw)


@dataclasses.dataclass(frozen=True, eq=False)
class CompressedPickleSerializer(CompressedSerializer):
    """``CompressedSerializer`` around a ``PickleSerializer`` (type ``"compressed/pickle"``)."""

    type: ClassVar[str] = "compressed/pickle"
    serializer: Serializer = dataclasses.field(default_factory=PickleSerializer)


@dataclasses.dataclass(frozen=True, eq=False)
class CompressedJSONSerializer(CompressedSerializer):
    """``CompressedSerializer`` around a ``JSONSerializer`` (type ``"compressed/json"``)."""

    type: ClassVar[str] = "compressed/json"
    serializer: Serializer = dataclasses.field(default_factory=JSONSerializer)


_BY_NAME: dict[str, Callable[[], Serializer]] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
    "compressed/pickle": CompressedPickleSerializer,
    "compressed/json": CompressedJSONSerializer,
}


def get_serializer(spec: str | Serializer | Mapping[str, Any]) -> Serializer:
    """Resolve a serializer name, spec dict or instance to a ``Serializer``.

    Args:
        spec: ``"pickle"``, ``"json"``, ``"compressed/pickle"``, ``"compressed/json"``,
            a dict from ``Serializer.to_spec()``, or a ``Serializer`` (returned as is).

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
        TypeError: ``spec`` is of another type.

    Example:
        >>> get_serializer("json")
        JSONSerializer(jsonlib='json', object_encoder='tideflow.serializers.tideflow_json_object_encoder', object_decoder='tideflow.serializers.tideflow_json_object_decoder', dumps_kwargs=None, loads_kwargs=None)
    """  # noqa: E501
    if isinstance(spec, Serializer):
        return spec
    if isinstance(spec, str):
        factory = _BY_NAME.get(spec)
        if factory is None:
            raise ValueError(
                f"Unknown serializer {spec!r}; valid choices: {', '.join(map(repr, _BY_NAME))} "
                "or a Serializer instance"
            )
        return factory()
    if isinstance(spec, Mapping):
        return Serializer.from_spec(spec)
    raise TypeError(f"Expected a serializer name or Serializer instance, got {type(spec).__name__}")
