"""Alias of :mod:`tideflow.schedules` at Prefect 2's path.

Example:
    >>> from tideflow.orion.schemas.schedules import CronSchedule
    >>> CronSchedule("0 0 * * *").cron
    '0 0 * * *'
"""

from tideflow.schedules import (
    MAX_DATES,
    SCHEDULE_TYPES,
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    ScheduleError,
    schedule_from_dict,
)

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
