"""Tests for tideflow.schedules: API, serialization, DST behaviour and properties."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import tideflow.schedules as schedules
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

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "schedules.md"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local_day(
    schedule: CronSchedule | IntervalSchedule | RRuleSchedule, day: dt.date, tz: ZoneInfo
):
    """Every date of `schedule` on the local calendar day `day` in `tz`."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return [d for d in schedule.get_dates(start=start, end=end) if d.astimezone(UTC) < end]


def gaps(dates: list[dt.datetime]) -> set[dt.timedelta]:
    instants = [d.astimezone(UTC) for d in dates]
    return {b - a for a, b in itertools.pairwise(instants)}


# --------------------------------------------------------------------------- public API


def isort_order(names: list[str]) -> list[str]:
    """The order ruff (RUF022) keeps ``__all__`` in: CONSTANTS, Classes, functions."""
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))


def test_public_names_are_pinned_and_sorted():
    assert schedules.__all__ == isort_order(schedules.__all__)
    assert set(schedules.__all__) == {
        "MAX_DATES",
        "SCHEDULE_TYPES",
        "CronSchedule",
        "IntervalSchedule",
        "RRuleSchedule",
        "Schedule",
        "ScheduleError",
        "schedule_from_dict",
    }


def test_seed_constructors():
    assert CronSchedule("0 0 * * *").cron == "0 0 * * *"
    assert CronSchedule(cron="0 9 * * 1-5").cron == "0 9 * * 1-5"
    assert IntervalSchedule(interval=dt.timedelta(hours=4)).interval == dt.timedelta(hours=4)
    assert IntervalSchedule(dt.timedelta(minutes=5)).interval == dt.timedelta(minutes=5)
    assert IntervalSchedule(90).interval == dt.timedelta(seconds=90)
    assert IntervalSchedule(interval=1.5).interval == dt.timedelta(seconds=1.5)
    assert RRuleSchedule("FREQ=DAILY").rrule == "FREQ=DAILY"
    assert RRuleSchedule(rrule="FREQ=DAILY", timezone="UTC").timezone == "UTC"


def test_defaults():
    cron = CronSchedule("0 0 * * *")
    assert (cron.timezone, cron.day_or) == (None, True)
    interval = IntervalSchedule(interval=60)
    assert interval.timezone is None
    assert interval.anchor_date == dt.datetime(2020, 1, 1, tzinfo=ZoneInfo("UTC"))
    ny = IntervalSchedule(interval=60, timezone="America/New_York")
    assert ny.anchor_date == dt.datetime(2020, 1, 1, tzinfo=NY)
    assert ny.anchor_date.tzinfo == NY


def test_models_are_frozen_hashable_and_strict():
    s = CronSchedule("0 0 * * *")
    with pytest.raises(ValidationError):
        s.cron = "1 1 * * *"  # type: ignore[misc]
    assert hash(s) == hash(CronSchedule("0 0 * * *"))
    assert len({s, CronSchedule("0 0 * * *"), CronSchedule("0 1 * * *")}) == 2
    with pytest.raises(ValidationError, match="Extra inputs"):
        CronSchedule.model_validate({"cron": "0 0 * * *", "bogus": 1})
    with pytest.raises(TypeError):
        CronSchedule("0 0 * * *", "UTC")  # type: ignore[misc]


def test_timezone_accepts_zoneinfo_and_utc_objects():
    assert CronSchedule("0 0 * * *", timezone=NY).timezone == "America/New_York"  # type: ignore[arg-type]
    assert CronSchedule("0 0 * * *", timezone=UTC).timezone == "UTC"  # type: ignore[arg-type]


@pytest.mark.parametrize("cls_args", [("cron", "0 0 * * *"), ("rrule", "FREQ=DAILY")])
@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "", "America", "../etc/passwd", "EST5EDT "])
def test_invalid_timezone_is_named(cls_args, bad):
    kind, value = cls_args
    with pytest.raises(ValueError, match=re.escape(f"unknown timezone {bad!r}")):
        schedule_from_dict({kind: value, "timezone": bad})
    with pytest.raises(ValueError, match="unknown timezone"):
        IntervalSchedule(interval=60, timezone=bad)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("61 * * * *", "the minute field '61'"),
        ("0 24 * * *", "the hour field '24'"),
        ("0 0 32 * *", "the day of month field '32'"),
        ("0 0 * 13 *", "the month field '13'"),
        ("0 0 * * FOO", "the day of week field 'FOO'"),
        ("* * * *", "expected 5 fields"),
        ("0 0 * * * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("@reboot", "expected 5 fields"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ],
)
def test_invalid_cron_is_explained(expr, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        CronSchedule(expr)
    assert repr(expr.strip()) in str(info.value)


def test_never_firing_cron_with_day_and_dropped_or():
    with pytest.raises(ValueError, match="never fires"):
        CronSchedule("0 0 30 2 1", day_or=False)
    CronSchedule("0 0 30 2 1", day_or=True)  # Mondays in February still match


@pytest.mark.parametrize("bad", [0, -1, dt.timedelta(0), dt.timedelta(seconds=-5)])
def test_interval_must_be_positive(bad):
    with pytest.raises(ValueError, match="interval must be positive"):
        IntervalSchedule(interval=bad)


def test_interval_rejects_bool():
    with pytest.raises(ValueError, match="interval must be a timedelta"):
        IntervalSchedule(interval=True)


# --------------------------------------------------------------------------- serialization

EXAMPLES = [
    CronSchedule("0 0 * * *"),
    CronSchedule("30 2 * * 1-5", timezone="America/New_York", day_or=False),
    IntervalSchedule(interval=dt.timedelta(hours=4)),
    IntervalSchedule(interval=dt.timedelta(days=1, microseconds=1), timezone="Europe/London"),
    IntervalSchedule(
        interval=dt.timedelta(minutes=90),
        anchor_date=dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY),
    ),
    RRuleSchedule("FREQ=DAILY;COUNT=3"),
    RRuleSchedule(
        "DTSTART;TZID=Europe/London:20240101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO\n"
        "EXDATE;TZID=Europe/London:20240108T090000"
    ),
]


