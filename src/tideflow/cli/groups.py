"""The list of command groups. Add one line per new group module."""

from __future__ import annotations

import importlib

import typer

#: (command name, module path); each module defines `app: typer.Typer`.
GROUPS: list[tuple[str, str]] = [
    ("flow-run", "tideflow.cli.flow_runs"),
    ("config", "tideflow.cli.config"),
    ("concurrency-limit", "tideflow.cli.concurrency_limits"),
    ("server", "tideflow.cli.server"),
    ("deployment", "tideflow.cli.deployments"),
    ("agent", "tideflow.cli.agent"),
    ("block", "tideflow.cli.blocks"),
    ("work-queue", "tideflow.cli.work_queues"),
]


def all_groups() -> list[tuple[str, typer.Typer]]:
    """Every group whose module exists (groups are added as features land)."""
    out = []
    for name, module in GROUPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        out.append((name, mod.app))
    return out
