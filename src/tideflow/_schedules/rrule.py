"""``RRuleSchedule``: iCalendar (RFC 5545) recurrence rules."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator
from itertools import islice
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from tideflow._schedules._base import (
    SEARCH_YEARS,
    UTC,
    ScheduleError,
    ceil_second,
    coerce_timezone,
    collect,
    require_aware,
    window,
    with_positional,
    zone,
)
from tideflow._schedules._rrule_parse import ParsedRRule, RuleSpec, build, parse
from tideflow._schedules._wall import earliest_wall, in_instant_order

_SEARCH = dt.timedelta(days=round(365.2425 * SEARCH_YEARS))
# One period of each frequency that can be skipped ahead safely: moving DTSTART by
# whole periods keeps every BYxxx default (derived from DTSTART) and the INTERVAL grid.
_PERIODS = {
    "WEEKLY": dt.timedelta(weeks=1),
    "DAILY": dt.timedelta(days=1),
    "HOURLY": dt.timedelta(hours=1),
    "MINUTELY": dt.timedelta(minutes=1),
    "SECONDLY": dt.timedelta(seconds=1),
}


def _limit(begin: dt.datetime) -> dt.datetime:
    try:
        return begin + _SEARCH
    except OverflowError:
        return dt.datetime.max


def _rule_walls(
    spec: RuleSpec, anchor: dt.datetime, begin: dt.datetime, limit: dt.datetime
) -> Iterator[dt.datetime]:
    """One rule's wall times in ``[begin, limit]``, ascending."""
    dtstart = anchor
    period = _PERIODS.get(spec.freq)
    if spec.count is None and period is not None and begin > anchor:
        # Without COUNT nothing before `begin` matters: skip whole periods, so a
        # minutely rule anchored years ago does not replay every minute since.
        step = period * spec.interval
        dtstart = anchor + ((begin - anchor) // step) * step
    rule = build(spec, dtstart, limit)
    if rule is None:
        return
    walls: Iterator[dt.datetime] = iter(rule)
    if spec.count is not None:
        walls = islice(walls, spec.count)
    for wall in walls:
        if wall >= begin:
            yield wall


def _walls(
    parsed: ParsedRRule, anchor: dt.datetime, begin: dt.datetime, limit: dt.datetime
) -> Iterator[dt.datetime]:
    """The recurrence set's wall times in ``[begin, limit]``, ascending, minus EXDATEs."""
    streams = [_rule_walls(spec, anchor, begin, limit) for spec in parsed.rules]
    streams.append(iter([d for d in parsed.rdates if begin <= d <= limit]))
    for wall in heapq.merge(*streams):
        if wall.replace(fold=0) in parsed.exdates or wall.date() in parsed.exdays:
            continue
        yield wall


class RRuleSchedule(BaseModel):
    """Runs on the dates of an iCalendar recurrence rule (RFC 5545), via ``dateutil``.

    Args:
        rrule: an RRULE, with or without the ``RRULE:`` prefix (``"FREQ=DAILY;COUNT=3"``),
            or several lines: ``DTSTART`` (floating, UTC ``...Z`` or ``;TZID=Zone``),
            one or more ``RRULE``, ``RDATE`` and ``EXDATE``. ``EXRULE`` is refused (RFC
            5545 deprecated it). A bare-date ``EXDATE;VALUE=DATE:20240704`` removes that
            whole day.
        timezone: the IANA zone the rule is computed in; defaults to the DTSTART's TZID,
            else UTC. It must agree with a TZID or UTC DTSTART.

    A rule without DTSTART is *unanchored*: ``get_dates`` anchors it at ``start``
    (rounded up to the second), so ``COUNT`` counts from each call's ``start``. Call
    :meth:`anchored` once and store the result to fix it. Local times that a DST change
    skips or repeats follow RFC 5545: a skipped 02:30 is read with the offset from before
    the gap (03:30 EDT); a repeated 01:30 means its first occurrence.

    Example:
        >>> from datetime import datetime
        >>> from zoneinfo import ZoneInfo
        >>> s = RRuleSchedule("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=0;BYSECOND=0")
        >>> start = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))
        >>> [d.strftime("%a %d") for d in s.get_dates(3, start=start)]
        ['Mon 01', 'Wed 03', 'Mon 08']
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rrule: str
    timezone: str | None = None

    @overload
    def __init__(self, rrule: str, /, *, timezone: str | None = None) -> None: ...
    @overload
    def __init__(self, *, rrule: str, timezone: str | None = None) -> None: ...
    def __init__(self, *args: Any, **data: Any) -> None:
        super().__init__(**with_positional("RRuleSchedule", ("rrule",), args, data))

    @field_validator("timezone", mode="before")
    @classmethod
    def _valid_timezone(cls, value: Any) -> str | None:
        return coerce_timezone(value)

    @field_validator("rrule")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _valid_rule(self) -> RRuleSchedule:
        parsed = parse(self.rrule, self.timezone)
        if parsed.dtstart is not None:
            probe = _walls(parsed, parsed.dtstart, parsed.dtstart, _limit(parsed.dtstart))
            if next(probe, None) is None:
                raise ScheduleError(
                    f"rrule {self.rrule!r} never fires: no date within {SEARCH_YEARS} "
                    "years of its DTSTART"
                )
        return self

    @property
    def is_anchored(self) -> bool:
        """Whether the rule has a DTSTART, so its dates do not depend on the query."""
        return parse(self.rrule, self.timezone).dtstart is not None

    def anchored(self, now: dt.datetime | None = None) -> RRuleSchedule:
        """A copy with an explicit DTSTART at ``now`` (rounded up to the second).

        Store the copy, not the original: its dates, and what its ``COUNT`` counts, stay
        the same across calls and restarts. An anchored schedule returns itself.

        Args:
            now: timezone-aware; defaults to the current time.

        Example:
            >>> from datetime import datetime
            >>> from zoneinfo import ZoneInfo
            >>> now = datetime(2024, 5, 1, 12, tzinfo=ZoneInfo("UTC"))
            >>> RRuleSchedule("FREQ=DAILY;COUNT=3").anchored(now).rrule
            'DTSTART:20240501T120000Z\\nFREQ=DAILY;COUNT=3'
        """
        parsed = parse(self.rrule, self.timezone)
        if parsed.dtstart is not None:
            return self
        when = ceil_second(require_aware("now", now or dt.datetime.now(UTC)))
        tz = zone(parsed.zone_name)
        if parsed.zone_name is None:
            line = f"DTSTART:{when:%Y%m%dT%H%M%S}Z"
        else:
            line = f"DTSTART;TZID={tz.key}:{when.astimezone(tz):%Y%m%dT%H%M%S}"
        return RRuleSchedule(f"{line}\n{self.rrule}", timezone=self.timezone)

    def get_dates(
        self,
        n: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[dt.datetime]:
        """The next dates of the rule, at or after ``start``.

        Args:
            n: how many dates at most; defaults to 1 without ``end``, and to every date
                up to ``end`` (capped at ``MAX_DATES``) with it.
            start: timezone-aware lower bound, inclusive; defaults to now. Also the
                anchor of an unanchored rule.
            end: timezone-aware upper bound, inclusive.

        Returns:
            Ascending, timezone-aware datetimes in the schedule's time zone. Dates more
            than ``SEARCH_YEARS`` (50) years after ``start`` are not looked for.

        Raises:
            ScheduleError: ``start``/``end`` is naive, or ``n`` is out of range.
        """
        win = window(n, start, end)
        parsed = parse(self.rrule, self.timezone)
        tz = zone(parsed.zone_name)
        begin = earliest_wall(win.start, tz)
        anchor = parsed.dtstart
        if anchor is None:
            anchor = ceil_second(win.start).astimezone(tz).replace(tzinfo=None)
        walls = _walls(parsed, anchor, begin, _limit(begin))
        pairs = ((wall, [wall.replace(tzinfo=tz).astimezone(UTC)]) for wall in walls)
        return collect(in_instant_order(pairs, tz), win, tz)