@pytest.mark.parametrize("schedule", EXAMPLES, ids=repr)
def test_json_round_trip(schedule):
    data = schedule.model_dump(mode="json")
    json.dumps(data)  # plain JSON
    again = type(schedule).model_validate(data)
    assert again == schedule
    assert schedule_from_dict(data) == schedule
    assert type(schedule).model_validate_json(schedule.model_dump_json()) == schedule
    start = utc(2024, 6, 1)
    assert again.get_dates(5, start=start) == schedule.get_dates(5, start=start)


def test_interval_json_is_seconds():
    assert IntervalSchedule(interval=dt.timedelta(hours=4)).model_dump(mode="json") == {
        "interval": 14400.0,
        "timezone": None,
        "anchor_date": "2020-01-01T00:00:00Z",
    }


def test_interval_keeps_fold_of_anchor_through_json():
    s = EXAMPLES[4]
    assert s.timezone == "America/New_York"
    again = IntervalSchedule.model_validate(s.model_dump(mode="json"))
    assert again.anchor_date.fold == 1
    assert again.anchor_date.astimezone(UTC) == utc(2024, 11, 3, 6, 30)


def test_schedule_union_in_a_model():
    class Deployment(BaseModel):
        schedule: Schedule | None = None

    for schedule in EXAMPLES:
        loaded = Deployment.model_validate_json(Deployment(schedule=schedule).model_dump_json())
        assert loaded.schedule == schedule
        assert type(loaded.schedule) is type(schedule)
    assert Deployment().schedule is None
    assert Deployment.model_json_schema()  # FastAPI can describe it
    assert SCHEDULE_TYPES is Schedule


@pytest.mark.parametrize("bad", [{}, {"cron": "0 0 * * *", "interval": 60}, {"every": 5}])
def test_schedule_from_dict_needs_exactly_one_kind(bad):
    with pytest.raises(ValidationError, match="exactly one of the keys"):
        schedule_from_dict(bad)


def test_schedule_from_dict_reports_field_errors():
    with pytest.raises(ValidationError, match="never fires"):
        schedule_from_dict({"cron": "0 0 30 2 *"})


# --------------------------------------------------------------------------- get_dates window


@pytest.mark.parametrize("schedule", EXAMPLES[:5], ids=repr)
def test_start_is_inclusive_and_n_defaults_to_one(schedule):
    first = schedule.get_dates(start=utc(2024, 6, 1))
    assert len(first) == 1
    assert schedule.get_dates(start=first[0]) == first
    later = schedule.get_dates(start=first[0] + dt.timedelta(microseconds=1))
    assert later[0] > first[0]


def test_end_is_inclusive_and_n_none_takes_all():
    s = CronSchedule("0 * * * *")
    dates = s.get_dates(start=utc(2024, 1, 1), end=utc(2024, 1, 1, 5))
    assert [d.hour for d in dates] == [0, 1, 2, 3, 4, 5]
    assert len(s.get_dates(3, start=utc(2024, 1, 1), end=utc(2024, 1, 1, 5))) == 3
    assert s.get_dates(0, start=utc(2024, 1, 1)) == []
    assert s.get_dates(start=utc(2024, 1, 2), end=utc(2024, 1, 1)) == []


def test_n_none_with_end_is_capped():
    s = IntervalSchedule(interval=1)
    dates = s.get_dates(start=utc(2024, 1, 1), end=utc(2025, 1, 1))
    assert len(dates) == MAX_DATES


@pytest.mark.parametrize("n", [-1, MAX_DATES + 1, 1.5, True, "3"])
def test_bad_n(n):
    with pytest.raises(ScheduleError, match="n must be"):
        CronSchedule("0 0 * * *").get_dates(n, start=utc(2024, 1, 1))


