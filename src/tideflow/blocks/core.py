"""``Block``: named configuration saved in the tideflow store and loaded back by name.

A block type is a pydantic model deriving from ``Block``. Its *type slug* defaults to the
class name in kebab case (``SlackWebhook`` -> ``slack-webhook``, ``S3Bucket`` ->
``s3-bucket``); every block type is registered under its slug, so a saved document can be
turned back into the right class (``Block.load("slack-webhook/ml-alerts")``).

Secrets: fields typed ``pydantic.SecretStr`` or ``SecretBytes`` (also inside a nested
block, or in a dict/list such as ``dict[str, SecretStr]``) are sent to the store marked
as secret. The store encrypts them at rest and masks them (``**********``) in listings;
only ``Block.load`` asks for them in clear. ``repr`` and ``str`` of a block mask them too.

Example:
    >>> from pydantic import SecretStr
    >>> class ApiSettings(Block):
    ...     base_url: str
    ...     token: SecretStr
    >>> ApiSettings.get_block_type_slug()
    'api-settings'
    >>> ApiSettings(base_url="https://example.com", token="s3cr3t")
    ApiSettings(base_url='https://example.com', token=SecretStr('**********'))
"""

from __future__ import annotations

import base64
import importlib
import re
import typing
from typing import Any, ClassVar, Self, cast

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SecretBytes,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from tideflow.client import OrchestrationClient, get_client
from tideflow.exceptions import ObjectNotFound

#: what a masked secret looks like in listings and inspections
SECRET_MASK = "**********"

#: modules defining tideflow's own block types, imported when an unknown slug is loaded
BUILTIN_BLOCK_MODULES = (
    "tideflow.blocks.system",
    "tideflow.filesystems",
    "tideflow.notifications",
)

_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?$")
_CASE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_STORED = "tideflow_stored"

_registry: dict[str, type[Block]] = {}


def kebab_case(name: str) -> str:
    """``SlackWebhook`` -> ``slack-webhook``; ``S3Bucket`` -> ``s3-bucket``; ``GCS`` -> ``gcs``."""
    return _CASE_BOUNDARY.sub("-", name.strip("_")).replace("_", "-").lower()


def validate_block_name(name: object) -> str:
    """Check a block document name: lowercase letters, digits and dashes.

    Raises:
        ValueError: naming the value and what was expected.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"Invalid block name {name!r}: use lowercase letters, digits and dashes, "
            "starting and ending with a letter or digit (at most 255 characters), "
            "e.g. 'ml-alerts'"
        )
    return name


class Block(BaseModel):
    """Base class of block types: configuration that can be saved and loaded by name.

    Subclasses declare pydantic fields. Class attributes:

    * ``_block_type_slug``: the type's identity in the store (default: the class name in
      kebab case);
    * ``_block_abstract = True`` keeps a base class out of the registry.

    Instance attributes set by ``save`` and ``load``: ``_block_document_name`` and
    ``_block_document_id``.
    """

    model_config = ConfigDict(extra="forbid")

    _block_type_slug: ClassVar[str] = "block"
    _block_abstract: ClassVar[bool] = True
    _block_document_name: str | None = PrivateAttr(default=None)
    _block_document_id: str | None = PrivateAttr(default=None)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "_block_type_slug" not in cls.__dict__:
            cls._block_type_slug = kebab_case(cls.__name__)
        if not _NAME_RE.match(cls._block_type_slug):
            raise TypeError(
                f"Block type slug {cls._block_type_slug!r} of {cls.__qualname__} must be "
                "lowercase letters, digits and dashes"
            )
        if not cls.__dict__.get("_block_abstract", False):
            _registry[cls._block_type_slug] = cls

    # identity ---------------------------------------------------------------------

    @classmethod
    def get_block_type_slug(cls) -> str:
        """This type's slug, e.g. ``slack-webhook``."""
        return cls._block_type_slug

    @classmethod
    def get_secret_field_paths(cls) -> list[str]:
        """Dotted paths of the fields declared secret (nested blocks included)."""
        paths: list[str] = []
        for name, field in cls.model_fields.items():
            nested = [a for a in _flat_args(field.annotation) if _is_block_type(a)]
            if nested:
                for block_cls in nested:
                    paths += [f"{name}.{p}" for p in block_cls.get_secret_field_paths()]
            elif any(a in (SecretStr, SecretBytes) for a in _flat_args(field.annotation)):
                paths.append(name)
        return sorted(set(paths))

    @property
    def block_document_name(self) -> str | None:
        """The name this block was saved or loaded under (``None`` if never saved)."""
        return self._block_document_name

    # store ------------------------------------------------------------------------

    def save(
        self, name: str, overwrite: bool = False, *, client: OrchestrationClient | None = None
    ) -> str:
        """Save this block as ``name``; returns the document id.

        Raises:
            ValueError: ``name`` is not lowercase letters, digits and dashes.
            ObjectAlreadyExists: ``name`` is taken and ``overwrite`` is false.
        """
        validate_block_name(name)
        if type(self).__dict__.get("_block_abstract", False):
            raise TypeError(f"{type(self).__name__} is an abstract block type; save a subclass")
        doc = (client or get_client()).save_block_document(
            self._block_type_slug, name, self.to_document_data(), overwrite
        )
        self._block_document_name = name
        self._block_document_id = str(doc["id"])
        return self._block_document_id

    @classmethod
    def load(cls, name: str, *, client: OrchestrationClient | None = None) -> Self:
        """Load the block saved as ``name`` (or ``"type-slug/name"``), secrets in clear.

        Raises:
            ObjectNotFound: nothing is saved under that type and name.
            ValueError: the name or slug is invalid, or the slug's type is not a ``cls``.
        """
        target, slug, doc_name = _resolve(cls, name)
        try:
            doc = (client or get_client()).read_block_document(slug, doc_name, include_secrets=True)
        except ObjectNotFound:
            raise ObjectNotFound(
                f"No {target.__name__} block named {doc_name!r} (block document "
                f"{slug}/{doc_name} not found)"
            ) from None
        return cast(Self, target.from_document(doc))

    @classmethod
    def delete(cls, name: str, *, client: OrchestrationClient | None = None) -> None:
        """Delete the block saved as ``name`` (or ``"type-slug/name"``).

        Raises:
            ObjectNotFound: nothing is saved under that type and name.
        """
        _, slug, doc_name = _resolve(cls, name)
        (client or get_client()).delete_block_document(slug, doc_name)

    # documents ----------------------------------------------------------------------

    def to_document_data(self) -> dict[str, Any]:
        """``{"fields": ..., "secret_fields": [...]}`` with secret values in clear."""
        fields: dict[str, Any] = {}
        secret_fields: list[str] = []
        _dump_block(self, "", fields, secret_fields)
        return {"fields": fields, "secret_fields": secret_fields}

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Self:
        """Build the block from a document returned by the store."""
        fields = dict(doc.get("data", {}).get("fields", {}))
        # Tolerate fields removed from the class since the document was saved.
        fields = {k: v for k, v in fields.items() if k in cls.model_fields}
        block = cls.model_validate(fields, context={_STORED: True})
        block._block_document_name = doc.get("name")
        block._block_document_id = str(doc["id"]) if doc.get("id") is not None else None
        return block

    @model_validator(mode="before")
    @classmethod
    def _decode_stored_bytes(cls, data: Any, info: ValidationInfo) -> Any:
        # Stored documents carry SecretBytes as base64 (JSON has no bytes).
        if not (isinstance(info.context, dict) and info.context.get(_STORED)):
            return data
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            if _is_bytes_secret(field.annotation) and isinstance(out.get(name), str):
                out[name] = base64.b64decode(out[name])
        return out


