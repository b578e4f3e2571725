"""Notification blocks, as in ``prefect.notifications`` / ``prefect.blocks.notifications``.

``SlackWebhook``, ``MicrosoftTeamsWebhook`` and ``CustomWebhookNotificationBlock`` (alias
``Webhook``) post a message with ``notify(body, subject=None)``. They are blocks (save
them once, load them by name) and can be passed directly as state hooks::

    @flow(on_failure=[SlackWebhook.load("ml-alerts")])
    def critical_training_flow(): ...

Delivery: one HTTP request with a timeout, retried once after a transport error, a 429
or a 5xx; a final non-2xx answer raises ``NotificationError`` (a hook's error is logged
by the engine, it never fails the run). Webhook URLs carry credentials, so they are
secret fields: stored encrypted, masked in ``repr`` and redacted from httpx's request
log line.
"""

from __future__ import annotations

import abc
import logging
import re
import threading
import time
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from tideflow.blocks.core import Block
from tideflow.exceptions import TideflowError

#: seconds to wait for a webhook to answer
DEFAULT_TIMEOUT_SECONDS = 10.0
#: pause before the one retry
RETRY_DELAY_SECONDS = 0.5

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class NotificationError(TideflowError):
    """A notification could not be delivered (unreachable, or a non-2xx answer)."""