@pytest.mark.parametrize("schedule", EXAMPLES[::2], ids=repr)
def test_naive_start_and_end_are_refused(schedule):
    with pytest.raises(ScheduleError, match="start must be timezone-aware"):
        schedule.get_dates(start=dt.datetime(2024, 1, 1))
    with pytest.raises(ScheduleError, match="end must be timezone-aware"):
        schedule.get_dates(start=utc(2024, 1, 1), end=dt.datetime(2024, 2, 1))
    assert isinstance(ScheduleError("x"), ValueError)


def test_start_defaults_to_now():
    before = dt.datetime.now(UTC)
    (date,) = CronSchedule("* * * * *").get_dates()
    assert before < date <= before + dt.timedelta(minutes=1)


def test_dates_are_in_the_schedule_zone():
    s = CronSchedule("0 12 * * *", timezone="Europe/London")
    (date,) = s.get_dates(start=dt.datetime(2024, 7, 1, tzinfo=NY))
    assert date.tzinfo == LONDON
    assert date.isoformat() == "2024-07-01T12:00:00+01:00"
    assert CronSchedule("0 12 * * *").get_dates(start=utc(2024, 7, 1))[
        0
    ].utcoffset() == dt.timedelta(0)


# --------------------------------------------------------------------------- cron and DST


@pytest.mark.parametrize(
    ("tz", "day", "expected"),
    [
        (NY, dt.date(2024, 3, 10), ["2024-03-10T03:30:00-04:00"]),  # 02:30 does not exist
        (NY, dt.date(2024, 3, 11), ["2024-03-11T02:30:00-04:00"]),
        (NY, dt.date(2024, 11, 3), ["2024-11-03T02:30:00-05:00"]),
    ],
)
def test_cron_fixed_time_in_spring_gap_runs_once_shifted(tz, day, expected):
    s = CronSchedule("30 2 * * *", timezone=tz.key)
    assert [d.isoformat() for d in local_day(s, day, tz)] == expected


def test_cron_fixed_time_in_fall_fold_runs_once_at_first_occurrence():
    s = CronSchedule("30 1 * * *", timezone="America/New_York")
    dates = local_day(s, dt.date(2024, 11, 3), NY)
    assert [d.isoformat() for d in dates] == ["2024-11-03T01:30:00-04:00"]
    assert dates[0].astimezone(UTC) == utc(2024, 11, 3, 5, 30)
    # ... and the day before and after, at 01:30 as usual
    assert local_day(s, dt.date(2024, 11, 2), NY)[0].isoformat() == "2024-11-02T01:30:00-04:00"
    assert local_day(s, dt.date(2024, 11, 4), NY)[0].isoformat() == "2024-11-04T01:30:00-05:00"


def test_cron_london_gap_and_fold():
    s = CronSchedule("30 1 * * *", timezone="Europe/London")
    spring = local_day(s, dt.date(2024, 3, 31), LONDON)
    assert [d.isoformat() for d in spring] == ["2024-03-31T02:30:00+01:00"]
    autumn = local_day(s, dt.date(2024, 10, 27), LONDON)
    assert [d.isoformat() for d in autumn] == ["2024-10-27T01:30:00+01:00"]


@pytest.mark.parametrize(
    ("tz", "day", "count"),
    [
        (NY, dt.date(2024, 3, 10), 23),
        (NY, dt.date(2024, 11, 3), 25),
        (NY, dt.date(2024, 7, 1), 24),
        (LONDON, dt.date(2024, 3, 31), 23),
        (LONDON, dt.date(2024, 10, 27), 25),
    ],
)
@pytest.mark.parametrize("expr", ["0 * * * *", "@hourly", "0 0-23 * * *"])
def test_hourly_cron_follows_elapsed_time(tz, day, count, expr):
    dates = local_day(CronSchedule(expr, timezone=tz.key), day, tz)
    assert len(dates) == count
    assert gaps(dates) == {dt.timedelta(hours=1)}


def test_quarter_hourly_cron_across_fold_and_gap():
    s = CronSchedule("*/15 * * * *", timezone="America/New_York")
    fall = s.get_dates(10, start=dt.datetime(2024, 11, 3, 1, 0, tzinfo=NY))
    assert [d.strftime("%H:%M%z") for d in fall] == [
        "01:00-0400",
        "01:15-0400",
        "01:30-0400",
        "01:45-0400",
        "01:00-0500",
        "01:15-0500",
        "01:30-0500",
        "01:45-0500",
        "02:00-0500",
        "02:15-0500",
    ]
    assert gaps(fall) == {dt.timedelta(minutes=15)}
    spring = s.get_dates(4, start=dt.datetime(2024, 3, 10, 1, 30, tzinfo=NY))
    assert [d.strftime("%H:%M%z") for d in spring] == [
        "01:30-0500",
        "01:45-0500",
        "03:00-0400",
        "03:15-0400",
    ]


def test_multiple_fixed_hours_in_fold_run_once_each():
    s = CronSchedule("0 1,2 * * *", timezone="America/New_York")
    dates = local_day(s, dt.date(2024, 11, 3), NY)
    assert [d.strftime("%H:%M%z") for d in dates] == ["01:00-0400", "02:00-0500"]


