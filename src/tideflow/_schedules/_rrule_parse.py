"""Reading RFC 5545 recurrence text into plain data.

dateutil does the calendar math of each RRULE; this module reads the lines around it
(DTSTART, RDATE, EXDATE, time zones) itself, so every date ends up as a *naive wall
time in one zone* and dateutil never compares naive with aware datetimes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from dateutil.rrule import rrule, rrulestr

from tideflow._schedules._base import ScheduleError, same_zone, zone

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_DATE_ONLY = re.compile(r"^\d{8}$")
_END_OF_DAY = dt.time(23, 59, 59)
_PROBE_START = dt.datetime(2020, 1, 1)
_EMPTY_SET = "generates an empty set"
# name: (low, high, whether -high..-1 is allowed too), as RFC 5545 section 3.3.10 says
_RANGES = {
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
}


@dataclass(frozen=True)
class RuleSpec:
    """One RRULE line. ``text`` has COUNT and UNTIL taken out; they are applied apart."""

    text: str
    freq: str
    interval: int
    count: int | None
    until: dt.datetime | None  # naive wall time in the schedule's zone


@dataclass(frozen=True)
class ParsedRRule:
    """A recurrence set: every datetime is a naive wall time in ``zone_name``."""

    zone_name: str | None
    dtstart: dt.datetime | None
    rules: tuple[RuleSpec, ...]
    rdates: tuple[dt.datetime, ...]
    exdates: frozenset[dt.datetime]
    exdays: frozenset[dt.date]


@dataclass
class _Line:
    name: str
    params: dict[str, str]
    value: str


def _lines(text: str) -> list[_Line]:
    """Unfold (RFC 5545 section 3.1) and split ``NAME;PARAM=X:VALUE`` lines."""
    raw: list[str] = []
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and raw:
            raw[-1] += line[1:]
        elif line.strip():
            raw.append(line.strip())
    lines = []
    for line in raw:
        head, sep, value = line.partition(":")
        if not sep:  # a bare "FREQ=DAILY;..." is an RRULE
            lines.append(_Line("RRULE", {}, line))
            continue
        name, *params = head.split(";")
        parsed: dict[str, str] = {}
        for param in params:
            key, eq, val = param.partition("=")
            if not eq:
                raise ScheduleError(f"malformed parameter {param!r} in line {line!r}")
            parsed[key.strip().upper()] = val.strip()
        lines.append(_Line(name.strip().upper(), parsed, value.strip()))
    return lines


def _parse_datetime(value: str, line: _Line) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError(
            f"invalid date {value!r} in {line.name}: expected YYYYMMDD, YYYYMMDDTHHMMSS "
            "or YYYYMMDDTHHMMSSZ"
        ) from None
    if parsed.tzinfo is not None and parsed.utcoffset() != dt.timedelta(0):
        raise ScheduleError(
            f"invalid date {value!r} in {line.name}: use a UTC time ending in Z or a TZID= "
            "parameter, not a numeric offset"
        )
    if parsed.microsecond:
        raise ScheduleError(f"invalid date {value!r} in {line.name}: fractions of a second")
    return parsed


def _zone_of(line: _Line, value: dt.datetime) -> str | None:
    """The zone a DTSTART/RDATE/EXDATE value is written in, or None when floating."""
    tzid = line.params.get("TZID")
    if tzid is not None:
        if value.tzinfo is not None:
            raise ScheduleError(f"{line.name} has both TZID={tzid} and a UTC time")
        zone(tzid)
        return tzid
    return "UTC" if value.tzinfo is not None else None


def _to_wall(value: dt.datetime, written_in: str | None, zone_name: str | None) -> dt.datetime:
    """``value`` as a naive wall time in ``zone_name`` (keeping ``fold`` in a fold)."""
    if written_in is None or same_zone(written_in, zone_name or "UTC"):
        return value.replace(tzinfo=None)
    aware = value.replace(tzinfo=zone(written_in))
    return aware.astimezone(zone(zone_name)).replace(tzinfo=None)


def _dates(line: _Line, zone_name: str | None) -> list[tuple[dt.datetime, bool]]:
    """The values of an RDATE/EXDATE line: (wall time, whether it was a bare date)."""
    kind = line.params.get("VALUE", "DATE-TIME").upper()
    if kind not in ("DATE", "DATE-TIME"):
        raise ScheduleError(f"{line.name};VALUE={kind} is not supported (use DATE or DATE-TIME)")
    extra = set(line.params) - {"VALUE", "TZID"}
    if extra:
        raise ScheduleError(f"unsupported {line.name} parameter(s): {sorted(extra)}")
    out = []
    for item in line.value.split(","):
        item = item.strip()
        value = _parse_datetime(item, line)
        out.append(
            (_to_wall(value, _zone_of(line, value), zone_name), bool(_DATE_ONLY.match(item)))
        )
    return out


def _check_ranges(parts: dict[str, str], source: str) -> None:
    for name, (low, high, negative) in _RANGES.items():
        if name not in parts:
            continue
        for item in parts[name].split(","):
            try:
                value = int(item)
            except ValueError:
                raise ScheduleError(
                    f"invalid rrule {source!r}: {name} value {item!r} is not an integer"
                ) from None
            if not (low <= value <= high or (negative and -high <= value <= -low)):
                allowed = f"{low}..{high}" + (f" or -{high}..-{low}" if negative else "")
                raise ScheduleError(
                    f"invalid rrule {source!r}: {name} value {value} is out of range ({allowed})"
                )


def _never_fires_by_month(parts: dict[str, str]) -> bool:
    """Whether BYMONTH and BYMONTHDAY have no day in common (like the 30th of February)."""
    if "BYMONTH" not in parts or "BYMONTHDAY" not in parts:
        return False
    months = [int(m) for m in parts["BYMONTH"].split(",")]
    days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
    # 2024 is a leap year: it has every month length a month can have.
    return not any(abs(d) <= calendar.monthrange(2024, m)[1] for m in months for d in days)


def _rule(line: _Line, zone_name: str | None, dtstart: dt.datetime | None, source: str) -> RuleSpec:
    if line.params:
        raise ScheduleError(f"unsupported RRULE parameter(s): {sorted(line.params)}")
    parts: dict[str, str] = {}
    for pair in line.value.split(";"):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ScheduleError(f"invalid rrule {source!r}: {pair!r} is not NAME=VALUE")
        parts[key.strip().upper()] = value.strip().upper()
    freq = parts.get("FREQ")
    if freq not in FREQUENCIES:
        raise ScheduleError(
            f"invalid rrule {source!r}: FREQ must be one of {', '.join(FREQUENCIES)}, got {freq!r}"
        )
    if "COUNT" in parts and "UNTIL" in parts:
        raise ScheduleError(f"invalid rrule {source!r}: COUNT and UNTIL cannot both be given")
    try:
        interval = int(parts.get("INTERVAL", "1"))
        count = int(parts.pop("COUNT")) if "COUNT" in parts else None
    except ValueError as exc:
        raise ScheduleError(f"invalid rrule {source!r}: {exc}") from None
    if interval < 1 or (count is not None and count < 1):
        raise ScheduleError(f"invalid rrule {source!r}: INTERVAL and COUNT must be >= 1")
    until = None
    if "UNTIL" in parts:
        raw = parts.pop("UNTIL")
        until_line = _Line("UNTIL", {}, raw)
        until_value = _parse_datetime(raw, until_line)
        if _DATE_ONLY.match(raw):  # a bare date includes that whole day
            until_value = dt.datetime.combine(until_value.date(), _END_OF_DAY)
        until = _to_wall(until_value, _zone_of(until_line, until_value), zone_name)
    _check_ranges(parts, source)
    if _never_fires_by_month(parts):
        raise ScheduleError(
            f"rrule {source!r} never fires: no month in BYMONTH has the day(s) in BYMONTHDAY"
        )
    text = ";".join(f"{key}={value}" for key, value in parts.items())
    try:
        rrulestr(text, dtstart=(dtstart or _PROBE_START).replace(fold=0))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        if _EMPTY_SET in str(exc):
            # INTERVAL steps that never land on a BYHOUR/BYMINUTE/BYSECOND value: that
            # depends on DTSTART, so only an anchored rule can be judged here.
            if dtstart is None:
                return RuleSpec(text=text, freq=freq, interval=interval, count=count, until=until)
            raise ScheduleError(
                f"rrule {source!r} never fires: from its DTSTART, INTERVAL never lands on "
                "the BYHOUR/BYMINUTE/BYSECOND values"
            ) from None
        raise ScheduleError(f"invalid rrule {source!r}: {exc or type(exc).__name__}") from None
    return RuleSpec(text=text, freq=freq, interval=interval, count=count, until=until)


@lru_cache(maxsize=512)
def parse(source: str, timezone: str | None) -> ParsedRRule:
    """Read ``source`` (RRULE text, optionally with DTSTART/RDATE/EXDATE lines).

    Raises:
        ScheduleError: the text is not a recurrence tideflow can compute.
    """
    lines = _lines(source)
    if not lines:
        raise ScheduleError("rrule must not be empty; e.g. 'FREQ=DAILY;BYHOUR=9'")
    starts = [line for line in lines if line.name == "DTSTART"]
    if len(starts) > 1:
        raise ScheduleError(f"rrule {source!r} has more than one DTSTART")
    dtstart_value: dt.datetime | None = None
    written_in: str | None = None
    if starts:
        if set(starts[0].params) - {"TZID", "VALUE"}:
            raise ScheduleError(f"unsupported DTSTART parameter(s): {sorted(starts[0].params)}")
        dtstart_value = _parse_datetime(starts[0].value, starts[0])
        written_in = _zone_of(starts[0], dtstart_value)
    if timezone is not None and written_in is not None and not same_zone(timezone, written_in):
        raise ScheduleError(
            f"rrule DTSTART is in {written_in!r} but timezone={timezone!r}; "
            "make them agree or leave timezone unset"
        )
    zone_name = timezone if timezone is not None else written_in
    dtstart = None if dtstart_value is None else _to_wall(dtstart_value, written_in, zone_name)

    rules: list[RuleSpec] = []
    rdates: list[dt.datetime] = []
    exdates: set[dt.datetime] = set()
    exdays: set[dt.date] = set()
    for line in lines:
        if line.name == "RRULE":
            rules.append(_rule(line, zone_name, dtstart, source))
        elif line.name == "RDATE":
            rdates.extend(value for value, _ in _dates(line, zone_name))
        elif line.name == "EXDATE":
            for value, whole_day in _dates(line, zone_name):
                if whole_day:
                    exdays.add(value.date())
                else:
                    exdates.add(value.replace(fold=0))
        elif line.name == "EXRULE":
            raise ScheduleError("EXRULE is deprecated by RFC 5545 and not supported; use EXDATE")
        elif line.name != "DTSTART":
            raise ScheduleError(f"unsupported property {line.name!r} in rrule {source!r}")
    if not rules and not rdates:
        raise ScheduleError(f"rrule {source!r} has no RRULE (or RDATE) line")
    return ParsedRRule(
        zone_name=zone_name,
        dtstart=dtstart,
        rules=tuple(rules),
        rdates=tuple(sorted(rdates)),
        exdates=frozenset(exdates),
        exdays=frozenset(exdays),
    )


def build(spec: RuleSpec, dtstart: dt.datetime, until: dt.datetime) -> rrule | None:
    """A dateutil rule for ``spec`` from ``dtstart``, bounded by ``until`` (no COUNT).

    None when the rule cannot fire from this ``dtstart`` (see ``_EMPTY_SET``).
    """
    try:
        rule = rrulestr(spec.text, dtstart=dtstart.replace(fold=0))
    except ValueError as exc:
        if _EMPTY_SET in str(exc):
            return None
        raise
    assert isinstance(rule, rrule)
    bound = until if spec.until is None else min(until, spec.until)
    return rule.replace(until=bound)
