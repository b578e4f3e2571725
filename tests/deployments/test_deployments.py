"""``tideflow.deployments``: build_from_flow, apply, load, YAML, run_deployment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploykit import write_flow
from tideflow import flow
from tideflow.agent.code import load_flow_from_entrypoint
from tideflow.client import get_client
from tideflow.deployments import Deployment, run_deployment
from tideflow.exceptions import ObjectNotFound, ParameterTypeError, SignatureMismatchError
from tideflow.infrastructure.process import Process
from tideflow.orion.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from tideflow.schemas.actions import StateCreate
from tideflow.states import StateType

SOURCE = '''
from tideflow import flow

@flow(name="Data Processing Pipeline", version="1.0.0", retries=2, retry_delay_seconds=5)
def process_data(date: str = None, limit: int = 10):
    """Extracts, transforms, and loads data"""
    return date
'''


@pytest.fixture
def process_data(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_flow(tmp_path / "code", SOURCE, "pipeline.py")
    return load_flow_from_entrypoint("pipeline.py:process_data", tmp_path / "code")


def test_the_seed_example_builds_and_applies(process_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deployment = Deployment.build_from_flow(
        flow=process_data,
        name="daily-data-processing",
        version="1",
        schedule=CronSchedule("0 0 * * *"),
        infrastructure=Process(),
        tags=["production", "data-pipeline"],
        parameters={"date": None},
    )
    assert deployment.flow_name == "Data Processing Pipeline"
    assert deployment.entrypoint == "pipeline.py:process_data"
    assert deployment.path == str(tmp_path / "code")
    assert deployment.retries == 2 and deployment.retry_delay_seconds == 5
    assert deployment.description == "Extracts, transforms, and loads data"
    schema = deployment.parameter_openapi_schema or {}
    assert schema["properties"]["limit"]["type"] == "integer"
    deployment_id = deployment.apply()
    stored = get_client().read_deployment(deployment_id)
    assert stored.full_name == "Data Processing Pipeline/daily-data-processing"
    assert stored.schedule == CronSchedule("0 0 * * *")
    assert stored.tags == ["production", "data-pipeline"]
    assert stored.infrastructure["type"] == "process"
    # Applying again updates the same deployment.
    deployment.description = "changed"
    assert deployment.apply() == deployment_id
    assert get_client().read_deployment(deployment_id).description == "changed"


def test_parameters_are_checked_against_the_signature(process_data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureMismatchError, match=r"no parameter\(s\) \['dat'\]"):
        Deployment.build_from_flow(process_data, "x", parameters={"dat": "2024-01-01"})
    with pytest.raises(ParameterTypeError, match="'limit' got 'many'"):
        Deployment.build_from_flow(process_data, "x", parameters={"limit": "many"})
    ok = Deployment.build_from_flow(process_data, "x", parameters={"limit": "5"})
    assert ok.parameters == {"limit": "5"}


def test_run_deployment_merges_parameters_and_refuses_unknown_ones(process_data) -> None:  # type: ignore[no-untyped-def]
    Deployment.build_from_flow(process_data, "dep", parameters={"limit": 3}, apply=True)
    run = run_deployment("Data Processing Pipeline/dep", {"date": "2024-01-01"}, timeout=0)
    assert run.parameters == {"limit": 3, "date": "2024-01-01"}
    assert (run.state_type, run.work_queue_name) == (StateType.SCHEDULED, "default")
    assert run.retries == 2
    with pytest.raises(ValueError, match="unknown parameter"):
        run_deployment("Data Processing Pipeline/dep", {"nope": 1}, timeout=0)
    with pytest.raises(ObjectNotFound):
        run_deployment("Data Processing Pipeline/missing", timeout=0)
    with pytest.raises(ValueError, match="FLOW_NAME/DEPLOYMENT_NAME"):
        run_deployment("no-slash-here/", timeout=0)


def test_run_deployment_waits_for_a_final_state_up_to_its_timeout(process_data) -> None:  # type: ignore[no-untyped-def]
    Deployment.build_from_flow(process_data, "dep", apply=True)
    name = "Data Processing Pipeline/dep"
    pending = run_deployment(name, timeout=0.3, poll_interval=0.05)
    assert pending.state_type is StateType.SCHEDULED  # no agent: it times out
    client = get_client()

    def finish_soon() -> None:
        for _ in range(200):
            runs = [r for r in client.read_flow_runs() if r.idempotency_key == "k1"]
            if runs:
                client.set_flow_run_state(runs[0].id, StateCreate(type=StateType.RUNNING))
                client.set_flow_run_state(runs[0].id, StateCreate(type=StateType.COMPLETED))
                return
            threading.Event().wait(0.02)

    helper = threading.Thread(target=finish_soon)
    helper.start()
    done = run_deployment(name, idempotency_key="k1", timeout=30, poll_interval=0.05)
    helper.join()
    assert done.state_type is StateType.COMPLETED
    # The same idempotency key gives the same run.
    assert run_deployment(name, idempotency_key="k1", timeout=0).id == done.id


def test_scheduled_time_is_honoured(process_data) -> None:  # type: ignore[no-untyped-def]
    Deployment.build_from_flow(process_data, "dep", apply=True)
    when = datetime(2031, 5, 1, 9, tzinfo=UTC)
    run = run_deployment("Data Processing Pipeline/dep", scheduled_time=when, timeout=0)
    assert run.next_scheduled_start_time == when


def test_yaml_round_trip(process_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    deployment = Deployment.build_from_flow(
        process_data,
        "yaml",
        schedule=IntervalSchedule(interval=timedelta(hours=4), timezone="Europe/London"),
        parameters={"limit": 7},
        work_queue_name="etl",
        infrastructure=Process(env={"A": "1"}),
    )
    path = deployment.to_yaml(tmp_path / "d.yaml")
    loaded = Deployment.load_from_yaml(path)
    assert loaded == deployment
    rrule = deployment.model_copy(update={"schedule": RRuleSchedule("FREQ=DAILY;COUNT=3")})
    assert Deployment.load_from_yaml(rrule.to_yaml(tmp_path / "r.yaml")).schedule == (
        RRuleSchedule("FREQ=DAILY;COUNT=3")
    )


def test_load_fills_unset_fields_from_the_store(process_data) -> None:  # type: ignore[no-untyped-def]
    Deployment.build_from_flow(
        process_data, "stored", parameters={"limit": 4}, work_queue_name="q1", apply=True
    )
    partial = Deployment(name="stored", flow_name="Data Processing Pipeline", tags=["mine"])
    assert partial.load() is True
    assert partial.id is not None
    assert partial.parameters == {"limit": 4}
    assert partial.work_queue_name == "q1"
    assert partial.tags == ["mine"]  # set here, kept
    assert Deployment(name="absent", flow_name="x").load() is False


def test_a_flow_without_a_source_file_needs_path_and_entrypoint() -> None:
    namespace: dict[str, object] = {"flow": flow}
    exec("@flow\ndef interactive():\n    pass\n", namespace)
    with pytest.raises(ValueError, match="source file"):
        Deployment.build_from_flow(namespace["interactive"], "x")  # type: ignore[arg-type]
