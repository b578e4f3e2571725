"""The public names of the blocks, storage and notification modules (a breaking change to
remove one)."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "tideflow.blocks": [
        "SECRET_MASK",
        "Block",
        "block_types",
        "get_block_class",
        "load_block",
        "validate_block_name",
    ],
    "tideflow.blocks.system": ["JSON", "DateTime", "Secret", "String"],
    "tideflow.filesystems": [
        "GCS",
        "S3",
        "AwsCredentials",
        "FileSystemBlock",
        "GitRepository",
        "IgnoreSpec",
        "LocalFileSystem",
        "RemoteFileSystem",
        "S3Bucket",
        "WritableFileSystem",
    ],
    "tideflow.notifications": [
        "CustomWebhookNotificationBlock",
        "MicrosoftTeamsWebhook",
        "NotificationBlock",
        "NotificationError",
        "SlackWebhook",
        "Webhook",
    ],
}
PUBLIC["tideflow.blocks.notifications"] = PUBLIC["tideflow.notifications"]


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_seed_imports() -> None:
    from tideflow.filesystems import S3
    from tideflow.notifications import SlackWebhook

    assert S3.__module__ == "tideflow.filesystems"
    assert SlackWebhook.get_block_type_slug() == "slack-webhook"
