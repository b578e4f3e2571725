"""A cron deployment's run fires and completes under a controllable clock: the
scheduler and the agent both take the test's clock; the flow runs in a real subprocess.
Once on the embedded store, once through a real uvicorn server (HTTP client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploykit import agent_thread, deploy, wait_final
from serverkit import LiveServer
from tideflow.client import get_client
from tideflow.client.http import HttpClient
from tideflow.orion.schemas.schedules import CronSchedule
from tideflow.schemas.filters import FlowRunFilter
from tideflow.schemas.sorting import FlowRunSort
from tideflow.server.app import create_app
from tideflow.server.database.engine import get_database
from tideflow.server.services.scheduler import SchedulerService
from tideflow.settings import get_settings, reload_settings
from tideflow.states import StateType

pytestmark = pytest.mark.e2e

NIGHTLY = """
from pathlib import Path
from tideflow import flow

@flow
def nightly(out: str):
    Path(out).write_text("ran")
"""

SCHEDULER_NOW = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
#: just after the first 5-minute mark
AGENT_NOW = datetime(2030, 1, 1, 0, 5, 1, tzinfo=UTC)


def _fires_and_completes(tmp_path: Path, client: object) -> None:
    out = tmp_path / "out.txt"
    # Created now, first scheduled in 2030: "none" skips the years in between.
    deployment = deploy(
        tmp_path / "code", NIGHTLY, "nightly", schedule=CronSchedule("*/5 * * * *"),
        parameters={"out": str(out)}, catchup="none",
    )  # fmt: skip
    database = get_database(get_settings().database_url)
    created = SchedulerService(database).run_pass(SCHEDULER_NOW)
    assert created.runs_created == 100
    store = get_client()
    first = store.read_flow_runs(
        FlowRunFilter(deployment_id_any=[deployment.id or ""]),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=2,
    )
    assert first[0].expected_start_time == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    with agent_thread(client=client, clock=lambda: AGENT_NOW, prefetch_seconds=0):
        done = wait_final(first[0].id, timeout=90)
    assert done.state_type is StateType.COMPLETED, done.state_message
    assert out.read_text() == "ran"
    # The next run (00:10) was not due on the agent's clock: still Scheduled.
    assert store.read_flow_run(first[1].id).state_type is StateType.SCHEDULED


def test_a_cron_run_fires_and_completes_on_the_embedded_store(tmp_path: Path) -> None:
    _fires_and_completes(tmp_path, get_client())


def test_a_cron_run_fires_and_completes_through_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = LiveServer(create_app(get_settings().database_url, services=[])).start()
    try:
        with HttpClient(server.url) as http:
            # The agent and its flow process talk HTTP; the test reads the same database.
            monkeypatch.setenv("TIDEFLOW_API_URL", server.url)
            _fires_and_completes(tmp_path, http)
    finally:
        server.stop()
        monkeypatch.delenv("TIDEFLOW_API_URL")
        reload_settings()


def test_a_missed_schedule_catches_up_with_the_latest_run_only(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    deployment = deploy(
        tmp_path / "code", NIGHTLY, "nightly", schedule=CronSchedule("0 * * * *"),
        parameters={"out": str(out)},
    )  # fmt: skip
    database = get_database(get_settings().database_url)
    # The first pass, years after the deployment was made, catches up with the latest
    # hour (2030-01-01 00:00), skipping at least MAX_COUNTED_MISSES - 1 others.
    first = SchedulerService(database, max_runs=3).run_pass(SCHEDULER_NOW)
    assert first.runs_created == 4 and first.runs_skipped >= 9_999
    # The scheduler was down for a day.
    SchedulerService(database, max_runs=3).run_pass(SCHEDULER_NOW + timedelta(days=1))
    runs = get_client().read_flow_runs(
        FlowRunFilter(deployment_id_any=[deployment.id or ""]), limit=50
    )
    caught_up = sorted(
        (r for r in runs if r.state_details and r.state_details.get("skipped_runs")),
        key=lambda r: r.expected_start_time or datetime.min.replace(tzinfo=UTC),
    )
    assert [r.expected_start_time for r in caught_up] == [
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 2, tzinfo=UTC),
    ]
    assert "at least 9999" in (caught_up[0].state_message or "")
    assert caught_up[1].state_details is not None
    assert caught_up[1].state_details["skipped_runs"] == 20
