"""``tideflow config``: set, unset, view; validation, masking, env precedence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tideflow.cli.main import app
from tideflow.settings import get_settings, profile_path, reload_settings

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def profile() -> dict[str, Any]:
    with profile_path().open("rb") as fh:
        return dict(tomllib.load(fh)["default"])


@pytest.fixture(autouse=True)
def no_logging_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # conftest quiets run logs through TIDEFLOW_LOGGING_LEVEL; these tests need the
    # profile to be the only source unless a test sets a variable itself.
    monkeypatch.delenv("TIDEFLOW_LOGGING_LEVEL", raising=False)
    reload_settings()


def view_json() -> dict[str, Any]:
    result = invoke("config", "view", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_set_writes_the_profile_and_takes_effect(tideflow_home: Path) -> None:
    result = invoke("config", "set", "logging-level", "debug")
    assert result.exit_code == 0, result.output
    assert "Set logging-level = DEBUG" in flat(result.stdout)
    assert profile_path() == tideflow_home / "profiles.toml"
    assert profile() == {"logging-level": "DEBUG"}
    assert get_settings().logging_level == "DEBUG"
    assert invoke("config", "set", "api-url", "http://127.0.0.1:4200/api").exit_code == 0
    assert profile() == {"logging-level": "DEBUG", "api-url": "http://127.0.0.1:4200/api"}
    assert get_settings().api_url == "http://127.0.0.1:4200/api"


def test_unset(tideflow_home: Path) -> None:
    invoke("config", "set", "logging-level", "ERROR")
    invoke("config", "set", "api-key", "abc")
    result = invoke("config", "unset", "logging-level")
    assert result.exit_code == 0, result.output
    assert profile() == {"api-key": "abc"}
    assert get_settings().logging_level == "INFO"
    again = invoke("config", "unset", "logging-level")
    assert again.exit_code == 0
    assert "not set" in again.stdout


def test_view_shows_effective_values_and_sources(
    tideflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = view_json()
    assert data["home"] == str(tideflow_home)
    assert data["database-url"] == f"sqlite:///{tideflow_home / 'tideflow.db'}"
    assert data["logging-level"] == "INFO"
    assert data["api-url"] is None and data["api-key"] is None
    assert data["flush-interval"] == 0.2
    invoke("config", "set", "logging-level", "warning")
    monkeypatch.setenv("TIDEFLOW_HEARTBEAT_SECONDS", "5")
    result = invoke("config", "view")
    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert "logging-level WARNING profile" in out
    assert "heartbeat-seconds 5.0 env (TIDEFLOW_HEARTBEAT_SECONDS)" in out
    assert "api-url (not set) default" in out


def test_api_key_and_database_password_are_masked(tideflow_home: Path) -> None:
    secret = "tf-key-0123456789abcdef"
    set_key = invoke("config", "set", "api-key", secret)
    assert set_key.exit_code == 0
    assert secret not in set_key.stdout
    url = "postgresql+psycopg://tide:s3cret@db.local/tideflow"
    assert invoke("config", "set", "database-url", url).exit_code == 0
    data = view_json()
    assert data["api-key"] == "********cdef"
    assert "s3cret" not in data["database-url"] and "db.local" in data["database-url"]
    human = invoke("config", "view").stdout
    assert secret not in human and "s3cret" not in human
    shown = json.loads(invoke("config", "view", "--json", "--show-secrets").stdout)
    assert shown["api-key"] == secret
    assert shown["database-url"] == url
    # Short keys reveal nothing at all.
    invoke("config", "set", "api-key", "short")
    assert view_json()["api-key"] == "********"


def test_environment_wins_and_set_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEFLOW_LOGGING_LEVEL", "ERROR")
    result = invoke("config", "set", "logging-level", "DEBUG")
    assert result.exit_code == 0
    assert "TIDEFLOW_LOGGING_LEVEL is set in the environment" in flat(result.stderr)
    assert profile() == {"logging-level": "DEBUG"}
    assert view_json()["logging-level"] == "ERROR"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["set", "colour", "blue"], "'colour' is not a setting. Valid keys: api-key, api-url"),
        (["unset", "colour"], "Valid keys: api-key, api-url, database-url, logging-level"),
        (["set", "logging-level", "loud"], "Valid values: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        (["set", "api-url", "localhost:4200"], "is not an http(s) URL"),
        (["set", "database-url", "not a url"], "is not a database URL"),
        (["set", "api-key", "  "], "cannot be empty"),
    ],
)
def test_bad_input_exits_2(args: list[str], expected: str, tideflow_home: Path) -> None:
    result = invoke("config", *args)
    assert result.exit_code == 2
    assert expected in flat(result.output)
    assert not profile_path().exists()


def test_underscored_keys_are_accepted() -> None:
    assert invoke("config", "set", "LOGGING_LEVEL", "info").exit_code == 0
    assert profile() == {"logging-level": "INFO"}


def test_broken_profile_file_is_reported(tideflow_home: Path) -> None:
    profile_path().write_text("[default\nlogging-level = ")
    result = invoke("config", "view")
    assert result.exit_code == 1
    assert "not valid TOML" in flat(result.stderr)


def test_real_process_reads_the_profile(tideflow_home: Path) -> None:
    assert invoke("config", "set", "logging-level", "critical").exit_code == 0
    exe = Path(sys.executable).parent / "tideflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEFLOW_")}
    env["TIDEFLOW_HOME"] = str(tideflow_home)
    proc = subprocess.run(
        [str(exe), "config", "view", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["logging-level"] == "CRITICAL"
