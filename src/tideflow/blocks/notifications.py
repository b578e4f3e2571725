"""Alias of ``tideflow.notifications`` (Prefect's ``prefect.blocks.notifications`` path)."""

from tideflow.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    NotificationBlock,
    NotificationError,
    SlackWebhook,
    Webhook,
)

__all__ = [
    "CustomWebhookNotificationBlock",
    "MicrosoftTeamsWebhook",
    "NotificationBlock",
    "NotificationError",
    "SlackWebhook",
    "Webhook",
]
