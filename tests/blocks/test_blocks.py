"""Blocks on the embedded store: save/load/overwrite/delete, names, types, secrets."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretBytes, SecretStr

from tideflow.blocks import SECRET_MASK, Block, block_types, get_block_class
from tideflow.blocks.core import kebab_case
from tideflow.blocks.system import JSON, DateTime, Secret, String
from tideflow.client import get_client
from tideflow.exceptions import ObjectAlreadyExists, ObjectNotFound
from tideflow.filesystems import AwsCredentials, S3Bucket
from tideflow.notifications import SlackWebhook
from tideflow.server.models import _encryption

CLEAR = "sup3r-s3cret-value-that-must-not-leak"


class ApiConfig(Block):
    base_url: str
    token: SecretStr
    retries: int = 3


class WithBytes(Block):
    blob: SecretBytes
    optional: SecretStr | None = None


class WithDictSecrets(Block):
    headers: dict[str, SecretStr] = {}
    plain: dict[str, Any] = {}


class CustomSlug(Block):
    _block_type_slug: ClassVar[str] = "my-custom-thing"
    value: int


def _raw_rows(home: Path) -> list[str]:
    with sqlite3.connect(home / "tideflow.db") as conn:
        return [row[0] for row in conn.execute("SELECT data FROM block_document")]


# ---------------------------------------------------------------------- identity
@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("SlackWebhook", "slack-webhook"),
        ("S3Bucket", "s3-bucket"),
        ("GCS", "gcs"),
        ("JSON", "json"),
        ("MicrosoftTeamsWebhook", "microsoft-teams-webhook"),
        ("LocalFileSystem", "local-file-system"),
        ("HTTPServerConfig", "http-server-config"),
    ],
)
def test_kebab_case_slugs(name: str, slug: str) -> None:
    assert kebab_case(name) == slug


def test_registry_knows_builtin_and_user_types() -> None:
    types = block_types()
    for slug in (
        "secret",
        "string",
        "json",
        "date-time",
        "slack-webhook",
        "s3",
        "s3-bucket",
        "local-file-system",
        "remote-file-system",
        "gcs",
        "git-repository",
        "custom-webhook",
        "microsoft-teams-webhook",
        "aws-credentials",
    ):
        assert slug in types, slug
    assert get_block_class("api-config") is ApiConfig
    assert get_block_class("my-custom-thing") is CustomSlug
    assert "block" not in types and "file-system-block" not in types
    with pytest.raises(ValueError, match="Unknown block type 'nope'"):
        get_block_class("nope")


# ---------------------------------------------------------------------- save/load
def test_save_load_roundtrip_and_document_name() -> None:
    block = ApiConfig(base_url="https://api.example.com", token=CLEAR)
    doc_id = block.save("prod-api")
    assert block.block_document_name == "prod-api" and block._block_document_id == doc_id
    loaded = ApiConfig.load("prod-api")
    assert loaded == block
    assert loaded.token.get_secret_value() == CLEAR
    assert loaded._block_document_name == "prod-api"
    assert loaded._block_type_slug == "api-config"


def test_load_through_base_class_with_slug() -> None:
    ApiConfig(base_url="u", token="t").save("one")
    loaded = Block.load("api-config/one")
    assert isinstance(loaded, ApiConfig)
    assert ApiConfig.load("api-config/one") == loaded
    with pytest.raises(ValueError, match="type-slug/one"):
        Block.load("one")
    with pytest.raises(ValueError, match="not a SlackWebhook"):
        SlackWebhook.load("api-config/one")


def test_save_existing_name_needs_overwrite() -> None:
    ApiConfig(base_url="a", token="t").save("dup")
    with pytest.raises(ObjectAlreadyExists, match="api-config/dup"):
        ApiConfig(base_url="b", token="t").save("dup")
    assert ApiConfig.load("dup").base_url == "a"
    first_id = ApiConfig.load("dup")._block_document_id
    assert ApiConfig(base_url="b", token="t2").save("dup", overwrite=True) == first_id
    loaded = ApiConfig.load("dup")
    assert (loaded.base_url, loaded.token.get_secret_value()) == ("b", "t2")
    # Same name, other type: no clash.
    String(value="x").save("dup")


def test_load_unknown_names_type_and_name() -> None:
    expected = r"ApiConfig block named 'missing'.*api-config/missing"
    with pytest.raises(ObjectNotFound, match=expected):
        ApiConfig.load("missing")


def test_delete() -> None:
    ApiConfig(base_url="a", token="t").save("gone")
    ApiConfig.delete("gone")
    with pytest.raises(ObjectNotFound):
        ApiConfig.load("gone")
    with pytest.raises(ObjectNotFound, match="api-config/gone"):
        ApiConfig.delete("gone")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Upper",
        "with space",
        "under_score",
        "-lead",
        "trail-",
        "a/b",
        "dots.no",
        "é",
        "x" * 256,
        "../etc",
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Invalid block name"):
        String(value="x").save(name)
    assert get_client().read_block_documents() == []


@pytest.mark.parametrize("name", ["a", "ml-alerts", "my-bucket-2", "0", "x" * 255])
def test_valid_names(name: str) -> None:
    String(value="v").save(name)
    assert String.load(name).value == "v"


def test_extra_fields_are_refused_but_old_documents_load() -> None:
    with pytest.raises(ValueError, match="extra"):
        String(value="x", valu="typo")  # type: ignore[call-arg]
    get_client().save_block_document(
        "string", "old", {"fields": {"value": "v", "removed_field": 1}, "secret_fields": []}
    )
    assert String.load("old").value == "v"


def test_abstract_base_cannot_be_saved() -> None:
    from tideflow.filesystems import FileSystemBlock

    assert "file-system-block" not in block_types()
    with pytest.raises(TypeError):
        FileSystemBlock()  # type: ignore[abstract]


def test_system_blocks() -> None:
    import datetime as dt

    Secret(value=CLEAR).save("token")
    String(value="hello").save("greeting")
    JSON(value={"a": [1, 2, {"b": None}]}).save("cfg")
    when = dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC)
    DateTime(value=when).save("when")
    assert Secret.load("token").get() == CLEAR
    assert repr(Secret.load("token")) == "Secret(value=SecretStr('**********'))"
    assert String.load("greeting").value == "hello"
    assert JSON.load("cfg").value == {"a": [1, 2, {"b": None}]}
    assert DateTime.load("when").value == when


def test_blocks_alias_modules() -> None:
    import tideflow.blocks.notifications as alias
    import tideflow.notifications as real

    assert alias.SlackWebhook is real.SlackWebhook


# ---------------------------------------------------------------------- secrets
def test_secrets_encrypted_at_rest_and_masked(tideflow_home: Path) -> None:
    ApiConfig(base_url="https://api.example.com", token=CLEAR).save("prod")
    rows = _raw_rows(tideflow_home)
    assert len(rows) == 1
    assert CLEAR not in rows[0]
    stored = json.loads(rows[0])
    assert stored["secret_fields"] == ["token"]
    assert stored["fields"]["base_url"] == "https://api.example.com"
    token = stored["fields"]["token"]
    key = (tideflow_home / "encryption.key").read_bytes()
    assert json.loads(Fernet(key).decrypt(token.encode())) == CLEAR

    listed = get_client().read_block_documents()
    assert listed[0]["data"]["fields"]["token"] == SECRET_MASK
    assert CLEAR not in json.dumps(listed)
    one = get_client().read_block_document("api-config", "prod")
    assert one["data"]["fields"]["token"] == SECRET_MASK
    clear = get_client().read_block_document("api-config", "prod", include_secrets=True)
    assert clear["data"]["fields"]["token"] == CLEAR


def test_secret_never_in_repr_str_or_json_dump() -> None:
    block = ApiConfig(base_url="u", token=CLEAR)
    for text in (repr(block), str(block), block.model_dump_json(), f"{block}"):
        assert CLEAR not in text
    assert SECRET_MASK in repr(block)


def test_nested_block_secrets_encrypted(tideflow_home: Path) -> None:
    bucket = S3Bucket(
        bucket_name="b",
        credentials=AwsCredentials(aws_access_key_id="AKIA", aws_secret_access_key=CLEAR),
    )
    bucket.save("my-bucket")
    (row,) = _raw_rows(tideflow_home)
    assert CLEAR not in row
    assert json.loads(row)["secret_fields"] == ["credentials.aws_secret_access_key"]
    listed = get_client().read_block_documents("s3-bucket")[0]["data"]["fields"]
    assert listed["credentials"] == {
        "aws_access_key_id": "AKIA",
        "aws_secret_access_key": SECRET_MASK,
        "aws_session_token": None,
        "region_name": None,
    }
    loaded = S3Bucket.load("my-bucket")
    assert loaded.credentials.aws_secret_access_key is not None
    assert loaded.credentials.aws_secret_access_key.get_secret_value() == CLEAR
    assert S3Bucket.get_secret_field_paths() == [
        "credentials.aws_secret_access_key",
        "credentials.aws_session_token",
    ]


def test_secret_bytes_dict_of_secrets_and_unset_optional(tideflow_home: Path) -> None:
    raw = bytes(range(256))
    WithBytes(blob=raw).save("bytes")
    loaded = WithBytes.load("bytes")
    assert loaded.blob.get_secret_value() == raw and loaded.optional is None
    WithDictSecrets(headers={"Authorization": CLEAR}, plain={"k": "v"}).save("hdrs")
    assert all(CLEAR not in row for row in _raw_rows(tideflow_home))
    masked = get_client().read_block_document("with-dict-secrets", "hdrs")["data"]["fields"]
    assert masked == {"headers": SECRET_MASK, "plain": {"k": "v"}}
    assert WithDictSecrets.load("hdrs").headers["Authorization"].get_secret_value() == CLEAR


def test_key_file_created_once_with_owner_only_perms(tideflow_home: Path) -> None:
    key_file = tideflow_home / "encryption.key"
    assert not key_file.exists()
    Secret(value="a").save("one")
    mode = stat.S_IMODE(key_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    key = key_file.read_bytes()
    _encryption.reset_cache()
    Secret(value="b").save("two")
    assert key_file.read_bytes() == key
    assert Secret.load("one").get() == "a"


def test_key_from_environment_and_rotation(
    tideflow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("TIDEFLOW_ENCRYPTION_KEY", old)
    Secret(value=CLEAR).save("s")
    assert not (tideflow_home / "encryption.key").exists()
    token = json.loads(_raw_rows(tideflow_home)[0])["fields"]["value"]
    assert json.loads(Fernet(old).decrypt(token.encode())) == CLEAR
    # Rotation: the new key first, the old one still decrypts.
    monkeypatch.setenv("TIDEFLOW_ENCRYPTION_KEY", f"{new},{old}")
    assert Secret.load("s").get() == CLEAR
    Secret(value=CLEAR).save("s", overwrite=True)
    token = json.loads(_raw_rows(tideflow_home)[0])["fields"]["value"]
    assert json.loads(Fernet(new).decrypt(token.encode())) == CLEAR
    # A wrong key: a clear error, not garbage.
    monkeypatch.setenv("TIDEFLOW_ENCRYPTION_KEY", Fernet.generate_key().decode())
    with pytest.raises(ValueError, match="Cannot decrypt secret field 'value' of block 'secret/s'"):
        Secret.load("s")
    # Listings never decrypt, so they still work.
    assert get_client().read_block_documents()[0]["data"]["fields"]["value"] == SECRET_MASK
    monkeypatch.setenv("TIDEFLOW_ENCRYPTION_KEY", "not-a-key")
    with pytest.raises(ValueError, match="TIDEFLOW_ENCRYPTION_KEY must be"):
        Secret(value="x").save("t")


def test_corrupt_key_file_is_a_clear_error(tideflow_home: Path) -> None:
    (tideflow_home / "encryption.key").write_text("garbage")
    os.chmod(tideflow_home / "encryption.key", 0o600)
    with pytest.raises(ValueError, match="does not hold a Fernet key"):
        Secret(value="x").save("t")


# ---------------------------------------------------------------------- data layer
def test_store_validates_document_shape() -> None:
    client = get_client()
    with pytest.raises(ValueError, match="Secret field 'missing'"):
        client.save_block_document("x", "y", {"fields": {}, "secret_fields": ["missing"]})
    with pytest.raises(ValueError, match="Unknown keys"):
        client.save_block_document("x", "y", {"fields": {}, "other": 1})
    with pytest.raises(ValueError, match="Invalid block type slug"):
        client.save_block_document("Bad Slug", "y", {"fields": {}})
    assert client.read_block_documents() == []


def test_idempotent_retry_with_document_id(client: Any) -> None:
    from tideflow.server.models import blocks as model

    doc_id = "6f1c2c52-5a8e-4c39-9a63-0e5c0f8a2b11"
    with client.db.write() as conn:
        first = model.save_block_document(
            conn, "string", "r", {"fields": {"value": "v"}}, document_id=doc_id
        )
    with client.db.write() as conn:
        again = model.save_block_document(
            conn, "string", "r", {"fields": {"value": "v"}}, document_id=doc_id
        )
    assert first["id"] == again["id"] == doc_id
    with client.db.write() as conn, pytest.raises(ObjectAlreadyExists):
        model.save_block_document(
            conn,
            "string",
            "r",
            {"fields": {"value": "v"}},
            document_id="0b6a3e1e-0000-4000-8000-000000000000",
        )


def test_listing_filters_by_type_and_sorts() -> None:
    String(value="1").save("b")
    String(value="2").save("a")
    Secret(value="3").save("c")
    docs = get_client().read_block_documents()
    assert [(d["block_type_slug"], d["name"]) for d in docs] == [
        ("secret", "c"),
        ("string", "a"),
        ("string", "b"),
    ]
    assert [d["name"] for d in get_client().read_block_documents("string")] == ["a", "b"]
    assert get_client().read_block_documents("nothing") == []
