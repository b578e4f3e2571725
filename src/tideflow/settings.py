"""Process-wide settings read from the environment and the active profile.

Settings are read lazily and cached; ``reload_settings()`` re-reads them (tests and the
CLI's ``config set`` use it). Environment variables win over the profile file
``$TIDEFLOW_HOME/profiles.toml``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PROFILE_KEYS = {
    "api_url": "TIDEFLOW_API_URL",
    "api_key": "TIDEFLOW_API_KEY",
    "database_url": "TIDEFLOW_DATABASE_URL",
    "logging_level": "TIDEFLOW_LOGGING_LEVEL",
}


def home_dir() -> Path:
    """The directory holding the embedded database, results and profiles."""
    return Path(os.environ.get("TIDEFLOW_HOME") or Path.home() / ".tideflow").expanduser()


def profile_path() -> Path:
    """Where ``tideflow config set`` persists values."""
    return home_dir() / "profiles.toml"


@dataclass(frozen=True, slots=True)
class Settings:
    """A snapshot of tideflow's configuration.

    Attributes:
        home: ``TIDEFLOW_HOME`` (default ``~/.tideflow``).
        api_url: ``TIDEFLOW_API_URL``; when set, runs are reported to that server.
        api_key: ``TIDEFLOW_API_KEY``; sent as a bearer token / required by the server.
        database_url: ``TIDEFLOW_DATABASE_URL``; default SQLite file in ``home``.
        logging_level: ``TIDEFLOW_LOGGING_LEVEL`` for the console (default INFO).
        flush_interval: seconds between write-behind flushes of task runs and logs.
        heartbeat_seconds: how often a running flow run heartbeats.
        crash_after_seconds: a running flow run without heartbeat for this long is Crashed.
    """

    home: Path
    api_url: str | None = None
    api_key: str | None = None
    database_url: str = ""
    logging_level: str = "INFO"
    flush_interval: float = 0.2
    heartbeat_seconds: float = 30.0
    crash_after_seconds: float = 90.0
    extra: dict[str, Any] = field(default_factory=dict)


def _read_profile() -> dict[str, Any]:
    path = profile_path()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Profile file {path} is not valid TOML: {exc}") from exc
    return dict(data.get("default", {}))


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def load_settings() -> Settings:
    """Read settings from the environment, falling back to the profile file."""
    profile = _read_profile()
    home = home_dir()
    values: dict[str, Any] = {}
    for key, env in _PROFILE_KEYS.items():
        raw = os.environ.get(env)
        if raw is None:
            raw = profile.get(key.replace("_", "-"), profile.get(key))
        if raw not in (None, ""):
            values[key] = str(raw)
    database_url = values.pop("database_url", None) or f"sqlite:///{home / 'tideflow.db'}"
    return Settings(
        home=home,
        database_url=database_url,
        # Over HTTP the flow's final flush waits for the server to take the last batch,
        # so smaller, earlier batches shorten the end of every flow run.
        flush_interval=_float_env(
            "TIDEFLOW_FLUSH_INTERVAL", 0.05 if values.get("api_url") else 0.2
        ),
        heartbeat_seconds=_float_env("TIDEFLOW_HEARTBEAT_SECONDS", 30.0),
        crash_after_seconds=_float_env("TIDEFLOW_CRASH_AFTER_SECONDS", 90.0),
        **values,
    )


_cached: Settings | None = None


def get_settings() -> Settings:
    """The current settings (read once per process, see ``reload_settings``)."""
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def reload_settings() -> Settings:
    """Forget cached settings and read them again."""
    global _cached
    _cached = None
    return get_settings()


def write_profile_value(key: str, value: str | None) -> Path:
    """Persist ``key`` (one of api-url, api-key, database-url, logging-level) in the profile."""
    norm = key.replace("_", "-")
    valid = sorted(k.replace("_", "-") for k in _PROFILE_KEYS)
    if norm not in valid:
        raise ValueError(f"Unknown setting {key!r}; expected one of {', '.join(valid)}")
    data = _read_profile()
    data = {k.replace("_", "-"): v for k, v in data.items()}
    if value is None:
        data.pop(norm, None)
    else:
        data[norm] = value
    path = profile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["[default]"] + [f"{k} = {_toml_str(v)}" for k, v in sorted(data.items())]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    reload_settings()
    return path


def _toml_str(value: Any) -> str:
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def setting_names() -> list[str]:
    """Names accepted by ``tideflow config set``."""
    return sorted(k.replace("_", "-") for k in _PROFILE_KEYS)


__all__ = [
    "Settings",
    "get_settings",
    "home_dir",
    "load_settings",
    "profile_path",
    "reload_settings",
    "setting_names",
    "write_profile_value",
]
