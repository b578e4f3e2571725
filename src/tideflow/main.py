"""``make run`` (``python -m tideflow.main``): run the bundled ETL example on the
embedded store, show how to read its history, then serve the API (with its scheduler
services) on the same database until Ctrl-C.

Runs are recorded in ``$TIDEFLOW_HOME`` (default ``~/.tideflow``). Run it twice to see
the cached transform steps on the second run. ``--no-server`` stops after the example;
``--host``/``--port`` choose where the server listens (default 127.0.0.1:4200).
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import socket
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


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def serve(host: str, port: int) -> int:
    """Serve the API on the embedded database until interrupted."""
    from tideflow.cli.server import start

    if not _port_free(host, port):
        err_console.print(
            f"Error: {host}:{port} is already in use (another tideflow server?). "
            "Choose another with `make run ARGS='--port 4201'`, or skip the server with "
            "`--no-server`.",
            style="red",
        )
        return 2
    console.print(
        f"\nServing the API on http://{host}:{port} (docs at /docs); Ctrl-C to stop.",
        style="bold",
    )
    start(host=host, port=port, insecure=False, log_level="warning", access_log=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the example, print where to look, then serve; non-zero if the example failed."""
    parser = argparse.ArgumentParser(prog="python -m tideflow.main", description=__doc__)
    parser.add_argument("--no-server", action="store_true", help="stop after the example")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default loopback)")
    parser.add_argument("--port", type=int, default=4200, help="server port (default 4200)")
    args = parser.parse_args(argv)
    try:
        flow_run_id = run_example()
    except FileNotFoundError as exc:
        err_console.print(f"Error: {exc}", style="red")
        return 1
    if not print_summary(flow_run_id):
        return 1
    if args.no_server:
        return 0
    return serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
