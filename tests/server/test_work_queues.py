"""Work queues and agents' claims (SQLite and PostgreSQL): each run to one claimant,
paused queues skipped, concurrency limits honoured."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tideflow.exceptions import ObjectAlreadyExists
from tideflow.schemas.deployments import (
    ClaimRequest,
    DeploymentCreate,
    DeploymentFlowRunCreate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from tideflow.server.database.engine import Database
from tideflow.server.models import deployments, work_queues
from tideflow.states import StateType

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _runs(db: Database, n: int, queue: str = "default", start: datetime = NOW) -> list[str]:
    with db.write() as conn:
        dep = deployments.upsert_deployment(
            conn, DeploymentCreate(flow_name="etl", name=f"dep-{queue}", work_queue_name=queue)
        )
        return [
            deployments.create_flow_run_from_deployment(
                conn, dep.id, DeploymentFlowRunCreate(scheduled_time=start + timedelta(seconds=i))
            ).id
            for i in range(n)
        ]


def _claim(
    db: Database, *queues: str, limit: int = 10, before: datetime | None = None
) -> list[str]:
    with db.write() as conn:
        runs = work_queues.claim_flow_runs(
            conn,
            ClaimRequest(
                work_queue_names=list(queues), limit=limit, scheduled_before=before or NOW
            ),
            now=NOW,
        )
    assert all(r.state_type is StateType.PENDING and r.heartbeat == NOW for r in runs)
    return [r.id for r in runs]


def test_claims_due_runs_earliest_first_once(db: Database) -> None:
    ids = _runs(db, 5)
    assert _claim(db, "default", limit=2, before=NOW + timedelta(seconds=3)) == ids[:2]
    assert _claim(db, "default", before=NOW + timedelta(seconds=3)) == ids[2:4]
    assert _claim(db, "default", before=NOW + timedelta(seconds=3)) == []
    assert _claim(db, "default", before=NOW + timedelta(hours=1)) == ids[4:]


def test_a_retried_claim_gets_back_its_own_runs_and_no_others(db: Database) -> None:
    ids = _runs(db, 4)
    request = ClaimRequest(work_queue_names=["default"], limit=2, scheduled_before=NOW)
    request = request.model_copy(update={"scheduled_before": NOW + timedelta(hours=1)})
    with db.write() as conn:
        first = [r.id for r in work_queues.claim_flow_runs(conn, request, now=NOW)]
    # The same request again, as an HTTP client resends it after a lost response.
    with db.write() as conn:
        again = [r.id for r in work_queues.claim_flow_runs(conn, request, now=NOW)]
    assert first == again == ids[:2]
    # A new claim (a new id) takes the rest.
    assert _claim(db, "default", before=NOW + timedelta(hours=1)) == ids[2:]


def test_paused_queues_are_skipped(db: Database) -> None:
    ids = _runs(db, 2, "etl")
    with db.write() as conn:
        work_queues.update_work_queue(conn, "etl", WorkQueueUpdate(is_paused=True))
    assert _claim(db, "etl") == []
    with db.write() as conn:
        work_queues.update_work_queue(conn, "etl", WorkQueueUpdate(is_paused=False))
    assert _claim(db, "etl", before=NOW + timedelta(minutes=1)) == ids


def test_queue_concurrency_limits_count_active_runs(db: Database) -> None:
    ids = _runs(db, 4, "limited")
    later = NOW + timedelta(minutes=1)
    with db.write() as conn:
        work_queues.update_work_queue(conn, "limited", WorkQueueUpdate(concurrency_limit=2))
    assert _claim(db, "limited", before=later) == ids[:2]
    assert _claim(db, "limited", before=later) == []
    with db.read() as conn:
        status = work_queues.work_queue_status(conn, "limited")
    assert (status.active_runs, status.scheduled_runs) == (2, 2)


def test_many_claimants_never_share_a_run(db: Database) -> None:
    ids = _runs(db, 40)
    got: list[list[str]] = []
    barrier = threading.Barrier(6)

    def claimant() -> None:
        mine: list[str] = []
        barrier.wait()
        while True:
            batch = _claim(db, "default", limit=3, before=NOW + timedelta(minutes=1))
            if not batch:
                break
            mine.extend(batch)
        got.append(mine)

    threads = [threading.Thread(target=claimant) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    claimed = [run_id for mine in got for run_id in mine]
    assert sorted(claimed) == sorted(ids)


def test_polling_creates_queues_and_names_are_unique(db: Database) -> None:
    assert _claim(db, "fresh") == []
    with db.read() as conn:
        assert work_queues.read_work_queue_by_name(conn, "fresh").last_polled == NOW
    with db.write() as conn, pytest.raises(ObjectAlreadyExists):
        work_queues.create_work_queue(conn, WorkQueueCreate(name="fresh"))


def test_work_queue_api_round_trip(api: httpx.Client) -> None:
    created = api.post("/work_queues", json={"name": "gpu", "concurrency_limit": 1})
    assert created.status_code == 201, created.text
    assert api.post("/work_queues", json={"name": "gpu"}).status_code == 409
    bad = api.post("/work_queues", json={"name": "a/b"})
    assert bad.status_code == 422 and "a/b" in bad.text
    patched = api.patch("/work_queues/name/gpu", json={"is_paused": True}).json()
    assert patched["is_paused"] is True and patched["concurrency_limit"] == 1
    status = api.get("/work_queues/name/gpu/status").json()
    assert status["scheduled_runs"] == 0
    assert [q["name"] for q in api.post("/work_queues/filter", json={}).json()] == ["gpu"]
    assert api.delete("/work_queues/name/gpu").status_code == 204
    assert api.get("/work_queues/name/gpu").status_code == 404


def test_deployment_api_round_trip(api: httpx.Client) -> None:
    body = {"flow_name": "etl", "name": "nightly", "schedule": {"cron": "0 0 * * *"},
            "parameter_openapi_schema": {"properties": {"n": {}}}}  # fmt: skip
    dep = api.post("/deployments", json=body).json()
    assert api.get("/deployments/name/etl/nightly").json()["id"] == dep["id"]
    never = api.post("/deployments", json={**body, "schedule": {"cron": "0 0 30 2 *"}})
    assert never.status_code == 422 and "never fires" in never.text
    run = api.post(f"/deployments/{dep['id']}/create_flow_run", json={"parameters": {"n": 2}})
    assert run.status_code == 201 and run.json()["state_type"] == "SCHEDULED"
    unknown = api.post(f"/deployments/{dep['id']}/create_flow_run", json={"parameters": {"x": 1}})
    assert unknown.status_code == 422 and "unknown parameter" in unknown.text
    claimed = api.post("/work_queues/claim", json={"work_queue_names": ["default"]}).json()
    assert [r["id"] for r in claimed] == [run.json()["id"]]
    backfill = api.post(
        f"/deployments/{dep['id']}/backfill",
        json={"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-03T00:00:00+00:00"},
    ).json()
    assert backfill == {"created": 3, "total": 3}
    paused = api.patch(f"/deployments/{dep['id']}", json={"is_schedule_active": False}).json()
    assert paused["is_schedule_active"] is False
    assert api.delete(f"/deployments/{dep['id']}").status_code == 204
