"""``tideflow server``: bind safety, durations, database upgrade/downgrade/reset/vacuum."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from pg import create_database, with_database
from serverkit import postgres_admin_url, sqlite_url  # noqa: F401  (fixtures)
from tideflow.cli.main import app
from tideflow.cli.server import bind_refusal, is_loopback, parse_duration
from tideflow.server.database.engine import Database
from tideflow.server.database.migrate import HEAD_REVISION, current_revision
from tideflow.settings import reload_settings

runner = CliRunner()


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.1.2.3")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.1.2.3")
    assert not is_loopback("no-such-host.invalid")


def test_non_loopback_needs_a_key_or_insecure() -> None:
    assert bind_refusal("127.0.0.1", None, False) is None
    refusal = bind_refusal("0.0.0.0", None, False)
    assert refusal is not None and "TIDEFLOW_API_KEY" in refusal and "--insecure" in refusal
    assert bind_refusal("0.0.0.0", "key", False) is None
    assert bind_refusal("0.0.0.0", None, True) is None
    result = runner.invoke(app, ["server", "start", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "Refusing to serve on '0.0.0.0'" in result.output


@pytest.mark.parametrize(
    ("text_", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        (" 1.5D ", timedelta(hours=36)),
    ],
)
def test_parse_duration(text_: str, expected: timedelta) -> None:
    assert parse_duration(text_) == expected


@pytest.mark.parametrize("bad", ["", "30", "d", "3x", "-1d", "0d", "1 day", "1d2h"])
def test_bad_durations_exit_2_naming_the_option(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)
    result = runner.invoke(app, ["server", "database", "vacuum", "--older-than", bad])
    assert result.exit_code == 2
    assert "--older-than" in result.output
    assert "30d" in result.output


def test_vacuum_through_the_client() -> None:
    result = runner.invoke(app, ["server", "database", "vacuum", "--older-than", "30d"])
    assert result.exit_code == 0, result.output
    assert "Deleted 0 finished flow run(s) older than 30d" in result.output


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def own_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database of this test's own (the commands drop tables), set as the setting."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        admin: str = request.getfixturevalue("postgres_admin_url")
        name = f"tideflow_cli_{os.getpid()}"
        create_database(admin, name)
        url = with_database(admin, name)
    monkeypatch.setenv("TIDEFLOW_DATABASE_URL", url)
    reload_settings()
    yield url


def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        return current_revision(db)
    finally:
        db.dispose()


def test_upgrade_downgrade_and_reset(own_database: str) -> None:
    url = own_database
    result = runner.invoke(app, ["server", "database", "upgrade"])
    assert result.exit_code == 0, result.output
    assert _revision(url) == HEAD_REVISION
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO concurrency_limit (id, tag, concurrency_limit, created) "
                "VALUES ('1', 'gpu', 1, '2030-01-01 00:00:00')"
            )
        )
    refused = runner.invoke(app, ["server", "database", "reset"], input="n\n")
    assert refused.exit_code == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM concurrency_limit")).scalar() == 1
    down = runner.invoke(app, ["server", "database", "downgrade", "--yes"])
    assert down.exit_code == 0, down.output
    assert _revision(url) not in (None, HEAD_REVISION)
    base = runner.invoke(app, ["server", "database", "downgrade", "--revision", "base", "--yes"])
    assert base.exit_code == 0, base.output
    assert _revision(url) is None
    assert runner.invoke(app, ["server", "database", "upgrade"]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO concurrency_limit (id, tag, concurrency_limit, created) "
                "VALUES ('1', 'gpu', 1, '2030-01-01 00:00:00')"
            )
        )
    reset = runner.invoke(app, ["server", "database", "reset", "--yes"])
    assert reset.exit_code == 0, reset.output
    assert _revision(url) == HEAD_REVISION
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM concurrency_limit")).scalar() == 0
    engine.dispose()
