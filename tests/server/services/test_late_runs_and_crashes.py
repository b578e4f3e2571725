"""MarkLateRunsService and CrashDetectorService under a clock the tests set (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import FlowRun
from tideflow.schemas.deployments import ClaimRequest, DeploymentCreate, DeploymentFlowRunCreate
from tideflow.server.database import tables as t
from tideflow.server.database.engine import Database
from tideflow.server.models import deployments, flow_runs, work_queues
from tideflow.server.services.crash_detector import CrashDetectorService
from tideflow.server.services.late_runs import MarkLateRunsService
from tideflow.states import StateType

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _run(db: Database, when: datetime = T0, **deployment: Any) -> FlowRun:
    with db.write() as conn:
        dep = deployments.upsert_deployment(
            conn, DeploymentCreate(flow_name="etl", name="dep", **deployment)
        )
        return deployments.create_flow_run_from_deployment(
            conn, dep.id, DeploymentFlowRunCreate(scheduled_time=when)
        )


def _read(db: Database, run_id: str) -> FlowRun:
    with db.read() as conn:
        return flow_runs.read_flow_run(conn, run_id)


def _start(db: Database, run_id: str, at: datetime) -> None:
    with db.write() as conn:
        result = flow_runs.set_flow_run_state(
            conn, run_id, StateCreate(type=StateType.RUNNING, timestamp=at)
        )
        assert result.status == "ACCEPT"
        conn.execute(
            update(t.FlowRun.__table__)
            .where(t.FlowRun.__table__.c.id == run_id)
            .values(heartbeat=at)
        )


def test_scheduled_runs_past_the_threshold_become_late(db: Database) -> None:
    run = _run(db)
    service = MarkLateRunsService(db, late_after=timedelta(seconds=15))
    assert service.run_pass(T0 + timedelta(seconds=10)) == []
    assert service.run_pass(T0 + timedelta(seconds=20)) == [run.id]
    late = _read(db, run.id)
    assert (late.state_type, late.state_name) == (StateType.SCHEDULED, "Late")
    assert late.next_scheduled_start_time == T0
    assert service.run_pass(T0 + timedelta(minutes=5)) == []  # once only
    # A late run is still claimable.
    with db.write() as conn:
        claimed = work_queues.claim_flow_runs(conn, ClaimRequest(work_queue_names=["default"]))
    assert [r.id for r in claimed] == [run.id]


def test_a_silent_running_run_is_crashed(db: Database) -> None:
    run = _run(db)
    _start(db, run.id, T0)
    detector = CrashDetectorService(db, crash_after_seconds=30)
    assert detector.run_pass(T0 + timedelta(seconds=20)).crashed == []
    report = detector.run_pass(T0 + timedelta(seconds=31))
    assert report.crashed == [run.id] and report.retried == []
    crashed = _read(db, run.id)
    assert crashed.state_type is StateType.CRASHED
    assert "No heartbeat for 31s" in (crashed.state_message or "")
    assert crashed.heartbeat is None


def test_a_crashed_run_with_retries_left_is_scheduled_again(db: Database) -> None:
    run = _run(db, retries=1, retry_delay_seconds=5)
    _start(db, run.id, T0)
    detector = CrashDetectorService(db, crash_after_seconds=30)
    now = T0 + timedelta(minutes=1)
    assert detector.run_pass(now).retried == [run.id]
    again = _read(db, run.id)
    assert (again.state_type, again.state_name) == (StateType.SCHEDULED, "AwaitingRetry")
    assert again.next_scheduled_start_time == now + timedelta(seconds=5)
    with db.read() as conn:
        names = [s.name for s in flow_runs.read_flow_run_states(conn, run.id)]
    # (the clock here is in the past, so the run's real-time Scheduled state sorts last)
    assert [n for n in names if n != "Scheduled"][-2:] == ["Crashed", "AwaitingRetry"]
    # The second attempt crashes too: no retries left, it stays Crashed.
    with db.write() as conn:
        assert work_queues.claim_flow_runs(
            conn, ClaimRequest(work_queue_names=["default"]), now=now + timedelta(seconds=6)
        )
    _start(db, run.id, now + timedelta(seconds=7))
    report = detector.run_pass(now + timedelta(minutes=2))
    assert report.crashed == [run.id] and report.retried == []
    assert _read(db, run.id).state_type is StateType.CRASHED


def test_a_claimed_run_whose_agent_died_goes_back_to_its_queue(db: Database) -> None:
    run = _run(db)
    with db.write() as conn:
        claimed = work_queues.claim_flow_runs(
            conn, ClaimRequest(work_queue_names=["default"]), now=T0
        )
    assert [r.state_name for r in claimed] == ["Pending"]
    report = CrashDetectorService(db, crash_after_seconds=30).run_pass(T0 + timedelta(minutes=1))
    assert report.released == [run.id]
    released = _read(db, run.id)
    assert released.state_type is StateType.SCHEDULED and released.heartbeat is None
    with db.write() as conn:
        again = work_queues.claim_flow_runs(conn, ClaimRequest(work_queue_names=["default"]))
    assert [r.id for r in again] == [run.id]


def test_a_silent_cancelling_run_ends_cancelled(db: Database) -> None:
    run = _run(db)
    _start(db, run.id, T0)
    with db.write() as conn:
        flow_runs.set_flow_run_state(conn, run.id, StateCreate(type=StateType.CANCELLING))
    report = CrashDetectorService(db, crash_after_seconds=30).run_pass(T0 + timedelta(minutes=1))
    assert report.cancelled == [run.id]
    assert _read(db, run.id).state_type is StateType.CANCELLED


def test_runs_outside_deployments_are_crashed_but_never_retried(db: Database) -> None:
    from tideflow.schemas.actions import FlowRunCreate

    with db.write() as conn:
        run = flow_runs.create_flow_run(
            conn,
            FlowRunCreate(flow_name="script", retries=3, state=StateCreate(type=StateType.PENDING)),
        )
    _start(db, run.id, T0)
    report = CrashDetectorService(db, crash_after_seconds=30).run_pass(T0 + timedelta(minutes=1))
    assert report.crashed == [run.id] and report.retried == []
