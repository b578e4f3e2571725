"""JSON text for stored records: datetimes as ISO strings, sets and tuples as lists.

One encoder for the process: ``json.dumps(..., default=...)`` builds a new encoder per
call, which is measurable on the per-task-run write path.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any


def json_default(value: Any) -> Any:
    """What ``json`` cannot encode by itself, as something it can."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


_ENCODER = json.JSONEncoder(default=json_default)
_COMPACT = json.JSONEncoder(default=json_default, separators=(",", ":"))


def dumps(value: Any) -> str:
    """JSON text for ``value``."""
    return _ENCODER.encode(value)


def compact_dumps(value: Any) -> str:
    """JSON text without spaces (request bodies)."""
    return _COMPACT.encode(value)
