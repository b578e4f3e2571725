"""``tideflow config``: set, unset and view settings.

``set`` and ``unset`` edit the profile file ``$TIDEFLOW_HOME/profiles.toml``;
environment variables (``TIDEFLOW_API_URL`` ...) still win over it, and ``view`` says
where each effective value came from.
"""

from __future__ import annotations

import os
import tomllib
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tideflow.cli._output import (
    bad_parameter,
    console,
    err_console,
    fail,
    join_choices,
    print_json,
)
from tideflow.settings import (
    Settings,
    load_settings,
    profile_path,
    setting_names,
    write_profile_value,
)

app = typer.Typer(
    name="config",
    help="Set, unset and view tideflow's settings (saved in $TIDEFLOW_HOME/profiles.toml).",
    no_args_is_help=True,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: setting name -> environment variable (the profile keys first, then env-only ones)
ENV_VARS: dict[str, str] = {
    "api-url": "TIDEFLOW_API_URL",
    "api-key": "TIDEFLOW_API_KEY",
    "database-url": "TIDEFLOW_DATABASE_URL",
    "logging-level": "TIDEFLOW_LOGGING_LEVEL",
    "home": "TIDEFLOW_HOME",
    "flush-interval": "TIDEFLOW_FLUSH_INTERVAL",
    "heartbeat-seconds": "TIDEFLOW_HEARTBEAT_SECONDS",
    "crash-after-seconds": "TIDEFLOW_CRASH_AFTER_SECONDS",
}

KeyArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(setting_names())}.")]


def _check_key(key: str) -> str:
    norm = key.strip().lower().replace("_", "-")
    if norm not in setting_names():
        bad_parameter(
            f"{key!r} is not a setting. Valid keys: {join_choices(setting_names())}.", "KEY"
        )
    return norm


def validate_value(key: str, value: str) -> str:
    """The value to store for ``key``; exits 2 with what was expected when it is bad."""
    value = value.strip()
    if not value:
        bad_parameter(f"{key} cannot be empty; use `tideflow config unset {key}`.", "VALUE")
    if key == "logging-level":
        upper = value.upper()
        if upper not in LOG_LEVELS:
            bad_parameter(
                f"{value!r} is not a logging level. Valid values: {join_choices(LOG_LEVELS)}.",
                "VALUE",
            )
        return upper
    if key == "api-url" and not value.startswith(("http://", "https://")):
        bad_parameter(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:4200/api.", "VALUE")
    if key == "database-url":
        try:
            make_url(value)
        except ArgumentError:
            bad_parameter(
                f"{value!r} is not a database URL, e.g. sqlite:////path/tideflow.db or "
                "postgresql+psycopg://user:password@host/db.",
                "VALUE",
            )
    return value


def mask_secret(value: str) -> str:
    """``********`` plus the last 4 characters of a long secret."""
    if len(value) <= 12:
        return "********"
    return "********" + value[-4:]


def mask_url(url: str) -> str:
    """A database URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _profile_values() -> dict[str, Any]:
    try:
        with profile_path().open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        fail(f"Profile file {profile_path()} is not valid TOML: {exc}")
    return {str(k).replace("_", "-"): v for k, v in dict(data.get("default", {})).items()}


def _warn_env_override(key: str) -> None:
    env = ENV_VARS[key]
    if os.environ.get(env):
        err_console.print(
            f"Note: {env} is set in the environment and takes precedence over the profile.",
            style="yellow",
        )


@app.command("set")
def set_(key: KeyArg, value: Annotated[str, typer.Argument(help="The new value.")]) -> None:
    """Save a setting in the profile."""
    norm = _check_key(key)
    stored = validate_value(norm, value)
    path = write_profile_value(norm, stored)
    shown = mask_secret(stored) if norm == "api-key" else mask_url(stored)
    console.print(f"Set {norm} = {shown} in {path}")
    _warn_env_override(norm)


@app.command("unset")
def unset(key: KeyArg) -> None:
    """Remove a setting from the profile (back to its default)."""
    norm = _check_key(key)
    if norm not in _profile_values():
        console.print(f"{norm} is not set in {profile_path()}; nothing to do.")
        return
    path = write_profile_value(norm, None)
    console.print(f"Unset {norm} in {path}")
    _warn_env_override(norm)


def effective_settings(show_secrets: bool = False) -> list[dict[str, Any]]:
    """Each setting with its effective value and where it came from."""
    try:
        settings: Settings = load_settings()
    except ValueError as exc:
        fail(str(exc))
    profile = _profile_values()
    rows: list[dict[str, Any]] = []
    for key, env in ENV_VARS.items():
        value: Any = getattr(settings, key.replace("-", "_"))
        if os.environ.get(env):
            source = f"env ({env})"
        elif key in profile:
            source = "profile"
        else:
            source = "default"
        if value is not None and not show_secrets:
            if key == "api-key":
                value = mask_secret(str(value))
            elif key == "database-url":
                value = mask_url(str(value))
        if key == "home":
            value = str(value)
        rows.append({"key": key, "value": value, "source": source, "env": env})
    return rows


@app.command("view")
def view(
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Show the API key and passwords unmasked.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the effective settings and where each one comes from."""
    rows = effective_settings(show_secrets)
    if as_json:
        print_json({row["key"]: row["value"] for row in rows})
        return
    table = Table(
        title=f"Settings (profile: {profile_path()})", title_justify="left", header_style="bold"
    )
    table.add_column("Setting", no_wrap=True)
    table.add_column("Value")
    table.add_column("Source", no_wrap=True)
    for row in rows:
        value = row["value"]
        text = Text("(not set)", style="dim") if value is None else Text(str(value))
        table.add_row(row["key"], text, Text(row["source"], style="dim"))
    console.print(table)
