"""Block documents: saved, named configuration, with secret fields encrypted at rest.

A document's ``data`` is ``{"fields": {...}, "secret_fields": ["url", "credentials.key"]}``:
``fields`` is the block's JSON-safe field values and ``secret_fields`` lists dotted paths
into ``fields`` whose values are secret. Before a row is written each secret value is
replaced by a Fernet token (see ``_encryption``); reads return secrets masked as
``**********`` unless the caller asks for ``include_secrets=True`` (what ``Block.load``
does). Lists of documents are always masked.

Documents are returned as plain dicts (``id``, ``name``, ``block_type_slug``, ``data``,
``created``, ``updated`` as ISO 8601 strings), identical on both doors.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound
from tideflow.server.database import tables as t
from tideflow.server.models import _encryption
from tideflow.states import now_utc

_DOC = cast(Table, t.BlockDocument.__table__)

#: what a masked secret looks like in listings and inspections
SECRET_MASK = "**********"

_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?$")
_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


def validate_block_name(name: object, *, what: str = "block name") -> str:
    """Check a document name or type slug: lowercase letters, digits and dashes.

    Raises:
        ValueError: naming the value and what was expected.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"Invalid {what} {name!r}: use lowercase letters, digits and dashes, starting "
            "and ending with a letter or digit (at most 255 characters), e.g. 'ml-alerts'"
        )
    return name


def _validate_data(data: object) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(data, dict):
        raise ValueError(f"Block document data must be an object, got {type(data).__name__}")
    unknown = set(data) - {"fields", "secret_fields"}
    if unknown:
        raise ValueError(
            f"Unknown keys in block document data: {sorted(unknown)}; "
            "expected 'fields' and 'secret_fields'"
        )
    fields = data.get("fields", {})
    secret_fields = data.get("secret_fields", [])
    if not isinstance(fields, dict):
        # The type only: the value may be a secret sent in the wrong shape.
        raise ValueError(f"Block document 'fields' must be an object, got {type(fields).__name__}")
    if not isinstance(secret_fields, list) or not all(
        isinstance(p, str) and _PATH_RE.match(p) for p in secret_fields
    ):
        raise ValueError(
            f"Block document 'secret_fields' must be a list of dotted field paths, "
            f"got {secret_fields!r:.200}"
        )
    for path in secret_fields:
        _locate(fields, path)  # raises for a path that is not in ``fields``
    return fields, sorted(set(secret_fields))


