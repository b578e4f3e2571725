"""Notification blocks against a real local HTTP server, and the seed's
``@flow(on_failure=[SlackWebhook.load("ml-alerts")])``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from blockkit import Receiver, receiver
from pg import free_port
from tideflow import flow, task
from tideflow.client import get_client
from tideflow.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    NotificationError,
    SlackWebhook,
    Webhook,
)

__all__ = ["receiver"]

SECRET_PATH = "/services/T000/B000/s3cr3tT0k3n"


@pytest.fixture(autouse=True)
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tideflow.notifications.RETRY_DELAY_SECONDS", 0.01)


def test_slack_notify_posts_text(receiver: Receiver) -> None:
    SlackWebhook(url=receiver.url + SECRET_PATH).notify("Training failed", subject="Alert")
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", SECRET_PATH)
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"text": "Alert\nTraining failed"}


def test_slack_url_is_secret_everywhere(receiver: Receiver, tideflow_home: Any) -> None:
    hook = SlackWebhook(url=receiver.url + SECRET_PATH)
    assert "s3cr3tT0k3n" not in repr(hook) + str(hook) + hook.model_dump_json()
    hook.save("ml-alerts")
    listed = get_client().read_block_documents("slack-webhook")
    assert listed[0]["data"]["fields"]["url"] == "**********"
    with pytest.raises(ValueError, match="http:// or https://"):
        SlackWebhook(url="ftp://example.com/x")


def test_httpx_request_log_line_is_redacted(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    SlackWebhook(url=receiver.url + SECRET_PATH).notify("hi")
    assert "HTTP Request" in caplog.text
    assert "s3cr3tT0k3n" not in caplog.text
    assert "127.0.0.1/**********" in caplog.text


def test_teams_posts_an_adaptive_card(receiver: Receiver) -> None:
    MicrosoftTeamsWebhook(url=receiver.url + "/webhookb2/abc").notify("body text", "Subject")
    card = receiver.requests[0].json()
    assert card["type"] == "message"
    content = card["attachments"][0]["content"]
    assert content["type"] == "AdaptiveCard"
    assert [b["text"] for b in content["body"]] == ["Subject", "body text"]


def test_custom_webhook_templates_and_secrets(receiver: Receiver, tideflow_home: Any) -> None:
    hook = CustomWebhookNotificationBlock(
        name="ops",
        url=receiver.url + "/hook/{{channel}}",
        method="PUT",
        headers={"Authorization": "Bearer {{token}}", "X-Source": "{{name}}"},
        params={"q": "{{subject}}"},
        json_data={"msg": "{{subject}}: {{body}}", "tags": ["{{name}}"], "n": 3},
        secrets={"token": "tok-123", "channel": "alerts"},
    )
    hook.save("ops-hook")
    Webhook.load("ops-hook").notify("it broke", subject="flow failed")
    (req,) = receiver.requests
    assert req.method == "PUT"
    assert req.path == "/hook/alerts?q=flow+failed"
    assert req.headers["authorization"] == "Bearer tok-123"
    assert req.headers["x-source"] == "ops"
    assert req.json() == {"msg": "flow failed: it broke", "tags": ["ops"], "n": 3}
    listed = get_client().read_block_document("custom-webhook", "ops-hook")["data"]
    assert listed["fields"]["secrets"] == "**********"


def test_custom_webhook_defaults_and_form(receiver: Receiver) -> None:
    Webhook(url=receiver.url + "/a").notify("b", subject="s")
    assert receiver.requests[-1].json() == {"subject": "s", "body": "b"}
    Webhook(url=receiver.url + "/f", form_data={"text": "{{body}}"}).notify("hello")
    assert receiver.requests[-1].body == b"text=hello"
    Webhook(url=receiver.url + "/g", method="GET", params={"m": "{{body}}"}).notify("x")
    assert (receiver.requests[-1].method, receiver.requests[-1].path) == ("GET", "/g?m=x")


def test_custom_webhook_refuses_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match=r"Unknown template placeholder.*tokn"):
        Webhook(url="https://example.com", headers={"A": "{{tokn}}"}, secrets={"token": "x"})


def test_non_2xx_raises_without_retrying_4xx(receiver: Receiver) -> None:
    receiver.statuses = [403]
    with pytest.raises(NotificationError, match=r"HTTP 403 from 127.0.0.1") as info:
        SlackWebhook(url=receiver.url + SECRET_PATH).notify("x")
    assert "s3cr3tT0k3n" not in str(info.value)
    assert len(receiver.requests) == 1


def test_5xx_is_retried_once(receiver: Receiver) -> None:
    receiver.statuses = [503]
    SlackWebhook(url=receiver.url + "/ok").notify("x")
    assert len(receiver.requests) == 2
    receiver.requests.clear()
    receiver.statuses = [500, 502]
    with pytest.raises(NotificationError, match="HTTP 502"):
        SlackWebhook(url=receiver.url + "/ok").notify("x")
    assert len(receiver.requests) == 2


def test_unreachable_webhook_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    with pytest.raises(NotificationError, match=r"could not reach 127.0.0.1") as info:
        SlackWebhook(url=url).notify("x")
    assert "s3cr3tT0k3n" not in str(info.value)


# ---------------------------------------------------------------------- the seed
def test_seed_on_failure_slack_webhook_posts_once(receiver: Receiver, tideflow_home: Any) -> None:
    slack_webhook = SlackWebhook(url=receiver.url + SECRET_PATH)
    slack_webhook.save("ml-alerts")

    @flow(on_failure=[SlackWebhook.load("ml-alerts")], retries=1)
    def critical_training_flow() -> None:
        raise RuntimeError("GPU on fire")

    state = critical_training_flow(return_state=True)
    assert state.is_failed()
    (req,) = receiver.requests  # once, after the final failure, not per attempt
    text = req.json()["text"]
    assert "critical-training-flow" in text and "Failed" in text
    assert req.path == SECRET_PATH


def test_on_failure_not_called_on_success(receiver: Receiver, tideflow_home: Any) -> None:
    SlackWebhook(url=receiver.url + SECRET_PATH).save("ml-alerts")

    @flow(on_failure=[SlackWebhook.load("ml-alerts")])
    def fine_flow() -> int:
        return 1

    assert fine_flow() == 1
    assert receiver.requests == []


def test_failing_notification_does_not_change_the_run(
    receiver: Receiver, tideflow_home: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 500]

    @flow(on_failure=[SlackWebhook(url=receiver.url + SECRET_PATH)])
    def doomed() -> None:
        raise ValueError("bad data")

    state = doomed(return_state=True)
    assert state.is_failed() and "bad data" in (state.message or "")
    assert len(receiver.requests) == 2
    assert "s3cr3tT0k3n" not in caplog.text


def test_task_on_failure_with_notification_block(receiver: Receiver) -> None:
    @task(on_failure=[Webhook(url=receiver.url + "/task")])
    def flaky() -> None:
        raise KeyError("x")

    @flow
    def parent() -> None:
        flaky(return_state=True)

    parent()
    (req,) = receiver.requests
    assert "flaky" in req.json()["subject"] and "Failed" in req.json()["subject"]
