"""Notifier resources: where run outcomes and quarantine events go, chosen once by profile.

The local profile logs each event (and POSTs it to a webhook if one is configured); the aws
profile also publishes it to an SNS topic. Sensors and assets only ask for a ``notifier``.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from adlake.config import AwsConfig, NotificationsConfig
from adlake.notify import (
    LogPublisher,
    NotificationEvent,
    Publisher,
    SnsPublisher,
    WebhookPublisher,
    publish_all,
)


class NotifierResource(dg.ConfigurableResource):
    """Announces events; ``notify`` raises NotificationError if any channel failed."""

    ui_base_url: str = Field(
        default="http://127.0.0.1:3000", description="Base URL of the Dagster UI, for run links."
    )
    webhook_url: str | None = Field(
        default=None, description="Optional URL that receives each event as a JSON POST."
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one webhook POST."
    )
    webhook_attempts: int = Field(
        default=3, ge=1, le=10, description="Webhook attempts on connection errors, 429 and 5xx."
    )

    def publishers(self) -> list[Publisher]:
        """The channels of this profile, in delivery order."""
        raise NotImplementedError

    def notify(self, event: NotificationEvent) -> None:
        """Deliver ``event`` to every channel; one failed channel does not stop the others."""
        publish_all(self.publishers(), event)

    def _log_and_webhook(self) -> list[Publisher]:
        channels: list[Publisher] = [LogPublisher(dg.get_dagster_logger("adlake.notify"))]
        if self.webhook_url:
            channels.append(
                WebhookPublisher(
                    self.webhook_url,
                    timeout_seconds=self.webhook_timeout_seconds,
                    attempts=self.webhook_attempts,
                )
            )
        return channels


class LogNotifierResource(NotifierResource):
    """The local profile: each event is logged, and POSTed to the webhook if one is set."""

    def publishers(self) -> list[Publisher]:
        """The log, then the optional webhook."""
        return self._log_and_webhook()


class SnsNotifierResource(NotifierResource):
    """The aws profile: each event is published to an SNS topic, logged, and optionally POSTed."""

    topic_arn: str = Field(description="ARN of the SNS topic that receives the events.")
    region: str = Field(default="us-east-1", description="AWS region of the topic.")
    endpoint_url: str | None = Field(
        default=None, description="Custom AWS endpoint (a moto server in tests)."
    )

    def publishers(self) -> list[Publisher]:
        """The SNS topic, the log, then the optional webhook."""
        topic = SnsPublisher(self.topic_arn, self.region, self.endpoint_url)
        return [topic, *self._log_and_webhook()]


def build_notifier(
    notifications: NotificationsConfig, aws: AwsConfig | None = None
) -> NotifierResource:
    """SNS (plus the optional webhook) when an aws topic is given, else the log and webhook."""
    common = {"ui_base_url": notifications.ui_base_url, "webhook_url": notifications.webhook_url}
    if aws is not None and aws.sns_topic_arn:
        return SnsNotifierResource(
            topic_arn=aws.sns_topic_arn, region=aws.region, endpoint_url=aws.endpoint_url, **common
        )
    return LogNotifierResource(**common)