def _locate(fields: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The dict holding the value at dotted ``path`` and the value's key."""
    parts = path.split(".")
    holder: Any = fields
    for part in parts[:-1]:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or parts[-1] not in holder:
        raise ValueError(f"Secret field {path!r} is not among the block's fields")
    return holder, parts[-1]


def _transform_secrets(
    fields: dict[str, Any], secret_fields: list[str], fn: Callable[[str, Any], Any]
) -> dict[str, Any]:
    out = copy.deepcopy(fields)
    for path in secret_fields:
        try:
            holder, key = _locate(out, path)
        except ValueError:
            continue  # an optional nested block that is unset
        if holder[key] is not None:
            holder[key] = fn(path, holder[key])
    return out


def _encrypt_fields(fields: dict[str, Any], secret_fields: list[str]) -> dict[str, Any]:
    return _transform_secrets(
        fields,
        secret_fields,
        lambda _path, value: _encryption.encrypt(json.dumps(value).encode("utf-8")),
    )


def _row_to_doc(row: Any, *, include_secrets: bool) -> dict[str, Any]:
    stored = row["data"] or {}
    fields = stored.get("fields", {})
    secret_fields = list(stored.get("secret_fields", []))
    label = f"{row['block_type_slug']}/{row['name']}"
    if include_secrets:

        def reveal(path: str, token: Any) -> Any:
            what = f"secret field {path!r} of block {label!r}"
            if not isinstance(token, str):
                raise _encryption.DecryptionError(f"Cannot decrypt {what}: it is not a token")
            return json.loads(_encryption.decrypt(token, what=what))

        fields = _transform_secrets(fields, secret_fields, reveal)
    else:
        fields = _transform_secrets(fields, secret_fields, lambda _p, _v: SECRET_MASK)
    return {
        "id": row["id"],
        "name": row["name"],
        "block_type_slug": row["block_type_slug"],
        "data": {"fields": fields, "secret_fields": secret_fields},
        "created": row["created"].isoformat(),
        "updated": row["updated"].isoformat(),
    }


def _select_one(slug: str, name: str) -> Any:
    return select(_DOC).where(_DOC.c.block_type_slug == slug, _DOC.c.name == name)


def save_block_document(
    conn: Connection,
    slug: str,
    name: str,
    data: dict[str, Any],
    *,
    overwrite: bool = False,
    document_id: str | None = None,
) -> dict[str, Any]:
    """Create (or with ``overwrite`` replace) the document ``slug/name``.

    Returns the saved document with secrets masked. ``document_id``, chosen by the
    client, makes a retried save idempotent: when the existing document has that id it
    was this very save, whose response was lost, and it succeeds again.

    Raises:
        ValueError: an invalid slug, name or data shape.
        ObjectAlreadyExists: the name is taken and ``overwrite`` is false.
    """
    validate_block_name(slug, what="block type slug")
    validate_block_name(name)
    fields, secret_fields = _validate_data(data)
    stored = {"fields": _encrypt_fields(fields, secret_fields), "secret_fields": secret_fields}
    now = now_utc()
    existing = conn.execute(_select_one(slug, name).with_only_columns(_DOC.c.id)).scalar()
    if existing is not None:
        if not overwrite and existing != document_id:
            raise _already_exists(slug, name)
        conn.execute(update(_DOC).where(_DOC.c.id == existing).values(data=stored, updated=now))
    else:
        values = {
            "id": _checked_id(document_id) if document_id else str(uuid.uuid4()),
            "name": name,
            "block_type_slug": slug,
            "data": stored,
            "created": now,
            "updated": now,
        }
        try:
            with conn.begin_nested():
                conn.execute(_DOC.insert(), values)
        except IntegrityError:
            # Another writer saved the same name between our check and insert.
            raise _already_exists(slug, name) from None
    return read_block_document(conn, slug, name)


def _checked_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"Invalid block document id {value!r}: expected a UUID") from None


def _already_exists(slug: str, name: str) -> ObjectAlreadyExists:
    return ObjectAlreadyExists(
        f"Block document {slug}/{name} already exists; pass overwrite=True to replace it"
    )


def read_block_document(
    conn: Connection, slug: str, name: str, *, include_secrets: bool = False
) -> dict[str, Any]:
    """The document ``slug/name``; secrets masked unless ``include_secrets``.

    Raises:
        ObjectNotFound: no such document.
    """
    row = conn.execute(_select_one(slug, name)).mappings().first()
    if row is None:
        raise ObjectNotFound(f"Block document {slug}/{name} not found")
    return _row_to_doc(row, include_secrets=include_secrets)


def read_block_documents(conn: Connection, slug: str | None = None) -> list[dict[str, Any]]:
    """Every document (of type ``slug`` if given), secrets masked, by type then name."""
    stmt = select(_DOC).order_by(_DOC.c.block_type_slug, _DOC.c.name)
    if slug is not None:
        stmt = stmt.where(_DOC.c.block_type_slug == slug)
    return [_row_to_doc(row, include_secrets=False) for row in conn.execute(stmt).mappings()]


def delete_block_document(conn: Connection, slug: str, name: str) -> None:
    """Delete the document ``slug/name``.

    Raises:
        ObjectNotFound: no such document.
    """
    result = conn.execute(delete(_DOC).where(_DOC.c.block_type_slug == slug, _DOC.c.name == name))
    if not result.rowcount:
        raise ObjectNotFound(f"Block document {slug}/{name} not found")


__all__ = [
    "SECRET_MASK",
    "delete_block_document",
    "read_block_document",
    "read_block_documents",
    "save_block_document",
    "validate_block_name",
]
