"""Exceptions to HTTP responses: the one place the server maps errors to status codes.

=====================================  ======  =========================================
exception                              status  body
=====================================  ======  =========================================
request validation (body, query, path)  422    ``detail`` naming field, value, expected;
                                               ``errors``: one entry per problem
``ObjectNotFound``                      404    ``detail``
``ObjectAlreadyExists``, IntegrityError 409    ``detail``
``BatchTooLarge``                       413    ``detail``
``ValueError`` from the service layer   422    ``detail``
``StoreUnavailable``, OperationalError  503    generic ``detail``; ``Retry-After: 1``
anything else                           500    generic ``detail`` and an ``error_id``;
                                               the traceback goes to the server log only
=====================================  ======  =========================================
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound, StoreUnavailable
from tideflow.server.models.task_runs import BatchTooLarge

_log = logging.getLogger("tideflow.server")

_MAX_VALUE_CHARS = 120


def _field(loc: Sequence[Any]) -> str:
    """``body.task_runs.0.state_type`` -> ``task_runs[0].state_type``."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header"}:
        where = parts.pop(0)
        if not parts:
            return "request body" if where == "body" else where
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def describe_validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, Any]]]:
    """A one-line message and a structured list (field, value, expected) for 422s."""
    items: list[dict[str, Any]] = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            position = error.get("loc", (None, "?"))[-1]
            items.append(
                {
                    "field": "request body",
                    "expected": f"valid JSON ({reason} at character {position})",
                    "type": "json_invalid",
                }
            )
            continue
        item: dict[str, Any] = {
            "field": _field(error.get("loc", ())),
            "expected": error.get("msg", "a valid value"),
            "type": error.get("type"),
        }
        if error.get("type") != "missing" and "input" in error:
            item["value"] = _value(error["input"])
        items.append(item)
    shown = [
        f"{i['field']}: {i['expected']}" + (f" (got {i['value']})" if "value" in i else "")
        for i in items[:5]
    ]
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return "Invalid request: " + "; ".join(shown) + more, items


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, items = describe_validation_errors(exc.errors())
    return JSONResponse({"detail": message, "errors": items}, status_code=422)


async def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, IntegrityError):
        _log.warning("Integrity error: %s", exc.orig)
        return JSONResponse(
            {"detail": "The request conflicts with an existing record."}, status_code=409
        )
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _too_large(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=413)


async def _bad_value(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    _log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "The database is busy or unavailable; retry the request."},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if exc.connection_invalidated:
        return await _unavailable(request, exc)
    return await _internal(request, exc)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    error_id = uuid.uuid4().hex[:12]
    _log.error(
        "Unhandled error %s in %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    return JSONResponse(
        {"detail": "Internal server error; see the server log.", "error_id": error_id},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping above on ``app`` (most specific classes first)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ObjectNotFound, _not_found)
    app.add_exception_handler(ObjectAlreadyExists, _conflict)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(BatchTooLarge, _too_large)
    app.add_exception_handler(ValueError, _bad_value)
    app.add_exception_handler(StoreUnavailable, _unavailable)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal)
