"""A context for tasks called outside any flow: they still run and are recorded (as
task runs that belong to no flow run)."""

from __future__ import annotations

from tideflow.client import get_client
from tideflow.engine.context import FlowRunContext
from tideflow.engine.recorder import get_recorder
from tideflow.settings import get_settings
from tideflow.task_runners import SequentialTaskRunner


def _no_flow() -> None:
    """Placeholder flow for task runs outside any flow."""


def standalone_context() -> FlowRunContext:
    """A throwaway context whose task runs have no flow run."""
    from tideflow.flows import Flow

    settings = get_settings()
    client = get_client()
    return FlowRunContext(
        flow=Flow(_no_flow, name="(no flow)"),
        flow_run_id=None,  # type: ignore[arg-type]
        flow_run_name="",
        parameters={},
        client=client,
        recorder=get_recorder(client, settings.flush_interval),
        task_runner=SequentialTaskRunner(),
        log_prints=False,
    )
