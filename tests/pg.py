"""A throwaway PostgreSQL cluster for tests: ``initdb`` into a temp dir, ``pg_ctl`` start
on 127.0.0.1 and a free port, drop everything on stop.

Used by ``tests/server/conftest.py`` (one cluster per test session when
``TIDEFLOW_TEST_POSTGRES_URL`` is not given) and runnable as a script
(``python tests/pg.py start DIR`` prints the URL; ``python tests/pg.py stop DIR``).
PostgreSQL refuses to run as root, so when we are root the binaries run as the
``postgres`` OS user through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SEARCH_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries or the ``postgres`` user are missing."""


def find_binary(name: str) -> str:
    """Path of a PostgreSQL binary (``initdb``, ``pg_ctl``, ``psql``)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    raise PostgresUnavailable(
        f"{name} not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install PostgreSQL (Debian: apt-get install postgresql)"
    )


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresCluster:
    """One cluster in ``directory`` listening on 127.0.0.1:``port``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None, port: int | None = None):
        # A fresh directory under the system temp dir by default: the ``postgres`` user
        # must be able to reach it, which pytest's private tmp dirs do not allow.
        self.directory = Path(directory or tempfile.mkdtemp(prefix="tideflow-pg-"))
        self.port = port or free_port()
        self.data = self.directory / "data"
        self.user = "postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresCluster:
        """initdb (first time), then start the server and wait until it accepts connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(
                find_binary("initdb"), "-D", str(self.data), "-U", self.user,
                "--auth=trust", "--encoding=UTF8", "--no-sync",
            )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run(
            find_binary("pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "postgres.log"), "-w", "-t", "60", "start",
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            log = (self.directory / "postgres.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")
        return self

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (dropping an old one) and return its URL."""
        create_database(self.url(), name)
        return self.url(name)

    def stop(self, *, remove: bool = True) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                find_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop",
                check=False,
            )  # fmt: skip
        if remove:
            shutil.rmtree(self.directory, ignore_errors=True)


def create_database(admin_url: str, name: str) -> None:
    """``DROP DATABASE IF EXISTS name; CREATE DATABASE name`` through ``admin_url``."""
    import psycopg

    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://", 1)
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(dsn, autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _main(argv: list[str]) -> int:
    """``pg.py start`` prints ``DIRECTORY URL``; ``pg.py stop DIRECTORY`` removes it."""
    if argv[1:2] == ["start"] and len(argv) == 2:
        cluster = PostgresCluster().start()
        print(cluster.directory, cluster.create_database("tideflow_test"))
        return 0
    if argv[1:2] == ["stop"] and len(argv) == 3:
        PostgresCluster(argv[2], port=1).stop()
        return 0
    print("usage: pg.py start | pg.py stop DIRECTORY", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
