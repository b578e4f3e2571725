"""``tideflow server``: run the API server and manage its database.

``start`` serves the REST API (``/api``, OpenAPI docs at ``/docs``) with uvicorn after
applying migrations. ``database upgrade|downgrade|reset|vacuum`` work on the database of
``TIDEFLOW_DATABASE_URL`` (default: the embedded SQLite file); ``vacuum`` goes through
the client, so it also works against a remote server.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import timedelta
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.engine import make_url

from tideflow.cli._output import bad_parameter, console, fail
from tideflow.client import get_client
from tideflow.server.app import create_app
from tideflow.server.database.engine import Database
from tideflow.server.database.migrate import HEAD_REVISION, current_revision, downgrade, upgrade
from tideflow.settings import get_settings

app = typer.Typer(
    name="server",
    help="Run the tideflow server and manage its database.",
    no_args_is_help=True,
)
database_app = typer.Typer(
    name="database",
    help="Upgrade, downgrade, reset or vacuum the server's database.",
    no_args_is_help=True,
)
app.add_typer(database_app, name="database")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` -> a positive ``timedelta``.

    Raises:
        ValueError: for anything else.
    """
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a duration; expected a positive number followed by "
            "s, m, h, d or w (e.g. 30d, 12h, 90m)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def is_loopback(host: str) -> bool:
    """Whether ``host`` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def bind_refusal(host: str, api_key: str | None, insecure: bool) -> str | None:
    """Why serving on ``host`` is refused (None when it is allowed)."""
    if is_loopback(host) or api_key or insecure:
        return None
    return (
        f"Refusing to serve on {host!r} without authentication: anyone who can reach it "
        "could read and change your runs. Set TIDEFLOW_API_KEY, bind 127.0.0.1, or pass "
        "--insecure."
    )


@app.command()
def start(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=0, max=65535)] = 4200,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback address without TIDEFLOW_API_KEY.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the API (and docs at /docs) after applying database migrations."""
    settings = get_settings()
    refusal = bind_refusal(host, settings.api_key, insecure)
    if refusal:
        fail(refusal, code=2)
    try:
        server_app = create_app(settings.database_url, settings.api_key)
    except Exception as exc:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        fail(f"Cannot open the database {url}: {exc}")
    auth = "API key required" if settings.api_key else "no API key"
    console.print(
        f"tideflow server on http://{host}:{port} (API /api, docs /docs, {auth}); "
        f"database {server_app.state.database.safe_url}"
    )
    uvicorn.run(server_app, host=host, port=port, log_level=log_level, access_log=access_log)


def _database() -> Database:
    return Database(get_settings().database_url)


def _confirm(question: str, yes: bool) -> None:
    if not yes and not typer.confirm(question):
        fail("Aborted.")


@database_app.command("upgrade")
def database_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    db = _database()
    upgrade(db, revision)
    console.print(f"Database {db.safe_url} is at revision {current_revision(db)}.")


@database_app.command("downgrade")
def database_downgrade(
    revision: Annotated[str, typer.Option(help="Target revision ('base' removes all).")] = "-1",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Undo migrations down to REVISION (default: one step). May delete data."""
    db = _database()
    _confirm(f"Downgrade {db.safe_url} to {revision}? Data in dropped tables is lost.", yes)
    downgrade(db, revision)
    console.print(f"Database {db.safe_url} is at revision {current_revision(db) or 'base'}.")


@database_app.command("reset")
def database_reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop every table and recreate the schema: all runs, logs and limits are deleted."""
    db = _database()
    _confirm(f"Delete ALL data in {db.safe_url}?", yes)
    downgrade(db, "base")
    upgrade(db, "head")
    console.print(f"Database {db.safe_url} reset (revision {HEAD_REVISION}).")


@database_app.command("vacuum")
def database_vacuum(
    older_than: Annotated[
        str, typer.Option(help="Age of finished runs to delete, e.g. 30d, 12h, 90m.")
    ] = "30d",
) -> None:
    """Delete finished flow runs older than --older-than, with their task runs and logs.

    Runs that are scheduled, pending, running, paused or cancelling are never deleted.
    """
    try:
        age = parse_duration(older_than)
    except ValueError as exc:
        bad_parameter(str(exc), "'--older-than'")
    deleted = get_client().vacuum(age)
    console.print(f"Deleted {deleted} finished flow run(s) older than {older_than}.")
