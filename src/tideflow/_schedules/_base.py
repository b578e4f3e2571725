"""What the three schedule models share: errors, time zones and the ``get_dates`` window."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tideflow.exceptions import TideflowError

UTC = dt.UTC
UTC_ZONE = ZoneInfo("UTC")

MAX_DATES = 10_000
"""The most dates one ``get_dates`` call returns (and the largest ``n`` it accepts)."""

SEARCH_YEARS = 50
"""How far past ``start`` a schedule looks for its next date before it gives up."""

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


class ScheduleError(TideflowError, ValueError):
    """A schedule, or a ``get_dates`` call, was given a value it cannot use.

    Raised inside pydantic validators it surfaces as a ``pydantic.ValidationError``
    (also a ``ValueError``) whose message carries this one's text.
    """


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    """The IANA zone called ``name``; ``None`` means UTC.

    Raises:
        ScheduleError: ``name`` is not a time zone this system knows.
    """
    if name is None:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(
            f"unknown timezone {name!r}: expected an IANA time zone name "
            "such as 'America/New_York', 'Europe/London' or 'UTC'"
        ) from exc


def same_zone(a: str, b: str) -> bool:
    """Whether two zone names mean the same zone (``UTC`` and ``Etc/UTC`` do)."""
    return a == b or (a in _UTC_NAMES and b in _UTC_NAMES)


def coerce_timezone(value: Any) -> str | None:
    """Validate a ``timezone=`` argument: an IANA name, a ``ZoneInfo``, UTC or ``None``."""
    if value is None:
        return None
    if isinstance(value, ZoneInfo):
        value = value.key
    elif value is UTC:
        value = "UTC"
    if not isinstance(value, str):
        raise ScheduleError(
            f"timezone must be an IANA time zone name such as 'America/New_York', got {value!r}"
        )
    zone(value)
    return value


def with_positional(
    cls_name: str, names: tuple[str, ...], args: tuple[Any, ...], data: dict[str, Any]
) -> dict[str, Any]:
    """Fold positional constructor arguments into pydantic's keyword data."""
    if len(args) > len(names):
        raise TypeError(
            f"{cls_name}() takes at most {len(names)} positional argument(s) "
            f"({', '.join(names)}); pass the others by keyword"
        )
    for name, value in zip(names, args, strict=False):
        if name in data:
            raise TypeError(f"{cls_name}() got multiple values for argument {name!r}")
        data[name] = value
    return data


def require_aware(name: str, value: dt.datetime) -> dt.datetime:
    """``value`` converted to UTC; a naive datetime is refused rather than guessed at."""
    if not isinstance(value, dt.datetime):
        raise ScheduleError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ScheduleError(
            f"{name} must be timezone-aware, got the naive datetime {value.isoformat()}; "
            "attach a zone, e.g. datetime(2024, 1, 1, tzinfo=ZoneInfo('UTC'))"
        )
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A validated ``get_dates(n, start, end)`` request; ``start``/``end`` are in UTC."""

    limit: int
    start: dt.datetime
    end: dt.datetime | None


def window(
    n: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    now: dt.datetime | None = None,
) -> Window:
    """Check ``get_dates``' arguments and fill in the defaults.

    ``n`` defaults to 1 without ``end``, and to :data:`MAX_DATES` with it; ``start``
    defaults to ``now`` (the current time when ``now`` is None).
    """
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise ScheduleError(f"n must be an int or None, got {n!r}")
        if n < 0 or n > MAX_DATES:
            raise ScheduleError(f"n must be between 0 and {MAX_DATES}, got {n}")
    if start is None:
        start = now if now is not None else dt.datetime.now(UTC)
    start_utc = require_aware("start", start)
    end_utc = None if end is None else require_aware("end", end)
    limit = n if n is not None else (1 if end_utc is None else MAX_DATES)
    return Window(limit=limit, start=start_utc, end=end_utc)


def collect(instants: Iterable[dt.datetime], win: Window, tz: ZoneInfo) -> list[dt.datetime]:
    """Pick the instants inside ``win`` (ascending UTC input) and express them in ``tz``."""
    out: list[dt.datetime] = []
    if win.limit == 0:
        return out
    for instant in instants:
        if instant < win.start:
            continue
        if win.end is not None and instant > win.end:
            break
        out.append(instant.astimezone(tz))
        if len(out) >= win.limit:
            break
    return out


def ceil_second(value: dt.datetime) -> dt.datetime:
    """``value`` rounded up to a whole second (RFC 5545 times have no fractions)."""
    if value.microsecond:
        return value.replace(microsecond=0) + dt.timedelta(seconds=1)
    return value
