"""SchedulerService: the horizon, no duplicates, catch-up, schedule changes (SQLite and
PostgreSQL), under a clock the tests set."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tideflow.schemas.actions import StateCreate
from tideflow.schemas.deployments import DeploymentCreate, DeploymentUpdate
from tideflow.server.database import tables as t
from tideflow.server.database.engine import Database
from tideflow.server.models import deployments, flow_runs, scheduling
from tideflow.server.services.scheduler import SchedulerService
from tideflow.states import StateType

T0 = datetime(2024, 3, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    yield database
    database.dispose()


def _deploy(db: Database, name: str = "dep", **fields: Any) -> str:
    with db.write() as conn:
        return deployments.upsert_deployment(
            conn, DeploymentCreate(flow_name="etl", name=name, **fields), now=T0
        ).id


def _runs(db: Database, deployment_id: str) -> list[dict[str, Any]]:
    run = t.FlowRun.__table__
    with db.read() as conn:
        rows = conn.execute(
            select(run)
            .where(run.c.deployment_id == deployment_id)
            .order_by(run.c.expected_start_time)
        ).mappings()
        return [dict(r) for r in rows]


def _times(db: Database, deployment_id: str) -> list[datetime]:
    return [r["expected_start_time"] for r in _runs(db, deployment_id)]


def test_keeps_the_next_100_runs_or_7_days_whichever_is_fewer(db: Database) -> None:
    hourly = _deploy(db, "hourly", schedule={"cron": "0 * * * *"})
    daily = _deploy(db, "daily", schedule={"cron": "0 0 * * *"})
    service = SchedulerService(db, clock=lambda: T0)
    result = service.run_pass()
    assert result.deployments == 2
    hours = _times(db, hourly)
    assert len(hours) == 100
    assert hours[0] == datetime(2024, 3, 1, 1, tzinfo=UTC)
    assert hours[-1] == datetime(2024, 3, 5, 4, tzinfo=UTC)
    days = _times(db, daily)
    assert days == [datetime(2024, 3, d, tzinfo=UTC) for d in range(2, 9)]
    assert result.runs_created == 107
    # The same pass again creates nothing; an hour later one run tops the horizon up.
    assert service.run_pass(T0).runs_created == 0
    assert service.run_pass(T0 + timedelta(hours=1)).runs_created == 1
    assert _times(db, hourly)[-1] == datetime(2024, 3, 5, 5, tzinfo=UTC)


def test_runs_carry_the_deployment_and_a_unique_idempotency_key(db: Database) -> None:
    dep = _deploy(
        db,
        schedule={"interval": 3600},
        parameters={"n": 1},
        tags=["nightly"],
        work_queue_name="etl-queue",
        retries=2,
    )
    SchedulerService(db).run_pass(T0)
    run = _runs(db, dep)[0]
    assert run["state_type"] == "SCHEDULED" and run["state_name"] == "Scheduled"
    assert run["parameters"] == {"n": 1}
    assert run["tags"] == ["nightly"]
    assert run["work_queue_name"] == "etl-queue"
    assert run["retries"] == 2
    assert run["auto_scheduled"] is True
    assert run["idempotency_key"] == f"scheduled {dep} 2024-03-01T01:00:00+00:00"
    assert run["next_scheduled_start_time"] == run["expected_start_time"]
    with db.read() as conn:
        history = flow_runs.read_flow_run_states(conn, run["id"])
    assert [s.name for s in history] == ["Scheduled"]


def test_two_schedulers_at_once_make_no_duplicates(db: Database) -> None:
    ids = [_deploy(db, f"dep-{i}", schedule={"cron": "*/15 * * * *"}) for i in range(6)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            SchedulerService(db, page_size=2).run_pass(T0)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    for dep in ids:
        times = _times(db, dep)
        assert len(times) == 100
        assert len(set(times)) == 100


def test_a_restart_in_the_middle_of_a_pass_makes_no_duplicates(db: Database) -> None:
    ids = [_deploy(db, f"dep-{i}", schedule={"interval": 600}) for i in range(3)]
    # The first process scheduled one page (one deployment) and died.
    with db.write() as conn:
        page, after = scheduling.schedule_runs(conn, T0, page_size=1)
    assert page.deployments == 1 and after is not None
    # Its replacement starts over from the beginning, a few seconds later.
    SchedulerService(db).run_pass(T0 + timedelta(seconds=5))
    for dep in ids:
        times = _times(db, dep)
        assert len(times) == len(set(times)) == 100


def test_reapplying_the_same_deployment_keeps_its_runs(db: Database) -> None:
    dep = _deploy(db, schedule={"cron": "0 * * * *"})
    SchedulerService(db).run_pass(T0)
    before = {r["id"] for r in _runs(db, dep)}
    assert _deploy(db, schedule={"cron": "0 * * * *"}, description="new words") == dep
    SchedulerService(db).run_pass(T0)
    assert {r["id"] for r in _runs(db, dep)} == before


def test_changing_the_schedule_replaces_unstarted_runs_only(db: Database) -> None:
    dep = _deploy(db, schedule={"cron": "0 * * * *"})
    SchedulerService(db).run_pass(T0)
    first = _runs(db, dep)[0]
    with db.write() as conn:  # this one has started: it stays
        flow_runs.set_flow_run_state(conn, first["id"], StateCreate(type=StateType.RUNNING))
    _deploy(db, schedule={"cron": "30 * * * *"})
    remaining = _runs(db, dep)
    assert [r["id"] for r in remaining] == [first["id"]]
    SchedulerService(db).run_pass(T0)
    times = [r["expected_start_time"] for r in _runs(db, dep) if r["id"] != first["id"]]
    assert len(times) == 100 and all(t_.minute == 30 for t_ in times)


def test_pausing_deletes_unstarted_runs_and_resuming_schedules_from_now(db: Database) -> None:
    dep = _deploy(db, schedule={"cron": "0 * * * *"})
    service = SchedulerService(db)
    service.run_pass(T0)
    with db.write() as conn:
        deployments.update_deployment(conn, dep, DeploymentUpdate(is_schedule_active=False))
    assert _runs(db, dep) == []
    assert service.run_pass(T0 + timedelta(days=3)).runs_created == 0
    with db.write() as conn:
        deployments.update_deployment(conn, dep, DeploymentUpdate(is_schedule_active=True))
    later = T0 + timedelta(days=10)
    created = service.run_pass(later)
    assert created.runs_created == 100 and created.runs_skipped == 0
    assert _times(db, dep)[0] == datetime(2024, 3, 11, 1, tzinfo=UTC)


def test_catch_up_latest_creates_the_newest_missed_run_and_counts_the_rest(
    db: Database,
) -> None:
    dep = _deploy(db, schedule={"cron": "0 * * * *"})
    service = SchedulerService(db)
    service.run_pass(T0)  # materialised up to 2024-03-05 04:00
    down_until = datetime(2024, 3, 10, 12, 0, 30, tzinfo=UTC)
    result = service.run_pass(down_until)
    missed = [r for r in _runs(db, dep) if r["state_message"]]
    assert len(missed) == 1
    run = missed[0]
    assert run["expected_start_time"] == datetime(2024, 3, 10, 12, tzinfo=UTC)
    # 2024-03-05 05:00 .. 2024-03-10 11:00 were skipped: 5 days and 7 hours.
    assert run["state_details"]["skipped_runs"] == 5 * 24 + 7 == result.runs_skipped
    assert "127 earlier missed run(s) were skipped" in run["state_message"]


@pytest.mark.parametrize(("catchup", "missed_runs"), [("all", 10), ("none", 0)])
def test_catch_up_all_or_none(db: Database, catchup: str, missed_runs: int) -> None:
    dep = _deploy(db, schedule={"interval": 60}, catchup=catchup)
    service = SchedulerService(db, max_runs=5)
    service.run_pass(T0)  # up to T0 + 5 minutes
    later = T0 + timedelta(minutes=15)
    service.run_pass(later)
    times = _times(db, dep)
    past = [x for x in times if T0 + timedelta(minutes=5) < x < later]
    assert len(past) == missed_runs
    assert len(times) == len(set(times))


def test_rrule_count_makes_exactly_count_runs_across_restarts(db: Database) -> None:
    dep = _deploy(db, schedule={"rrule": "FREQ=DAILY;COUNT=5"})
    with db.read() as conn:
        stored = deployments.read_deployment(conn, dep).schedule
    assert stored is not None and stored.rrule.startswith("DTSTART:20240301T000030Z")
    for day in range(0, 12, 2):  # a new scheduler process every other day
        SchedulerService(db, max_runs=2).run_pass(T0 + timedelta(days=day))
    assert _times(db, dep) == [T0 + timedelta(days=d) for d in range(5)]


def test_an_rrule_without_dtstart_is_anchored_once(db: Database) -> None:
    _deploy(db, schedule={"rrule": "FREQ=DAILY;COUNT=3"})
    with db.write() as conn:
        later = T0 + timedelta(days=2)
        again = deployments.upsert_deployment(
            conn,
            DeploymentCreate(flow_name="etl", name="dep", schedule={"rrule": "FREQ=DAILY;COUNT=3"}),
            now=later,
        )
    assert again.schedule is not None
    assert again.schedule.rrule == "DTSTART:20240301T000030Z\nFREQ=DAILY;COUNT=3"


def test_a_schedule_that_never_fires_is_refused_at_creation() -> None:
    with pytest.raises(ValidationError, match="never fires"):
        DeploymentCreate(flow_name="etl", name="dep", schedule={"cron": "0 0 30 2 *"})


def test_backfill_creates_past_runs_once(db: Database) -> None:
    dep = _deploy(db, schedule={"cron": "0 6 * * *"})
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 10, 23, tzinfo=UTC)
    with db.write() as conn:
        assert scheduling.backfill_runs(conn, dep, start, end, now=T0) == (10, 10)
    with db.write() as conn:
        assert scheduling.backfill_runs(conn, dep, start, end, now=T0) == (0, 10)
    runs = _runs(db, dep)
    assert [r["expected_start_time"].day for r in runs] == list(range(1, 11))
    assert all(r["state_details"]["backfill"] for r in runs)
    assert Counter(r["idempotency_key"] for r in runs).most_common(1)[0][1] == 1
    with db.write() as conn, pytest.raises(ValueError, match="must be after start"):
        scheduling.backfill_runs(conn, dep, end, start, now=T0)


def test_deleting_a_deployment_deletes_its_unstarted_runs(db: Database) -> None:
    dep = _deploy(db, schedule={"interval": 3600})
    SchedulerService(db).run_pass(T0)
    with db.write() as conn:
        deployments.delete_deployment(conn, dep)
    assert _runs(db, dep) == []


def test_deployments_without_a_schedule_are_skipped(db: Database) -> None:
    plain = _deploy(db, "plain")
    timed = _deploy(db, "timed", schedule={"interval": 3600})
    with db.write() as conn:  # a schedule removed later is skipped too
        deployments.update_deployment(conn, timed, DeploymentUpdate(schedule=None))
    cron = _deploy(db, "cron", schedule={"cron": "0 0 * * *"})
    result = SchedulerService(db).run_pass(T0)
    assert result.deployments == 1 and result.runs_created == 7
    assert _runs(db, plain) == [] and _runs(db, timed) == [] and len(_runs(db, cron)) == 7


def test_an_unanchored_rrule_keeps_its_first_date_when_the_first_pass_is_late(
    db: Database,
) -> None:
    # Anchored at T0 rounded up to the second (00:00:30); the scheduler's first pass
    # comes two seconds later, after that first date.
    dep = _deploy(db, schedule={"rrule": "FREQ=DAILY;COUNT=3"})
    SchedulerService(db).run_pass(T0 + timedelta(seconds=2))
    assert _times(db, dep) == [T0 + timedelta(days=d) for d in range(3)]


def test_a_long_outage_is_counted_up_to_a_cap_and_catches_up_with_the_latest(
    db: Database,
) -> None:
    dep = _deploy(db, schedule={"interval": 60}, catchup="latest")
    service = SchedulerService(db, max_runs=2)
    service.run_pass(T0)
    back = T0 + timedelta(days=30, seconds=10)  # 43,000 minutes later
    result = service.run_pass(back)
    assert result.runs_skipped == scheduling.MAX_COUNTED_MISSES - 1
    caught_up = [r for r in _runs(db, dep) if r["state_message"]]
    assert [r["expected_start_time"] for r in caught_up] == [back - timedelta(seconds=40)]
    assert "at least 9999 earlier missed run(s)" in caught_up[0]["state_message"]