def test_start_inside_a_fold_sees_the_second_occurrence():
    s = CronSchedule("*/30 * * * *", timezone="America/New_York")
    start = dt.datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NY)  # 06:10 UTC, EST
    dates = s.get_dates(3, start=start)
    assert [d.astimezone(UTC) for d in dates] == [
        utc(2024, 11, 3, 6, 30),
        utc(2024, 11, 3, 7, 0),
        utc(2024, 11, 3, 7, 30),
    ]


def test_day_31_fires_only_in_long_months():
    dates = CronSchedule("0 0 31 * *").get_dates(7, start=utc(2024, 1, 1))
    assert [(d.month, d.day) for d in dates] == [
        (1, 31),
        (3, 31),
        (5, 31),
        (7, 31),
        (8, 31),
        (10, 31),
        (12, 31),
    ]


def test_day_or_semantics():
    # the 13th, or any Friday (standard cron) vs Friday the 13th only
    either = CronSchedule("0 0 13 * 5").get_dates(4, start=utc(2024, 9, 1))
    assert [d.day for d in either] == [6, 13, 20, 27]
    both = CronSchedule("0 0 13 * 5", day_or=False).get_dates(2, start=utc(2024, 1, 1))
    assert [d.date() for d in both] == [dt.date(2024, 9, 13), dt.date(2024, 12, 13)]


def test_weekday_cron_from_the_seed():
    s = CronSchedule(cron="0 9 * * 1-5", timezone="America/New_York")
    dates = s.get_dates(6, start=dt.datetime(2024, 3, 7, 12, tzinfo=NY))
    assert [d.strftime("%a %d %H:%M%z") for d in dates] == [
        "Fri 08 09:00-0500",
        "Mon 11 09:00-0400",
        "Tue 12 09:00-0400",
        "Wed 13 09:00-0400",
        "Thu 14 09:00-0400",
        "Fri 15 09:00-0400",
    ]


def test_croniter_extensions_and_aliases():
    last = CronSchedule("0 0 L * *").get_dates(2, start=utc(2024, 2, 1))
    assert [d.day for d in last] == [29, 31]
    second_monday = CronSchedule("0 0 * * 1#2").get_dates(1, start=utc(2024, 1, 1))
    assert second_monday[0].date() == dt.date(2024, 1, 8)
    assert CronSchedule("@daily").get_dates(1, start=utc(2024, 1, 1, 1))[0] == utc(2024, 1, 2)


def test_rare_cron_does_not_hang():
    # Feb 29th that is also a Monday: 2016, 2044, 2072.
    s = CronSchedule("0 0 29 2 1", day_or=False)
    assert [d.year for d in s.get_dates(2, start=utc(2017, 1, 1))] == [2044, 2072]


# --------------------------------------------------------------------------- intervals


def test_interval_is_aligned_to_its_anchor_whatever_the_start():
    s = IntervalSchedule(interval=dt.timedelta(hours=4), anchor_date=utc(2024, 1, 1, 1))
    assert [d.hour for d in s.get_dates(3, start=utc(2024, 5, 5, 6))] == [9, 13, 17]
    assert s.get_dates(1, start=utc(2024, 5, 5, 9)) == [utc(2024, 5, 5, 9)]
    assert s.get_dates(2, start=utc(2023, 12, 31, 23)) == [utc(2024, 1, 1, 1), utc(2024, 1, 1, 5)]
    assert s.get_dates(1, start=utc(2019, 1, 1, 0, 30))[0] == utc(2019, 1, 1, 1)  # before anchor


def test_default_anchor_is_a_fixed_epoch():
    s = IntervalSchedule(interval=dt.timedelta(minutes=7))
    a = s.get_dates(1, start=utc(2024, 6, 1))[0]
    b = s.get_dates(1, start=a - dt.timedelta(minutes=3))[0]
    assert a == b
    assert (a - utc(2020, 1, 1)) % dt.timedelta(minutes=7) == dt.timedelta(0)


@pytest.mark.parametrize(("day", "count"), [(dt.date(2024, 3, 10), 23), (dt.date(2024, 11, 3), 25)])
def test_hourly_interval_across_dst(day, count):
    s = IntervalSchedule(interval=dt.timedelta(hours=1), timezone="America/New_York")
    dates = local_day(s, day, NY)
    assert len(dates) == count
    assert gaps(dates) == {dt.timedelta(hours=1)}
    assert all(d.tzinfo == NY for d in dates)


def test_daily_interval_keeps_local_wall_time_across_dst():
    s = IntervalSchedule(
        interval=dt.timedelta(days=1),
        anchor_date=dt.datetime(2024, 1, 1, 9),
        timezone="America/New_York",
    )
    dates = s.get_dates(4, start=utc(2024, 3, 8))
    assert [d.isoformat() for d in dates] == [
        "2024-03-08T09:00:00-05:00",
        "2024-03-09T09:00:00-05:00",
        "2024-03-10T09:00:00-04:00",
        "2024-03-11T09:00:00-04:00",
    ]
    assert gaps(dates) == {dt.timedelta(hours=24), dt.timedelta(hours=23)}
    fall = s.get_dates(3, start=utc(2024, 11, 2))
    assert [d.hour for d in fall] == [9, 9, 9]
    assert gaps(fall) == {dt.timedelta(hours=24), dt.timedelta(hours=25)}