class _RedactSecretUrls(logging.Filter):
    """Masks registered secret URLs in httpx's "HTTP Request: POST <url>" log records."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        with self._lock:
            self._secrets.add(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets and isinstance(record.args, tuple):
            record.args = tuple(self._redact(arg) for arg in record.args)
        return True

    def _redact(self, arg: Any) -> Any:
        text = str(arg) if isinstance(arg, str | httpx.URL) else None
        if text is None:
            return arg
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _masked_url(secret))
                arg = text
        return arg


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/**********"


_redactor = _RedactSecretUrls()
logging.getLogger("httpx").addFilter(_redactor)


def _check_http_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = _masked_url(value) if parts.hostname else "(not shown)"
        raise ValueError(f"{what} must be an http:// or https:// URL, got {shown}")


class NotificationBlock(Block, abc.ABC):
    """Base of notification blocks: ``notify(body, subject=None)``.

    A notification block is also a state hook: ``flow(on_failure=[block])`` calls it with
    the flow, the run and the final state, and it sends a one-line summary.
    """

    _block_abstract: ClassVar[bool] = True

    @abc.abstractmethod
    def notify(self, body: str, subject: str | None = None) -> None:
        """Send ``body`` (with an optional ``subject``).

        Raises:
            NotificationError: the message could not be delivered.
        """

    def __call__(self, owner: Any, run: Any, state: Any) -> None:
        """State-hook form: notify a summary of ``run`` of ``owner`` reaching ``state``."""
        kind = "Flow" if type(owner).__name__ == "Flow" else "Task"
        name = getattr(state, "name", str(state))
        subject = (
            f"{kind} run {getattr(run, 'name', '?')!r} of {getattr(owner, 'name', '?')!r}: {name}"
        )
        message = getattr(state, "message", None) or ""
        self.notify(f"{subject}\n{message}".strip(), subject=subject)

    def _label(self) -> str:
        name = self._block_document_name
        return f"{type(self).__name__} {name!r}" if name else type(self).__name__

    def _send(self, method: str, url: str, *, secret_url: bool, timeout: float, **kw: Any) -> None:
        if secret_url:
            _redactor.add(url)
        host = urlsplit(url).hostname or "?"
        last: str = ""
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for attempt in range(2):
                if attempt:
                    time.sleep(RETRY_DELAY_SECONDS)
                try:
                    response = client.request(method, url, **kw)
                except httpx.TransportError as exc:
                    last = f"could not reach {host}: {type(exc).__name__}: {exc}"
                    continue
                if response.is_success:
                    return
                last = f"HTTP {response.status_code} from {host}: {response.text[:200]!r}"
                if response.status_code != 429 and response.status_code < 500:
                    break
        raise NotificationError(f"{self._label()} notification failed: {last}")


def _text(body: str, subject: str | None) -> str:
    if not subject or body.startswith(subject):
        return body
    return f"{subject}\n{body}"


class SlackWebhook(NotificationBlock):
    """A Slack incoming webhook.

    Args:
        url: ``https://hooks.slack.com/services/...``; secret (the URL is the credential).

    Example:
        >>> SlackWebhook(url="https://hooks.slack.com/services/XXX/YYY/ZZZ")
        SlackWebhook(url=SecretStr('**********'))
    """

    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value.get_secret_value(), "SlackWebhook url")
        return value

    def notify(self, body: str, subject: str | None = None) -> None:
        """Post ``{"text": ...}`` to the webhook."""
        self._send(
            "POST",
            self.url.get_secret_value(),
            secret_url=True,
            timeout=DEFAULT_TIMEOUT_SECONDS,
            json={"text": _text(body, subject)},
        )


class MicrosoftTeamsWebhook(NotificationBlock):
    """A Microsoft Teams incoming webhook (or Workflows webhook): posts an Adaptive Card.

    Args:
        url: the webhook URL; secret (the URL is the credential).
    """

    url: SecretStr

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value.get_secret_value(), "MicrosoftTeamsWebhook url")
        return value

    def notify(self, body: str, subject: str | None = None) -> None:
        """Post an Adaptive Card with ``subject`` as its title and ``body`` as its text."""
        elements: list[dict[str, Any]] = []
        if subject:
            elements.append(
                {
                    "type": "TextBlock",
                    "text": subject,
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": True,
                }
            )
        elements.append({"type": "TextBlock", "text": body, "wrap": True})
        card = {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": elements,
                    },
                }
            ],
        }
        self._send(
            "POST",
            self.url.get_secret_value(),
            secret_url=True,
            timeout=DEFAULT_TIMEOUT_SECONDS,
            json=card,
        )


class CustomWebhookNotificationBlock(NotificationBlock):
    """Any HTTP endpoint, with templated URL, params, headers, cookies and body.

    Templates: ``{{subject}}``, ``{{body}}``, ``{{name}}`` and the keys of ``secrets``
    (e.g. ``{"Authorization": "Bearer {{token}}"}``), substituted in every string of
    ``url``, ``params``, ``json_data``, ``form_data``, ``headers`` and ``cookies``. An
    unknown placeholder is refused when the block is created. With neither ``json_data``
    nor ``form_data``, a non-GET request sends ``{"subject": ..., "body": ...}``.

    Args:
        name: substituted for ``{{name}}``.
        url: the endpoint (may use ``{{secret}}`` placeholders).
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE``.
        secrets: values kept secret (encrypted at rest), usable in templates.
        timeout: seconds to wait for an answer.
    """

    _block_type_slug: ClassVar[str] = "custom-webhook"

    name: str = "tideflow"
    url: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    params: dict[str, str] | None = None
    json_data: Any = None
    form_data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    cookies: dict[str, str] | None = None
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    timeout: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0)

    @model_validator(mode="after")
    def _check_templates(self) -> Self:
        known = {"subject", "body", "name", *self.secrets}
        used: set[str] = set()
        for value in (self.url, self.params, self.json_data, self.form_data, self.headers,
                      self.cookies):  # fmt: skip
            _collect_placeholders(value, used)
        unknown = sorted(used - known)
        if unknown:
            raise ValueError(
                f"Unknown template placeholder(s) {', '.join(unknown)}: use subject, body, "
                "name or a key of secrets"
            )
        if not _PLACEHOLDER.search(self.url):
            _check_http_url(self.url, "CustomWebhookNotificationBlock url")
        return self

    def notify(self, body: str, subject: str | None = None) -> None:
        """Send the templated request."""
        values = {"subject": subject or "", "body": body, "name": self.name}
        values.update({k: v.get_secret_value() for k, v in self.secrets.items()})
        url = _render(self.url, values)
        _check_http_url(url, "CustomWebhookNotificationBlock url")
        kw: dict[str, Any] = {
            "params": _render(self.params, values),
            "headers": _render(self.headers, values),
            "cookies": _render(self.cookies, values),
        }
        if self.json_data is not None:
            kw["json"] = _render(self.json_data, values)
        elif self.form_data is not None:
            kw["data"] = _render(self.form_data, values)
        elif self.method != "GET":
            kw["json"] = {"subject": subject, "body": body}
        secret_url = bool(set(_PLACEHOLDER.findall(self.url)) & set(self.secrets))
        self._send(self.method, url, secret_url=secret_url, timeout=self.timeout, **kw)


#: the generic webhook under a short name
Webhook = CustomWebhookNotificationBlock


def _collect_placeholders(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.update(_PLACEHOLDER.findall(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_placeholders(k, out)
            _collect_placeholders(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect_placeholders(v, out)


def _render(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, dict):
        return {_render(k, values): _render(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render(v, values) for v in value]
    return value


__all__ = [
    "CustomWebhookNotificationBlock",
    "MicrosoftTeamsWebhook",
    "NotificationBlock",
    "NotificationError",
    "SlackWebhook",
    "Webhook",
]
