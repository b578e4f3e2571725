"""The seed's import path, ``tideflow.orion.schemas.schedules``, is an alias."""

from __future__ import annotations

import datetime as dt
import importlib

import tideflow.schedules


def test_seed_import_path_and_examples():
    from tideflow.orion.schemas.schedules import (
        CronSchedule,
        IntervalSchedule,
        RRuleSchedule,
    )

    cron_schedule = CronSchedule(cron="0 9 * * 1-5")  # Weekdays at 9 AM
    interval_schedule = IntervalSchedule(interval=dt.timedelta(hours=4))  # Every 4 hours
    daily = CronSchedule("0 0 * * *")  # the Deployment example
    monthly = CronSchedule("0 0 1 * *")
    rrule = RRuleSchedule("FREQ=WEEKLY;BYDAY=MO")
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert cron_schedule.get_dates(1, start=start)[0] == dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC)
    assert interval_schedule.get_dates(2, start=start)[1] == dt.datetime(
        2024, 1, 1, 4, tzinfo=dt.UTC
    )
    assert daily.get_dates(1, start=start)[0] == start
    assert monthly.get_dates(2, start=start)[1].month == 2
    assert rrule.get_dates(1, start=start)[0].weekday() == 0


def test_same_objects_as_the_public_module():
    compat = importlib.import_module("tideflow.orion.schemas.schedules")
    assert compat.__all__ == tideflow.schedules.__all__
    for name in compat.__all__:
        assert getattr(compat, name) is getattr(tideflow.schedules, name)


def test_package_chain_is_importable():
    import tideflow.orion
    import tideflow.orion.schemas

    assert tideflow.orion.schemas.schedules.CronSchedule is tideflow.schedules.CronSchedule
    assert tideflow.orion.__all__ == []
    assert tideflow.orion.schemas.__all__ == ["schedules"]