def test_daily_interval_in_gap_and_fold():
    gap = IntervalSchedule(
        interval=dt.timedelta(days=1),
        anchor_date=dt.datetime(2024, 1, 1, 2, 30),
        timezone="America/New_York",
    )
    assert [d.isoformat() for d in gap.get_dates(3, start=utc(2024, 3, 9, 12))] == [
        "2024-03-10T03:30:00-04:00",
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]
    fold = IntervalSchedule(
        interval=dt.timedelta(days=1),
        anchor_date=dt.datetime(2024, 1, 1, 1, 30),
        timezone="America/New_York",
    )
    dates = local_day(fold, dt.date(2024, 11, 3), NY)
    assert [d.isoformat() for d in dates] == ["2024-11-03T01:30:00-04:00"]


def test_weekly_and_odd_long_intervals_count_local_time():
    weekly = IntervalSchedule(
        interval=dt.timedelta(weeks=1),
        anchor_date=dt.datetime(2024, 3, 4, 9, tzinfo=NY),
    )
    assert weekly.timezone == "America/New_York"  # taken from the anchor's zone
    assert [d.isoformat() for d in weekly.get_dates(2, start=utc(2024, 3, 5))] == [
        "2024-03-11T09:00:00-04:00",
        "2024-03-18T09:00:00-04:00",
    ]
    odd = IntervalSchedule(interval=dt.timedelta(days=1, hours=12), anchor_date=utc(2024, 1, 1))
    assert [d.isoformat() for d in odd.get_dates(3, start=utc(2024, 1, 1))] == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-02T12:00:00+00:00",
        "2024-01-04T00:00:00+00:00",
    ]