def _flat_args(annotation: Any) -> list[Any]:
    """``annotation`` and, recursively, its type arguments (``dict[str, SecretStr]``...)."""
    out = [annotation]
    for arg in typing.get_args(annotation):
        out += _flat_args(arg)
    return out


def _is_block_type(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Block)


def _is_bytes_secret(annotation: Any) -> bool:
    if annotation is SecretBytes:
        return True
    return any(arg is SecretBytes for arg in typing.get_args(annotation))


def _contains_secret(value: Any) -> bool:
    if isinstance(value, SecretStr | SecretBytes):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains_secret(v) for v in value)
    if isinstance(value, BaseModel):
        return any(_contains_secret(getattr(value, f)) for f in type(value).model_fields)
    return False


def _dump_block(block: Block, prefix: str, out: dict[str, Any], secrets: list[str]) -> None:
    for name in type(block).model_fields:
        value = getattr(block, name)
        path = f"{prefix}{name}"
        if isinstance(value, Block):
            nested: dict[str, Any] = {}
            _dump_block(value, f"{path}.", nested, secrets)
            out[name] = nested
            continue
        if _contains_secret(value):
            secrets.append(path)
        out[name] = _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return base64.b64encode(value.get_secret_value()).decode("ascii")
    if isinstance(value, Block):
        return value.to_document_data()["fields"]
    if isinstance(value, BaseModel):
        return {f: _jsonable(getattr(value, f)) for f in type(value).model_fields}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return pydantic_core.to_jsonable_python(value)


def _resolve(cls: type[Block], name: str) -> tuple[type[Block], str, str]:
    """(class, slug, document name) for ``cls.load(name)``."""
    if not isinstance(name, str):
        raise TypeError(f"A block name must be a string, got {type(name).__name__}")
    if "/" in name:
        slug, _, doc_name = name.partition("/")
        target = get_block_class(slug)
        if not issubclass(target, cls):
            raise ValueError(
                f"Block type {slug!r} is {target.__name__}, not a {cls.__name__}; "
                f"cannot load {name!r} through {cls.__name__}"
            )
    else:
        if cls.__dict__.get("_block_abstract", False):
            raise ValueError(
                f"{cls.__name__} is a base class: load {name!r} as 'type-slug/{name}' or "
                "through its own block class"
            )
        target, slug, doc_name = cls, cls._block_type_slug, name
    validate_block_name(doc_name)
    return target, slug, doc_name


def get_block_class(slug: str) -> type[Block]:
    """The registered block type for ``slug`` (tideflow's own types are always known).

    Raises:
        ValueError: no block type is registered under ``slug``.
    """
    cls = _registry.get(slug)
    if cls is None:
        for module in BUILTIN_BLOCK_MODULES:
            importlib.import_module(module)
        cls = _registry.get(slug)
    if cls is None:
        raise ValueError(
            f"Unknown block type {slug!r}: import the module that defines it first "
            f"(known types: {', '.join(sorted(_registry))})"
        )
    return cls


def block_types() -> dict[str, type[Block]]:
    """Every registered block type by slug, tideflow's own included."""
    for module in BUILTIN_BLOCK_MODULES:
        importlib.import_module(module)
    return dict(sorted(_registry.items()))


def load_block(slug: str, name: str) -> Block:
    """Load the document ``slug/name`` as its registered block type."""
    return Block.load(f"{slug}/{name}")


__all__ = [
    "SECRET_MASK",
    "Block",
    "block_types",
    "get_block_class",
    "kebab_case",
    "load_block",
    "validate_block_name",
]
