"""Notifications without Dagster: run outcomes and quarantine events, to SNS, a webhook, the log."""

from adlake.notify.events import (
    EVENT_KINDS,
    AssetOutcome,
    EventKind,
    NotificationEvent,
    file_quarantined_event,
    run_event,
    run_link,
)
from adlake.notify.publishers import (
    LogPublisher,
    NotificationError,
    Publisher,
    SnsPublisher,
    WebhookPublisher,
    display_url,
    publish_all,
)

__all__ = [
    "EVENT_KINDS",
    "AssetOutcome",
    "EventKind",
    "LogPublisher",
    "NotificationError",
    "NotificationEvent",
    "Publisher",
    "SnsPublisher",
    "WebhookPublisher",
    "display_url",
    "file_quarantined_event",
    "publish_all",
    "run_event",
    "run_link",
]