def test_aware_anchor_with_fixed_offset_is_converted():
    anchor = dt.datetime(2024, 1, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    s = IntervalSchedule(interval=3600, anchor_date=anchor)
    assert s.timezone is None
    assert s.anchor_date == utc(2024, 1, 1, 8)
    assert s.anchor_date.tzinfo == ZoneInfo("UTC")


def test_naive_anchor_is_wall_time_in_the_zone():
    s = IntervalSchedule(
        interval=3600, anchor_date=dt.datetime(2024, 1, 1, 9, 15), timezone="Europe/London"
    )
    assert s.anchor_date == dt.datetime(2024, 1, 1, 9, 15, tzinfo=LONDON)
    assert s.get_dates(1, start=utc(2024, 7, 1))[0].minute == 15


# --------------------------------------------------------------------------- rrule


def test_rrule_count_is_counted_once_it_is_anchored():
    s = RRuleSchedule("FREQ=DAILY;COUNT=3").anchored(utc(2024, 1, 1, 12))
    assert s.rrule == "DTSTART:20240101T120000Z\nFREQ=DAILY;COUNT=3"
    assert s.is_anchored
    everything = s.get_dates(10, start=utc(2023, 1, 1))
    assert everything == [utc(2024, 1, 1, 12), utc(2024, 1, 2, 12), utc(2024, 1, 3, 12)]
    assert s.get_dates(10, start=utc(2024, 1, 2, 13)) == [utc(2024, 1, 3, 12)]
    assert s.get_dates(10, start=utc(2024, 1, 3, 12, 0, 1)) == []
    assert s.get_dates(10, start=utc(2030, 1, 1)) == []
    # stable across "restarts": the stored form gives the same dates
    again = schedule_from_dict(json.loads(json.dumps(s.model_dump(mode="json"))))
    assert again.get_dates(10, start=utc(2023, 1, 1)) == everything


def test_unanchored_rrule_anchors_at_start():
    s = RRuleSchedule("FREQ=DAILY;COUNT=3")
    assert not s.is_anchored
    start = utc(2024, 5, 1, 8, 30, 15, 500)
    assert s.get_dates(10, start=start) == [
        utc(2024, 5, 1, 8, 30, 16),
        utc(2024, 5, 2, 8, 30, 16),
        utc(2024, 5, 3, 8, 30, 16),
    ]


def test_anchored_in_a_zone_and_idempotent():
    s = RRuleSchedule("RRULE:FREQ=WEEKLY;COUNT=2", timezone="America/New_York")
    anchored = s.anchored(utc(2024, 3, 5, 14))
    assert (
        anchored.rrule == "DTSTART;TZID=America/New_York:20240305T090000\nRRULE:FREQ=WEEKLY;COUNT=2"
    )
    assert anchored.anchored(utc(2025, 1, 1)) is anchored
    assert [d.isoformat() for d in anchored.get_dates(5, start=utc(2024, 1, 1))] == [
        "2024-03-05T09:00:00-05:00",
        "2024-03-12T09:00:00-04:00",
    ]
    with pytest.raises(ScheduleError, match="now must be timezone-aware"):
        s.anchored(dt.datetime(2024, 1, 1))


def test_rrule_with_tzid_dtstart_uses_that_zone():
    s = RRuleSchedule("DTSTART;TZID=Europe/London:20240101T090000\nRRULE:FREQ=DAILY")
    (date,) = s.get_dates(1, start=utc(2024, 7, 1, 12))
    assert date.isoformat() == "2024-07-02T09:00:00+01:00"
    assert date.tzinfo == LONDON


def test_rrule_dst_follows_rfc_5545():
    s = RRuleSchedule("DTSTART;TZID=America/New_York:20240308T023000\nRRULE:FREQ=DAILY;COUNT=4")
    assert [d.isoformat() for d in s.get_dates(10, start=utc(2024, 1, 1))] == [
        "2024-03-08T02:30:00-05:00",
        "2024-03-09T02:30:00-05:00",
        "2024-03-10T03:30:00-04:00",
        "2024-03-11T02:30:00-04:00",
    ]
    fold = RRuleSchedule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30;BYSECOND=0", timezone="America/New_York")
    dates = local_day(fold, dt.date(2024, 11, 3), NY)
    assert [d.isoformat() for d in dates] == ["2024-11-03T01:30:00-04:00"]


def test_rrule_exdate_rdate_and_several_rules():
    text = "\n".join(
        [
            "DTSTART;TZID=America/New_York:20240101T090000",
            "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4",
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;COUNT=2",
            "RDATE;TZID=America/New_York:20240103T120000",
            "RDATE:20240104T170000Z",
            "EXDATE;TZID=America/New_York:20240108T090000",
            "EXDATE:20240122T140000Z",
        ]
    )
    dates = RRuleSchedule(text).get_dates(20, start=utc(2023, 1, 1))
    assert [d.strftime("%m-%d %H:%M") for d in dates] == [
        "01-01 09:00",
        "01-03 12:00",
        "01-04 12:00",
        "01-15 09:00",  # from both rules, once
        "02-15 09:00",
    ]  # COUNT=4 counts the EXDATEd Mondays too: 01-01, (01-08), 01-15, (01-22)


def test_rrule_exdate_whole_day_and_until_forms():
    s = RRuleSchedule(
        "DTSTART:20240701T100000Z\nRRULE:FREQ=DAILY;UNTIL=20240705\nEXDATE;VALUE=DATE:20240704"
    )
    assert [d.day for d in s.get_dates(10, start=utc(2024, 1, 1))] == [1, 2, 3, 5]
    floating = RRuleSchedule("FREQ=HOURLY;UNTIL=20240101T030000", timezone="Europe/London")
    assert [d.hour for d in floating.get_dates(10, start=utc(2024, 1, 1))] == [0, 1, 2, 3]
    utc_until = RRuleSchedule(
        "DTSTART;TZID=America/New_York:20240101T000000\nRRULE:FREQ=HOURLY;UNTIL=20240101T070000Z"
    )
    assert [d.hour for d in utc_until.get_dates(10, start=utc(2024, 1, 1))] == [0, 1, 2]


def test_rrule_accepts_lowercase_and_folded_lines():
    s = RRuleSchedule("dtstart:20240101T000000Z\nrrule:freq=daily;\n count=2")
    assert len(s.get_dates(5, start=utc(2023, 1, 1))) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("FREQ=FOO", "FREQ must be one of"),
        ("BYHOUR=1", "FREQ must be one of"),
        ("FREQ=DAILY;BYDAY=XX", "invalid 'BYDAY'"),
        ("FREQ=DAILY;BYMONTHDAY=32", "BYMONTHDAY value 32 is out of range"),
        ("FREQ=DAILY;BYHOUR=1,x", "is not an integer"),
        ("FREQ=DAILY;FOO=1", "unknown parameter"),
        ("FREQ=DAILY;COUNT", "is not NAME=VALUE"),
        ("FREQ=DAILY;COUNT=0", "must be >= 1"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20250101T000000Z", "COUNT and UNTIL"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30,31", "never fires"),
        ("DTSTART:20240102T000000Z\nFREQ=DAILY;INTERVAL=7;BYDAY=MO", "never fires"),
        ("DTSTART:2024-13-01\nFREQ=DAILY", "invalid date"),
        ("DTSTART:20240101T000000+0200\nFREQ=DAILY", "numeric offset"),
        (
            "DTSTART;TZID=Nowhere/Land:20240101T000000\nFREQ=DAILY",
            "unknown timezone 'Nowhere/Land'",
        ),
        ("DTSTART:20240101T000000Z\nDTSTART:20240101T000000Z\nFREQ=DAILY", "more than one DTSTART"),
        ("FREQ=DAILY\nEXRULE:FREQ=WEEKLY", "EXRULE"),
        ("FREQ=DAILY\nVEVENT:X", "unsupported property"),
        ("DTSTART:20240101T000000Z", "no RRULE"),
        ("RDATE;VALUE=PERIOD:20240101T000000Z/PT1H", "VALUE=PERIOD"),
    ],
)
def test_bad_rrule_is_explained(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        RRuleSchedule(text)


def test_rrule_timezone_must_agree_with_dtstart():
    with pytest.raises(
        ValueError, match="DTSTART is in 'Europe/London' but timezone='America/New_York'"
    ):
        RRuleSchedule(
            "DTSTART;TZID=Europe/London:20240101T090000\nFREQ=DAILY", timezone="America/New_York"
        )
    with pytest.raises(ValueError, match="DTSTART is in 'UTC'"):
        RRuleSchedule("DTSTART:20240101T090000Z\nFREQ=DAILY", timezone="Europe/London")
    RRuleSchedule("DTSTART:20240101T090000Z\nFREQ=DAILY", timezone="Etc/UTC")
    floating = RRuleSchedule("DTSTART:20240101T090000\nFREQ=DAILY", timezone="Europe/London")
    assert (
        floating.get_dates(1, start=utc(2024, 7, 1))[0].isoformat() == "2024-07-01T09:00:00+01:00"
    )


def test_rrule_anchored_long_ago_is_fast_forwarded():
    s = RRuleSchedule("DTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY;INTERVAL=7")
    dates = s.get_dates(3, start=utc(2024, 6, 1))
    assert dates[0] >= utc(2024, 6, 1)
    assert gaps(dates) == {dt.timedelta(seconds=7)}
    assert all((d - utc(2000, 1, 1)) % dt.timedelta(seconds=7) == dt.timedelta(0) for d in dates)


# --------------------------------------------------------------------------- properties

ZONES = [ZoneInfo(k) for k in ("UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe")]
TRANSITIONS = [
    utc(2024, 3, 10, 7),
    utc(2024, 11, 3, 6),
    utc(2024, 3, 31, 1),
    utc(2024, 10, 27, 1),
    utc(2024, 4, 6, 15),  # Lord Howe falls back 30 minutes
    utc(2024, 10, 5, 15, 30),  # ... and springs forward 30 minutes
]

minutes = st.sampled_from(["*", "0", "30", "*/15", "5,35", "0-10/5", "59"])
hours = st.sampled_from(["*", "0", "1", "2", "*/3", "1-3", "9-17", "23"])
days_of_month = st.sampled_from(["*", "1", "10", "15", "28", "31", "1-7", "*/10"])
months = st.sampled_from(["*", "3", "10,11", "*/2", "2", "4-6", "JAN"])
days_of_week = st.sampled_from(["*", "0", "1-5", "6,0", "SUN", "3", "*/2"])
cron_exprs = st.tuples(minutes, hours, days_of_month, months, days_of_week).map(" ".join)
starts = st.one_of(
    st.builds(
        lambda base, minutes: base + dt.timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(-36 * 60, 12 * 60),
    ),
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2060, 1, 1), timezones=st.just(UTC)),
)


