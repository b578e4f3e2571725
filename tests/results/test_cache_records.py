"""Tests for cache records kept by tideflow.results.store.ResultStore."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tideflow.results import ResultReference, ResultStore, cache_record_key

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    return ResultStore(tmp_path, "pickle")


def test_hit_and_miss(store: ResultStore) -> None:
    ref = store.persist({"v": 1})
    assert store.read_cache_record("missing") is None
    store.write_cache_record("key", ref, expiration=None)
    hit = store.read_cache_record("key")
    assert hit == ref
    assert hit is not None and store.load(hit) == {"v": 1}


def test_expiration(store: ResultStore) -> None:
    ref = store.persist(1)
    store.write_cache_record("k", ref, expiration=NOW + dt.timedelta(hours=1))
    assert store.read_cache_record("k", now=NOW) == ref
    assert store.read_cache_record("k", now=NOW + dt.timedelta(minutes=59)) == ref
    assert store.read_cache_record("k", now=NOW + dt.timedelta(hours=1)) is None
    assert store.read_cache_record("k", now=NOW + dt.timedelta(days=1)) is None


def test_expiration_in_other_timezone_compares_correctly(store: ResultStore) -> None:
    ref = store.persist(1)
    tokyo = dt.timezone(dt.timedelta(hours=9))
    store.write_cache_record("k", ref, expiration=dt.datetime(2024, 6, 1, 22, 0, tzinfo=tokyo))
    # 22:00 in Tokyo is 13:00 UTC.
    assert store.read_cache_record("k", now=NOW + dt.timedelta(minutes=59)) == ref
    assert store.read_cache_record("k", now=NOW + dt.timedelta(minutes=61)) is None


def test_expired_in_the_past_with_default_now(store: ResultStore) -> None:
    ref = store.persist(1)
    store.write_cache_record("k", ref, expiration=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert store.read_cache_record("k") is None
    store.write_cache_record("k", ref, expiration=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    assert store.read_cache_record("k") == ref


def test_refresh_by_rewrite(store: ResultStore) -> None:
    old, new = store.persist("old"), store.persist("new")
    store.write_cache_record("k", old, expiration=NOW)
    assert store.read_cache_record("k", now=NOW + dt.timedelta(seconds=1)) is None
    store.write_cache_record("k", new, expiration=NOW + dt.timedelta(days=1))
    hit = store.read_cache_record("k", now=NOW + dt.timedelta(seconds=1))
    assert hit == new
    assert store.load(hit) == "new"


def test_delete_cache_record(store: ResultStore) -> None:
    store.write_cache_record("k", store.persist(1))
    store.delete_cache_record("k")
    assert store.read_cache_record("k") is None
    store.delete_cache_record("k")


def test_naive_datetimes_are_rejected(store: ResultStore) -> None:
    ref = store.persist(1)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.write_cache_record("k", ref, expiration=dt.datetime(2030, 1, 1))
    store.write_cache_record("k", ref)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.read_cache_record("k", now=dt.datetime(2030, 1, 1))


WEIRD_KEYS = [
    "/data/x.csv",
    "C:\\data\\x.csv",
    "../../etc/passwd",
    "s3://bucket/path/to/file.parquet?version=3#frag",
    "https://example.com/a b/c?d=e&f=g",
    "x" * 10_000,
    "ünïcödé ✓ 数据 🚀",
    "",
    " ",
    "\x00nul\nnewline",
    "\udcff lone surrogate",
]


@pytest.mark.parametrize("cache_key", WEIRD_KEYS, ids=lambda k: repr(k[:40]))
def test_weird_cache_keys(store: ResultStore, tmp_path: Path, cache_key: str) -> None:
    ref = store.persist(cache_key)
    store.write_cache_record(cache_key, ref)
    hit = store.read_cache_record(cache_key)
    assert hit == ref
    assert store.load(hit) == cache_key
    record_key = cache_record_key(cache_key)
    assert record_key.startswith("cache/") and len(record_key) == len("cache/") + 64
    assert (tmp_path / record_key).is_file()


def test_cache_record_key_is_sha256() -> None:
    assert cache_record_key("/data/x.csv") == (
        "cache/" + hashlib.sha256(b"/data/x.csv").hexdigest()
    )
    with pytest.raises(TypeError):
        cache_record_key(b"bytes")  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(cache_key=st.text())
def test_any_text_is_a_valid_cache_key(cache_key: str) -> None:
    store = ResultStore(f"memory://tideflow-tests/{uuid.uuid4().hex}", "json")
    ref = ResultReference(store.storage.url, "result", {"type": "json"})
    store.write_cache_record(cache_key, ref, expiration=NOW)
    assert store.read_cache_record(cache_key, now=NOW - dt.timedelta(seconds=1)) == ref
    assert store.read_cache_record(cache_key + "!", now=NOW - dt.timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\xff garbage",
        b"{not json",
        b"[]",
        b'{"version": 99}',
        b'{"version": 1, "cache_key": "k", "result": {"key": "x"}, "expiration": null}',
        b'{"version": 1, "cache_key": "k", "result": {"storage_url": "file:///x", "key": "x"},'
        b' "expiration": "not a date"}',
        b'{"version": 1, "cache_key": "k", "result": {"storage_url": "file:///x", "key": "x"},'
        b' "expiration": "2030-01-01T00:00:00"}',
        b'{"version": 1, "cache_key": "other", "result": {"storage_url": "file:///x", "key": "x"},'
        b' "expiration": null}',
    ],
)
def test_corrupt_record_is_a_logged_miss(
    store: ResultStore, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / cache_record_key("k")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="tideflow.results"):
        assert store.read_cache_record("k", now=NOW) is None
    assert any(
        r.name == "tideflow.results" and r.levelno == logging.WARNING for r in caplog.records
    )


def test_unreadable_record_is_a_logged_miss(
    store: ResultStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory where the record file should be: reading it fails with an OSError.
    (tmp_path / cache_record_key("k")).mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="tideflow.results"):
        assert store.read_cache_record("k") is None
    assert "cache record" in caplog.text


def test_plain_miss_logs_nothing(store: ResultStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tideflow.results"):
        assert store.read_cache_record("never written") is None
    assert caplog.records == []


def test_cache_record_can_point_to_another_storage(tmp_path: Path) -> None:
    results = ResultStore(f"memory://tideflow-tests/{uuid.uuid4().hex}", "json")
    records = ResultStore(tmp_path, "json")
    ref = results.persist({"big": "result"})
    records.write_cache_record("k", ref)
    hit = records.read_cache_record("k")
    assert hit is not None
    assert records.load(hit) == {"big": "result"}
