"""``python -m tideflow.agent.run_flow FLOW_RUN_ID``: execute one deployment run.

The agent starts this in the flow's code directory (``TIDEFLOW_FLOW_CODE_DIR`` when the
working directory differs). It loads the deployment's entrypoint and runs the flow run
with its stored parameters, validated, through the engine, which claims the run (a
second process trying the same run stops at once) and heartbeats while it runs.

Signals:

- SIGTERM cancels: the run ends ``Cancelled`` and the flow's ``on_cancellation`` hooks
  run here, in the flow process.
- SIGINT interrupts: the run ends ``Crashed`` and ``on_crashed`` hooks run.
- When ``TIDEFLOW_AGENT_PID`` is set and that agent dies (even by SIGKILL), this
  process kills its own process group within about a second; the crash detector then
  marks the run Crashed (and retries it if it has retries left).

Exit codes: 0 completed, 1 ended in another final state, 2 could not load the flow,
3 the run was not ours to run (already claimed, cancelled or finished).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from tideflow.agent._exits import (
    EXIT_COMPLETED,
    EXIT_LOAD_FAILED,
    EXIT_NOT_CLAIMED,
    EXIT_NOT_COMPLETED,
)
from tideflow.agent.code import FlowLoadError, load_flow_from_entrypoint
from tideflow.client import get_client
from tideflow.engine.flow_engine import run_existing_flow_run
from tideflow.engine.hooks import run_hooks
from tideflow.exceptions import CancelledRun, OrchestrationRejected, RunAlreadyClaimed
from tideflow.flows import Flow
from tideflow.schemas.actions import StateCreate
from tideflow.schemas.core import FlowRun
from tideflow.states import TERMINAL_STATES, StateType

_log = logging.getLogger("tideflow.agent.run_flow")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once only: a second SIGTERM during clean-up must not interrupt the clean-up.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise CancelledRun("the flow process received SIGTERM (cancellation)")


def _watch_agent(agent_pid: int, interval: float = 0.5) -> None:
    """Kill this process group when the agent that started us is gone."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != agent_pid:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="tideflow-agent-watchdog", daemon=True).start()


def _fail(flow_run_id: str, message: str) -> None:
    client = get_client()
    client.set_flow_run_state(flow_run_id, StateCreate(type=StateType.FAILED, message=message))


def _finish_cancelled(flow: Flow[..., Any], flow_run: FlowRun, reason: str) -> None:
    """The cancellation reached us outside the engine's reach (an async flow's event
    loop, or before it started): record Cancelled and run the hooks here."""
    client = get_client()
    current = client.read_flow_run(flow_run.id)
    if current.state_type in TERMINAL_STATES:
        return
    result = client.set_flow_run_state(
        flow_run.id,
        StateCreate(type=StateType.CANCELLED, message=f"Flow run was cancelled: {reason}"),
    )
    if result.state is not None and flow.on_cancellation:
        run_hooks(flow.on_cancellation, flow, current, result.state.to_state(), "on_cancellation")


def run(flow_run_id: str) -> int:
    """Execute one flow run; the process exit code (see the module doc)."""
    client = get_client()
    flow_run = client.read_flow_run(flow_run_id)
    if flow_run.deployment_id is None:
        print(f"Flow run {flow_run_id} does not belong to a deployment", file=sys.stderr)
        return EXIT_LOAD_FAILED
    if flow_run.state_type in TERMINAL_STATES:
        print(f"Flow run {flow_run.name!r} is already {flow_run.state_name}", file=sys.stderr)
        return EXIT_NOT_CLAIMED
    deployment = client.read_deployment(flow_run.deployment_id)
    base = Path(os.environ.get("TIDEFLOW_FLOW_CODE_DIR") or Path.cwd())
    try:
        flow = load_flow_from_entrypoint(deployment.entrypoint or "", base)
    except FlowLoadError as exc:
        message = f"Could not load the flow of deployment {deployment.full_name!r}: {exc}"
        print(message, file=sys.stderr)
        _fail(flow_run_id, message)
        return EXIT_LOAD_FAILED
    try:
        state = run_existing_flow_run(flow, flow_run)
    except RunAlreadyClaimed as exc:
        print(f"Not running flow run {flow_run.name!r}: {exc}", file=sys.stderr)
        return EXIT_NOT_CLAIMED
    except OrchestrationRejected as exc:
        print(f"Flow run {flow_run.name!r} was refused: {exc}", file=sys.stderr)
        return EXIT_NOT_CLAIMED
    except CancelledRun as exc:
        _finish_cancelled(flow, flow_run, str(exc))
        return EXIT_NOT_COMPLETED
    return EXIT_COMPLETED if state.type is StateType.COMPLETED else EXIT_NOT_COMPLETED


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m tideflow.agent.run_flow [FLOW_RUN_ID]``."""
    args = sys.argv[1:] if argv is None else argv
    flow_run_id = args[0] if args else os.environ.get("TIDEFLOW_FLOW_RUN_ID")
    if not flow_run_id:
        print("usage: python -m tideflow.agent.run_flow FLOW_RUN_ID", file=sys.stderr)
        return EXIT_LOAD_FAILED
    agent_pid = os.environ.get("TIDEFLOW_AGENT_PID")
    if agent_pid and agent_pid.isdigit():
        _watch_agent(int(agent_pid))
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(flow_run_id)
    except CancelledRun:
        return EXIT_NOT_COMPLETED
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        return EXIT_NOT_COMPLETED


if __name__ == "__main__":
    sys.exit(main())