def cron_oracle(expr, day_or, tz, start, end):
    """Every firing in [start, end], computed independently by walking wall times."""
    elapsed = croniter(expr).expanded[1] == ["*"]
    low = start.astimezone(tz).replace(tzinfo=None) - dt.timedelta(hours=3)
    high = end.astimezone(tz).replace(tzinfo=None) + dt.timedelta(hours=3)
    found = set()
    for wall in croniter(expr, low, day_or=day_or).all_next(dt.datetime):
        if wall > high:
            break
        first = wall.replace(tzinfo=tz).utcoffset()
        second = wall.replace(tzinfo=tz, fold=1).utcoffset()
        if first == second or first > second or not elapsed:  # normal, fold, or shifted gap
            found.add(wall - first)
        if first > second and elapsed:
            found.add(wall - second)
    instants = sorted(x.replace(tzinfo=UTC) for x in found)
    return [x for x in instants if start <= x <= end]


def is_valid_cron(expr, day_or):
    try:
        CronSchedule(expr, day_or=day_or)
    except ValueError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=cron_exprs, day_or=st.booleans(), tz=st.sampled_from(ZONES), start=starts)
def test_cron_properties(expr, day_or, tz, start):
    assume(is_valid_cron(expr, day_or))
    s = CronSchedule(expr, timezone=tz.key, day_or=day_or)
    dates = s.get_dates(30, start=start)
    instants = [d.astimezone(UTC) for d in dates]
    assert dates, "a valid cron always has a next date"
    assert all(d.tzinfo is tz for d in dates)
    assert instants[0] >= start
    assert all(a < b for a, b in itertools.pairwise(instants))
    for d, instant in zip(dates, instants, strict=True):
        wall = d.replace(tzinfo=None)
        # each date matches the expression in local time, or is a gap time shifted forward
        before_gap = (
            instant.replace(tzinfo=None)
            + (instant - dt.timedelta(hours=6)).astimezone(tz).utcoffset()
        )
        assert croniter.match(expr, wall, day_or=day_or) or croniter.match(
            expr, before_gap, day_or=day_or
        )
    # and nothing is missed: compare with the wall-clock walk over the same span
    assert instants == cron_oracle(expr, day_or, tz, start, instants[-1])


