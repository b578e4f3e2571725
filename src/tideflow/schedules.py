"""Schedules: when a deployment's flow should run.

Three frozen pydantic models, each listing its upcoming times with
``get_dates(n=None, start=None, end=None)``:

- :class:`CronSchedule` -- ``CronSchedule("0 9 * * 1-5", timezone="Europe/London")``
- :class:`IntervalSchedule` -- ``IntervalSchedule(interval=timedelta(hours=4))``
- :class:`RRuleSchedule` -- ``RRuleSchedule("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9")``

They store as JSON (``model_dump(mode="json")``) and load back with
:func:`schedule_from_dict`, or as the discriminated union :data:`Schedule` inside other
pydantic models. Time zones are IANA names (``zoneinfo``); ``None`` means UTC. How each
schedule behaves across daylight-saving changes is on its class and in
``docs/schedules.md``.

Example:
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> s = CronSchedule("0 0 * * *")
    >>> s.get_dates(1, start=datetime(2024, 1, 1, 12, tzinfo=ZoneInfo("UTC")))[0].isoformat()
    '2024-01-02T00:00:00+00:00'
    >>> schedule_from_dict(s.model_dump(mode="json")) == s
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Discriminator, Tag, TypeAdapter

from tideflow._schedules._base import MAX_DATES, ScheduleError
from tideflow._schedules.cron import CronSchedule
from tideflow._schedules.interval import IntervalSchedule
from tideflow._schedules.rrule import RRuleSchedule

__all__ = [
    "MAX_DATES",
    "SCHEDULE_TYPES",
    "CronSchedule",
    "IntervalSchedule",
    "RRuleSchedule",
    "Schedule",
    "ScheduleError",
    "schedule_from_dict",
]

_KINDS = {"cron": CronSchedule, "interval": IntervalSchedule, "rrule": RRuleSchedule}


def _kind(value: Any) -> str | None:
    """Which schedule ``value`` is: by class, or by the one key only that class has."""
    for key, cls in _KINDS.items():
        if isinstance(value, cls):
            return key
    if isinstance(value, Mapping):
        keys = [key for key in _KINDS if key in value]
        if len(keys) == 1:
            return keys[0]
    return None


Schedule = Annotated[
    Annotated[CronSchedule, Tag("cron")]
    | Annotated[IntervalSchedule, Tag("interval")]
    | Annotated[RRuleSchedule, Tag("rrule")],
    Discriminator(
        _kind,
        custom_error_type="schedule_kind",
        custom_error_message=(
            "a schedule needs exactly one of the keys 'cron', 'interval' or 'rrule'"
        ),
    ),
]
"""Any schedule, as a pydantic field type: ``schedule: Schedule | None = None``."""

SCHEDULE_TYPES = Schedule
"""The name Prefect uses for :data:`Schedule`."""

_ADAPTER: TypeAdapter[CronSchedule | IntervalSchedule | RRuleSchedule] = TypeAdapter(Schedule)


def schedule_from_dict(data: Mapping[str, Any]) -> CronSchedule | IntervalSchedule | RRuleSchedule:
    """Load a schedule from its JSON form, picking the class by its key.

    Args:
        data: what ``model_dump(mode="json")`` gave, e.g. ``{"cron": "0 0 * * *"}``.

    Raises:
        pydantic.ValidationError: no single kind key, or a field is invalid.

    Example:
        >>> schedule_from_dict({"interval": 3600.0})
        IntervalSchedule(interval=datetime.timedelta(seconds=3600), timezone=None, \
anchor_date=datetime.datetime(2020, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
    """
    return _ADAPTER.validate_python(data)
