"""``CronSchedule``: five-field cron expressions, read in local wall-clock time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, overload

from croniter import CroniterBadDateError, CroniterError, croniter
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from tideflow._schedules._base import (
    _UTC_NAMES,
    UTC,
    ScheduleError,
    coerce_timezone,
    collect,
    window,
    with_positional,
    zone,
)
from tideflow._schedules._wall import earliest_wall, in_instant_order, localize

_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day of week", "0-6 or SUN-SAT"),
)
_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_REFERENCE = dt.datetime(2000, 1, 1)
_TICK = dt.timedelta(microseconds=1)


def _check_expression(cron: str) -> None:
    """Refuse anything but a five-field cron expression, naming the field at fault."""
    fields = cron.split()
    if len(fields) == 1 and fields[0].lower() in _ALIASES:
        return
    if len(fields) != 5:
        raise ScheduleError(
            f"invalid cron expression {cron!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week) or one of {sorted(_ALIASES)}, "
            f"got {len(fields)} field(s)"
        )
    try:
        croniter(cron, _REFERENCE)
        return
    except (CroniterError, ValueError, TypeError, KeyError, IndexError) as exc:
        whole_error = exc
    for index, (name, allowed) in enumerate(_FIELDS):
        probe = ["*"] * 5
        probe[index] = fields[index]
        try:
            croniter(" ".join(probe), _REFERENCE)
        except (CroniterError, ValueError, TypeError, KeyError, IndexError):
            raise ScheduleError(
                f"invalid cron expression {cron!r}: the {name} field {fields[index]!r} "
                f"is not valid (allowed: {allowed}, with * , - / and the usual extensions)"
            ) from whole_error
    raise ScheduleError(f"invalid cron expression {cron!r}: {whole_error}") from whole_error


@lru_cache(maxsize=1024)
def _follows_elapsed_time(cron: str) -> bool:
    """Whether the hour field is ``*``: such a job is treated as interval-like across DST."""
    return croniter(cron, _REFERENCE).expanded[1] == ["*"]


class CronSchedule(BaseModel):
    """Runs at the times a cron expression matches, in a time zone's local wall time.

    Args:
        cron: a five-field expression (``minute hour day-of-month month day-of-week``)
            or an alias such as ``@daily``. Parsed by ``croniter``, so its extensions
            (``L``, ``W``, ``#``) work too.
        timezone: the IANA zone the expression is read in; ``None`` means UTC.
        day_or: when both day-of-month and day-of-week are restricted, ``True`` (standard
            cron) fires on days matching *either*; ``False`` on days matching *both*.

    Daylight saving time (see ``docs/schedules.md``): a time in the spring-forward gap
    runs once, shifted by the gap (``30 2 * * *`` runs at 03:30 EDT on 2024-03-10 in New
    York); a time in the fall-back fold runs once, at its first occurrence. Expressions
    whose hour field is ``*`` follow elapsed time instead: ``0 * * * *`` runs 23 times on
    the spring-forward day and 25 times on the fall-back day, always one hour apart.

    Example:
        >>> from datetime import datetime
        >>> from zoneinfo import ZoneInfo
        >>> s = CronSchedule("0 9 * * 1-5", timezone="America/New_York")
        >>> s.get_dates(2, start=datetime(2024, 3, 8, tzinfo=ZoneInfo("UTC")))[1].isoformat()
        '2024-03-11T09:00:00-04:00'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str
    timezone: str | None = None
    day_or: bool = True

    @overload
    def __init__(
        self, cron: str, /, *, timezone: str | None = None, day_or: bool = True
    ) -> None: ...
    @overload
    def __init__(self, *, cron: str, timezone: str | None = None, day_or: bool = True) -> None: ...
    def __init__(self, *args: Any, **data: Any) -> None:
        super().__init__(**with_positional("CronSchedule", ("cron",), args, data))

    @field_validator("timezone", mode="before")
    @classmethod
    def _valid_timezone(cls, value: Any) -> str | None:
        return coerce_timezone(value)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        value = value.strip()
        _check_expression(value)
        return value

    @model_validator(mode="after")
    def _fires_at_all(self) -> CronSchedule:
        try:
            croniter(self.cron, _REFERENCE, day_or=self.day_or).get_next(dt.datetime)
        except CroniterBadDateError:
            raise ScheduleError(
                f"cron expression {self.cron!r} never fires (day_or={self.day_or}): no "
                "date matches it, e.g. a day that no month has, like the 30th of February"
            ) from None
        return self

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
            Ascending, timezone-aware datetimes in the schedule's time zone. Compare or
            subtract them after ``.astimezone(UTC)``: Python ignores ``fold`` when both
            sides share a zone, so the two 01:30s of a fall-back night compare equal.

        Raises:
            ScheduleError: ``start``/``end`` is naive, or ``n`` is out of range.
        """
        win = window(n, start, end)
        tz = zone(self.timezone)
        return collect(self._instants(win.start), win, tz)

    def _instants(self, start: dt.datetime) -> Iterator[dt.datetime]:
        tz = zone(self.timezone)
        if tz.key in _UTC_NAMES:
            # UTC has no gaps or folds: wall times are the instants (the scheduler's
            # common case, and several times faster than the general path).
            return self._utc_instants(start)
        elapsed = _follows_elapsed_time(self.cron)
        walls = croniter(self.cron, earliest_wall(start, tz) - _TICK, day_or=self.day_or)

        def pairs() -> Iterator[tuple[dt.datetime, list[dt.datetime]]]:
            while True:
                try:
                    wall = walls.get_next(dt.datetime)
                except (CroniterBadDateError, OverflowError, ValueError):
                    return
                yield (
                    wall,
                    localize(
                        wall,
                        tz,
                        gap="skip" if elapsed else "shift",
                        fold="both" if elapsed else "first",
                    ),
                )

        return in_instant_order(pairs(), tz)

    def _utc_instants(self, start: dt.datetime) -> Iterator[dt.datetime]:
        walls = croniter(
            self.cron, start.astimezone(UTC).replace(tzinfo=None) - _TICK, day_or=self.day_or
        )
        while True:
            try:
                wall = walls.get_next(dt.datetime)
            except (CroniterBadDateError, OverflowError, ValueError):
                return
            yield wall.replace(tzinfo=UTC)