@settings(max_examples=60, deadline=None)
@given(
    expr=cron_exprs,
    tz=st.sampled_from(ZONES),
    start=st.sampled_from(TRANSITIONS).map(lambda t: t - dt.timedelta(hours=20)),
)
def test_cron_window_matches_oracle_across_transitions(expr, tz, start):
    assume(is_valid_cron(expr, True))
    end = start + dt.timedelta(hours=40)
    dates = CronSchedule(expr, timezone=tz.key).get_dates(start=start, end=end)
    assert [d.astimezone(UTC) for d in dates] == cron_oracle(expr, True, tz, start, end)


@settings(max_examples=150, deadline=None)
@given(
    seconds=st.integers(1, 86_399),
    anchor=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2050, 1, 1), timezones=st.just(UTC)),
    tz=st.sampled_from(ZONES),
    start=starts,
)
def test_interval_properties(seconds, anchor, tz, start):
    interval = dt.timedelta(seconds=seconds)
    s = IntervalSchedule(interval=interval, anchor_date=anchor, timezone=tz.key)
    dates = s.get_dates(20, start=start)
    instants = [d.astimezone(UTC) for d in dates]
    assert len(dates) == 20
    assert all(d.tzinfo is tz for d in dates)
    assert instants[0] >= start > instants[0] - interval
    assert gaps(dates) == {interval}
    assert (instants[0] - anchor) % interval == dt.timedelta(0)


@settings(max_examples=60, deadline=None)
@given(
    days=st.integers(1, 10),
    anchor=st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1)),
    tz=st.sampled_from(ZONES),
    start=starts,
)
def test_calendar_interval_properties(days, anchor, tz, start):
    anchor = anchor.replace(microsecond=0)
    s = IntervalSchedule(interval=dt.timedelta(days=days), anchor_date=anchor, timezone=tz.key)
    dates = s.get_dates(15, start=start)
    instants = [d.astimezone(UTC) for d in dates]
    assert instants[0] >= start
    assert all(a < b for a, b in itertools.pairwise(instants))
    for d in dates:
        assert (d.date() - anchor.date()).days % days == 0
        wall = d.replace(tzinfo=None)
        if wall.time() != anchor.time():
            # only when the anchor's wall time does not exist that day (a DST gap)
            wanted = dt.datetime.combine(wall.date(), anchor.time())
            assert (
                wanted.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
                != wanted
            )


# How far back DTSTART may lie for each FREQ, so that dateutil's own linear walk (the
# reference) stays quick.
LOOKBACK = {
    "SECONDLY": dt.timedelta(hours=6),
    "MINUTELY": dt.timedelta(days=20),
    "HOURLY": dt.timedelta(days=3 * 365),
    "DAILY": dt.timedelta(days=9 * 365),
    "WEEKLY": dt.timedelta(days=9 * 365),
}


@settings(max_examples=80, deadline=None)
@given(
    freq=st.sampled_from(sorted(LOOKBACK)),
    interval=st.integers(1, 5),
    extra=st.sampled_from(
        ["", ";BYDAY=MO,TH", ";BYHOUR=3,15", ";BYMINUTE=0,20", ";BYSETPOS=1;BYDAY=TU,FR"]
    ),
    back=st.floats(0, 1),
    start=st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2024, 6, 1), timezones=st.just(UTC)),
)
def test_rrule_fast_forward_matches_dateutil(freq, interval, extra, back, start):
    assume(freq == "WEEKLY" or "BYSETPOS" not in extra)
    dtstart = (start - LOOKBACK[freq] * back).replace(tzinfo=None, microsecond=0)
    text = f"FREQ={freq};INTERVAL={interval}{extra}"
    try:
        reference = rrulestr(text, dtstart=dtstart)
    except ValueError:  # e.g. INTERVAL=2 from an even hour never meets BYHOUR=3
        with pytest.raises(ValueError, match="never fires"):
            RRuleSchedule(f"DTSTART:{dtstart:%Y%m%dT%H%M%S}Z\nRRULE:{text}")
        return
    s = RRuleSchedule(f"DTSTART:{dtstart:%Y%m%dT%H%M%S}Z\nRRULE:{text}")
    ours = [d.replace(tzinfo=None) for d in s.get_dates(10, start=start)]
    theirs = reference.xafter(start.replace(tzinfo=None), count=10, inc=True)
    assert ours == list(theirs)


# --------------------------------------------------------------------------- docs


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_docs_page_exists_with_examples():
    assert len(_python_blocks(DOCS.read_text())) >= 5


@pytest.mark.parametrize(
    "index", range(len(_python_blocks(DOCS.read_text()))) if DOCS.exists() else []
)
def test_docs_code_blocks_run(index):
    code = _python_blocks(DOCS.read_text())[index]
    exec(compile(code, f"{DOCS.name}[block {index}]", "exec"), {"__name__": "__docs__"})
