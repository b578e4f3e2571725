"""Flow-run list pages: every filter x sort x page gives exactly the rows a plain sort
of all matching runs gives (the query is split per state and per started/not started
so each part can walk an index; this proves the split changes nothing)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tideflow.schemas.actions import FlowRunCreate, StateCreate
from tideflow.schemas.core import FlowRun
from tideflow.schemas.filters import FlowRunFilter, FlowRunSort
from tideflow.server.database.engine import get_database
from tideflow.server.models import flow_runs
from tideflow.states import StateType

BASE = datetime(2030, 1, 1, tzinfo=UTC)
STATES = ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CRASHED"]


def _key(sort: FlowRunSort) -> Any:
    def key(run: FlowRun) -> tuple[Any, ...]:
        if sort in (FlowRunSort.START_TIME_DESC, FlowRunSort.START_TIME_ASC):
            seconds = run.start_time.timestamp() if run.start_time else 0.0
            sign = -1 if sort is FlowRunSort.START_TIME_DESC else 1
            return (run.start_time is None, sign * seconds, run.id)
        column, descending = {
            FlowRunSort.EXPECTED_START_TIME_ASC: ("expected_start_time", False),
            FlowRunSort.EXPECTED_START_TIME_DESC: ("expected_start_time", True),
            FlowRunSort.CREATED_DESC: ("created", True),
            FlowRunSort.NAME_ASC: ("name", False),
        }[sort]
        value = getattr(run, column)
        if isinstance(value, datetime):
            value = value.timestamp() * (-1 if descending else 1)
        return (value, run.id)

    return key


@pytest.fixture
def runs(database_url: str) -> list[FlowRun]:
    rng = random.Random(7)
    db = get_database(database_url)
    with db.write() as conn:
        for _ in range(120):
            target = rng.choice(STATES)
            run = flow_runs.create_flow_run(
                conn,
                FlowRunCreate(
                    flow_name=rng.choice("ab"),
                    expected_start_time=BASE + timedelta(minutes=rng.randint(0, 30)),
                    state=StateCreate(type=StateType.PENDING),
                ),
            )
            if target in ("RUNNING", "COMPLETED", "FAILED", "CRASHED"):
                # few distinct start times, so ties are broken by id
                started = BASE + timedelta(minutes=rng.randint(0, 20))
                state = StateCreate(type=StateType.RUNNING, timestamp=started)
                flow_runs.set_flow_run_state(conn, run.id, state, force=True)
            if target not in ("PENDING", "RUNNING"):
                state = StateCreate(type=StateType(target))
                flow_runs.set_flow_run_state(conn, run.id, state, force=True)
        return flow_runs.read_flow_runs(conn, limit=1000)


@pytest.mark.parametrize(
    "states", [None, ["COMPLETED"], ["FAILED", "CRASHED"], ["SCHEDULED", "COMPLETED", "PENDING"]]
)
def test_pages_equal_a_plain_sort(
    database_url: str, runs: list[FlowRun], states: list[str] | None
) -> None:
    flt = FlowRunFilter(state_type_any=states) if states else None  # type: ignore[arg-type]
    matching = [r for r in runs if states is None or (r.state_type and r.state_type in states)]
    db = get_database(database_url)
    with db.read() as conn:
        for sort in FlowRunSort:
            expected = [r.id for r in sorted(matching, key=_key(sort))]
            for limit, offset in [(50, 0), (7, 13), (200, 0), (10, len(matching) - 5)]:
                page = flow_runs.read_flow_runs(conn, flt, sort=sort, limit=limit, offset=offset)
                assert [r.id for r in page] == expected[offset : offset + limit], (sort, offset)
