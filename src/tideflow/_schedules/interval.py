"""``IntervalSchedule``: every fixed interval from an anchor date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, overload
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from tideflow._schedules._base import (
    UTC,
    ScheduleError,
    coerce_timezone,
    collect,
    window,
    with_positional,
    zone,
)
from tideflow._schedules._wall import localize

_ONE_DAY = dt.timedelta(days=1)
_EPOCH = dt.datetime(2020, 1, 1)


class IntervalSchedule(BaseModel):
    """Runs every ``interval``, in step with ``anchor_date``.

    Args:
        interval: a positive ``timedelta``, or a number of seconds.
        anchor_date: any date the schedule passes through; it sets the phase, it is not
            a start date (dates before it are produced too). A naive value is read as a
            wall time in ``timezone``. Defaults to 2020-01-01 00:00 in ``timezone``, so
            the dates do not depend on when the schedule was made.
        timezone: the IANA zone dates are expressed in, and the zone whose calendar
            days long intervals count in. Defaults to ``anchor_date``'s zone when that
            is a ``ZoneInfo``, else UTC.

    Intervals under a day count *elapsed* time: every 4 hours is exactly 4 hours apart
    in UTC, so across a DST change the local clock times shift by an hour. Intervals of a
    day or more count *local calendar time*: a daily schedule anchored at 09:00 runs at
    09:00 local every day, 23 or 25 hours apart around DST changes. A 09:00 that falls
    into a spring-forward gap is shifted by the gap; one in a fall-back fold runs once.

    Example:
        >>> from datetime import datetime, timedelta
        >>> from zoneinfo import ZoneInfo
        >>> s = IntervalSchedule(interval=timedelta(hours=4))
        >>> start = datetime(2024, 1, 1, 1, tzinfo=ZoneInfo("UTC"))
        >>> [d.hour for d in s.get_dates(3, start=start)]
        [4, 8, 12]
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: dt.timedelta
    timezone: str | None = None
    anchor_date: dt.datetime = Field(default=None, validate_default=True)

    @overload
    def __init__(
        self,
        interval: dt.timedelta | float,
        /,
        *,
        anchor_date: dt.datetime | None = None,
        timezone: str | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        interval: dt.timedelta | float,
        anchor_date: dt.datetime | None = None,
        timezone: str | None = None,
    ) -> None: ...
    def __init__(self, *args: Any, **data: Any) -> None:
        super().__init__(**with_positional("IntervalSchedule", ("interval",), args, data))

    @model_validator(mode="before")
    @classmethod
    def _timezone_from_anchor(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("timezone") is None:
            anchor = data.get("anchor_date")
            if isinstance(anchor, dt.datetime) and isinstance(anchor.tzinfo, ZoneInfo):
                data = {**data, "timezone": anchor.tzinfo.key}
        return data

    @field_validator("interval", mode="before")
    @classmethod
    def _interval_from_seconds(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ScheduleError(
                f"interval must be a timedelta or a number of seconds, got {value!r}"
            )
        if isinstance(value, int | float):
            return dt.timedelta(seconds=value)
        return value

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: dt.timedelta) -> dt.timedelta:
        if value <= dt.timedelta(0):
            raise ScheduleError(f"interval must be positive, got {value!r}")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _valid_timezone(cls, value: Any) -> str | None:
        return coerce_timezone(value)

    @field_validator("anchor_date", mode="before")
    @classmethod
    def _default_anchor(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return _EPOCH.replace(tzinfo=zone(info.data.get("timezone")))
        return value

    @field_validator("anchor_date")
    @classmethod
    def _anchor_in_zone(cls, value: dt.datetime, info: ValidationInfo) -> dt.datetime:
        tz = zone(info.data.get("timezone"))
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=tz)
        return value.astimezone(tz)

    @field_serializer("interval", when_used="json")
    def _interval_seconds(self, value: dt.timedelta) -> float:
        return value.total_seconds()

    def get_dates(
        self,
        n: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[dt.datetime]:
        """The next times this schedule fires, at or after ``start``.

        Args:
            n: how many dates at most; defaults to 1 without ``end``, and to every date
                up to ``end`` (capped at ``MAX_DATES``) with it.
            start: timezone-aware lower bound, inclusive; defaults to now.
            end: timezone-aware upper bound, inclusive.

        Returns:
            Ascending, timezone-aware datetimes in the schedule's time zone.

        Raises:
            ScheduleError: ``start``/``end`` is naive, or ``n`` is out of range.
        """
        win = window(n, start, end)
        tz = zone(self.timezone)
        if self.interval < _ONE_DAY:
            instants = self._elapsed(win.start)
        else:
            instants = self._calendar(win.start, tz)
        return collect(instants, win, tz)

    def _elapsed(self, start: dt.datetime) -> Iterator[dt.datetime]:
        anchor = self.anchor_date.astimezone(UTC)
        steps = -((anchor - start) // self.interval)  # ceil((start - anchor) / interval)
        current = anchor + steps * self.interval
        while True:
            yield current
            try:
                current += self.interval
            except OverflowError:
                return

    def _calendar(self, start: dt.datetime, tz: ZoneInfo) -> Iterator[dt.datetime]:
        anchor = self.anchor_date.replace(tzinfo=None, fold=0)
        start_wall = start.astimezone(tz).replace(tzinfo=None)
        # Begin one step early: a DST shift can move a date across `start`.
        steps = (start_wall - anchor) // self.interval - 1
        last: dt.datetime | None = None
        while True:
            try:
                wall = anchor + steps * self.interval
            except OverflowError:
                return
            steps += 1
            for instant in localize(wall, tz, gap="shift", fold="first"):
                if last is None or instant > last:
                    last = instant
                    yield instant
