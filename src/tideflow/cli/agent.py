"""``tideflow agent start``: run the flow runs of work queues on this machine.

SIGTERM or Ctrl-C stops it gracefully: it claims nothing more, hands back runs it had
not started, waits ``--shutdown-grace`` seconds for running flows, then interrupts them
and records them Crashed.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from tideflow.agent import Agent
from tideflow.cli._output import console, fail
from tideflow.client import get_client
from tideflow.settings import get_settings

app = typer.Typer(name="agent", help="Run agents that execute deployments' flow runs.")


@app.command("start")
def start(
    work_queue: Annotated[
        list[str],
        typer.Option("--work-queue", "-q", help="A work queue to poll (repeatable)."),
    ],
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", min=1, help="Most flow runs at once.")
    ] = None,
    prefetch_seconds: Annotated[
        float,
        typer.Option("--prefetch-seconds", min=0, help="Claim runs due this far ahead."),
    ] = 10.0,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.05, help="Seconds between polls.")
    ] = 5.0,
    shutdown_grace: Annotated[
        float,
        typer.Option("--shutdown-grace", min=0, help="On stop: seconds running flows get."),
    ] = 30.0,
    cancel_grace: Annotated[
        float,
        typer.Option("--cancel-grace", min=0, help="On cancel: seconds before SIGKILL."),
    ] = 10.0,
    name: Annotated[str | None, typer.Option("--name", help="A name for this agent.")] = None,
) -> None:
    """Poll work queues and run their flow runs in subprocesses."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.logging_level.upper(),
        format="%(asctime)s | %(levelname)-7s | %(name)s - %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        agent = Agent(
            work_queue,
            limit=limit,
            prefetch_seconds=prefetch_seconds,
            poll_interval=poll_interval,
            shutdown_grace_seconds=shutdown_grace,
            cancel_grace_seconds=cancel_grace,
            client=get_client(),
            name=name,
        )
    except ValueError as exc:
        fail(str(exc), 2)
    console.print(
        f"Agent started, polling work queue(s) {', '.join(agent.work_queues)} "
        f"on {agent.client.location}. Stop it with Ctrl-C or SIGTERM."
    )
    agent.start(install_signal_handlers=True)
    console.print("Agent stopped.")
