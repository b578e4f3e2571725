"""Start a tideflow server for the HTTP scenarios, on a free loopback port.

``tideflow server start --port P`` is used when the CLI has it; until then (the CLI
group lands separately) the same app is served by ``python -m benchmarks._server``,
which runs ``tideflow.server.app.create_app`` under uvicorn exactly as the CLI would.
The server gets its own ``TIDEFLOW_HOME`` (so its own SQLite file) unless a database
URL is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks._harness import REPO, BenchError, clean_env, free_port, temp_home

STARTUP_TIMEOUT = 60.0


def unavailable() -> str | None:
    """Why the HTTP scenarios cannot run here, or None if they can."""
    if importlib.util.find_spec("tideflow.server.app") is None:
        return "no tideflow.server.app yet"
    if importlib.util.find_spec("uvicorn") is None:
        return "uvicorn is not installed"
    return None


def _cli_has_server() -> bool:
    return importlib.util.find_spec("tideflow.cli.server") is not None


def server_command(port: int) -> list[str]:
    """How the server is started: the CLI when it has ``server start``."""
    if _cli_has_server():
        exe = Path(sys.executable).with_name("tideflow")
        return [str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "benchmarks._server", "--port", str(port)]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def tideflow_server(database_url: str | None = None) -> Iterator[str]:
    """A running server; yields its API URL (``http://127.0.0.1:P/api``)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with temp_home("tideflow-bench-server-") as home:
        env = clean_env(TIDEFLOW_HOME=str(home), TIDEFLOW_LOGGING_LEVEL="WARNING")
        if database_url:
            env["TIDEFLOW_DATABASE_URL"] = database_url
        log_path = home / "server.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                server_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                deadline = time.monotonic() + STARTUP_TIMEOUT
                while not _healthy(base):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = "\n".join(log_path.read_text().splitlines()[-15:])
                        raise BenchError(f"server did not start on {base}:\n{tail}")
                    time.sleep(0.05)
                yield f"{base}/api"
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main() -> None:
    """Serve ``create_app()`` (settings from the environment) with uvicorn."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvicorn

    from tideflow.server.app import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
