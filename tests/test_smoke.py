"""The seed's 5-minute hello flow, end to end on the embedded store."""

from __future__ import annotations

from tideflow import flow, task
from tideflow.client import get_client
from tideflow.schemas.filters import TaskRunFilter


@task
def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@flow
def hello_flow(name: str = "world") -> str:
    result = say_hello(name)
    print(result)
    return result


def test_hello_flow_runs_and_is_recorded() -> None:
    assert hello_flow("MLOps Zoomcamp") == "Hello, MLOps Zoomcamp!"
    client = get_client()
    (run,) = client.read_flow_runs()
    assert run.flow_name == "hello-flow"
    assert run.state_name == "Completed"
    assert run.parameters == {"name": "MLOps Zoomcamp"}
    (task_run,) = client.read_task_runs(TaskRunFilter(flow_run_id_any=[run.id]))
    assert task_run.state_name == "Completed"
    history = [s.name for s in client.read_task_run_states(task_run.id)]
    assert history == ["Pending", "Running", "Completed"]
    assert [s.name for s in client.read_flow_run_states(run.id)] == [
        "Pending",
        "Running",
        "Completed",
    ]
