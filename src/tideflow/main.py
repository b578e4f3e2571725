"""``make run`` (``python -m tideflow.main``): run the bundled ETL example on the
embedded store, then show how to read its history.

Runs are recorded in ``$TIDEFLOW_HOME`` (default ``~/.tideflow``). Run it twice to see
the cached transform steps on the second run.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.text import Text

from tideflow.cli._output import console, err_console, format_duration, run_duration, state_text
from tideflow.client import get_client
from tideflow.schemas.filters import FlowRunFilter, TaskRunFilter
from tideflow.settings import get_settings

#: ``examples/etl_pipeline.py`` of a source checkout (src/tideflow/main.py -> repo root).
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "etl_pipeline.py"


def run_example(path: Path = EXAMPLE) -> str:
    """Run the example's ``etl_pipeline`` flow; returns its flow run id."""
    if not path.is_file():
        raise FileNotFoundError(
            f"The bundled example {path} is missing; run `make run` from a source checkout."
        )
    namespace: dict[str, Any] = runpy.run_path(str(path), run_name="tideflow_example")
    pipeline = namespace["etl_pipeline"]
    pipeline(return_state=True)
    client = get_client()
    (run,) = client.read_flow_runs(FlowRunFilter(flow_name_any=[pipeline.name]), limit=1)
    return run.id


def cli_command() -> str:
    """How to call the ``tideflow`` command from here: its name when it is on PATH,
    else the script next to this interpreter (e.g. ``.venv/bin/tideflow``)."""
    script = Path(sys.executable).parent / "tideflow"
    found = shutil.which("tideflow")
    if not script.exists() or (found and Path(found).resolve() == script.resolve()):
        return "tideflow"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def print_summary(flow_run_id: str) -> bool:
    """Print the run's outcome and the commands that read its history; True if it
    completed."""
    client = get_client()
    run = client.read_flow_run(flow_run_id)
    task_runs = client.read_task_runs(TaskRunFilter(flow_run_id_any=[flow_run_id]))
    counts: dict[str, int] = {}
    for tr in task_runs:
        counts[tr.state_name or "-"] = counts.get(tr.state_name or "-", 0) + 1
    tasks = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    console.print()
    console.print(
        Text.assemble(
            "Flow run ",
            (run.name, "bold"),
            f" of '{run.flow_name}' finished ",
            state_text(run.state_type, run.state_name),
            f" in {format_duration(run_duration(run.start_time, run.end_time))}",
            f" ({len(task_runs)} task runs: {tasks}).",
        )
    )
    console.print(f"Recorded in {get_settings().database_url}")
    console.print("\nRead its history:", style="bold")
    cli = cli_command()
    for command in (
        f"{cli} flow-run ls",
        f"{cli} flow-run inspect {run.id}",
        f"{cli} flow-run logs {run.id}",
    ):
        console.print(f"  {command}", style="cyan")
    if os.environ.get("TIDEFLOW_HOME"):
        console.print(f"  (with TIDEFLOW_HOME={os.environ['TIDEFLOW_HOME']}, as for this run)")
    console.print("Run `make run` again: the transform steps come back Cached.", style="dim")
    return run.state_type is not None and run.state_type.value == "COMPLETED"


def main() -> int:
    """Run the example and print where to look; the exit status says if it completed."""
    try:
        flow_run_id = run_example()
    except FileNotFoundError as exc:
        err_console.print(f"Error: {exc}", style="red")
        return 1
    return 0 if print_summary(flow_run_id) else 1


if __name__ == "__main__":
    sys.exit(main())
