"""Where events go: an SNS topic, a webhook (JSON POST with retries) and the log.

Every publisher has one method, ``publish(event)``, and raises NotificationError with a message
that names the destination without its secret parts (a webhook URL's path often is a token).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from adlake.notify.events import NotificationEvent

LOG = logging.getLogger("adlake.notify")
RETRY_AFTER_CAP_SECONDS = 30.0


class NotificationError(RuntimeError):
    """An event could not be delivered; the message names the destination, never a secret."""


class Publisher(Protocol):
    """Anything that delivers an event somewhere."""

    def publish(self, event: NotificationEvent) -> None:
        """Deliver one event or raise NotificationError."""
        ...


class LogPublisher:
    """Writes each event as one line to a logger (the local profile's notification channel)."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter[Any] | None = None):
        self.logger = logger or LOG

    def publish(self, event: NotificationEvent) -> None:
        """Log the subject, message and run link."""
        self.logger.info(f"{event.subject()}: {event.message} {event.run_url}")


class SnsPublisher:
    """Publishes each event to an SNS topic: a subject, the JSON event, and its kind as attribute.

    Subscribers can filter on the ``event_kind`` message attribute (e.g. only ``run_failed``).
    """

    def __init__(
        self,
        topic_arn: str,
        region: str,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ):
        self.topic_arn = topic_arn
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client

    def client(self) -> Any:
        """A boto3 SNS client with short timeouts and botocore's standard retries."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "sns",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=Config(
                    connect_timeout=5,
                    read_timeout=10,
                    retries={"mode": "standard", "max_attempts": 4},
                ),
            )
        return self._client

    def publish(self, event: NotificationEvent) -> None:
        """Publish the event; NotificationError names the topic and AWS's error code."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().publish(
                TopicArn=self.topic_arn,
                Subject=event.subject(),
                Message=event.to_json(),
                MessageAttributes={
                    "event_kind": {"DataType": "String", "StringValue": event.kind},
                    "job": {"DataType": "String", "StringValue": event.job or "unknown"},
                },
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise NotificationError(
                f"SNS topic {self.topic_arn}: publish failed ({code}). Fix: check that the topic "
                "exists in the configured region and that the role may sns:Publish to it "
                "(`adlake iam-policy` prints the policy)"
            ) from None
        except BotoCoreError as exc:
            raise NotificationError(
                f"SNS topic {self.topic_arn}: publish failed ({type(exc).__name__})"
            ) from None


class _TransientHTTPError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class WebhookPublisher:
    """POSTs each event as JSON to a URL, retrying connection errors, 408, 429 and 5xx.

    Waits grow exponentially from ``backoff_seconds`` unless the server sends Retry-After
    (capped at 30 s). Timeouts are short: a slow webhook must not hold up a sensor tick.
    """

    def __init__(
        self,
        url: str,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotificationError(
                f"webhook URL {display_url(url)!r} is not an http(s) URL. Fix: set "
                "notifications.webhook_url to https://host/path"
            )
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    def publish(self, event: NotificationEvent) -> None:
        """POST the event; NotificationError after the last failed attempt."""
        body = event.to_json().encode("utf-8")
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, _TransientHTTPError)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._post(body)
        except (_TransientHTTPError, NotificationError) as exc:
            raise NotificationError(
                f"webhook {display_url(self.url)}: {exc} (after "
                f"{retrying.statistics.get('attempt_number', 1)} attempt(s))"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _TransientHTTPError) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP_SECONDS)
        return self.backoff_seconds * 2 ** (state.attempt_number - 1)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "adlake-notify"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (408, 429) or exc.code >= 500:
                raise _TransientHTTPError(
                    f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))
                ) from None
            raise NotificationError(f"HTTP {exc.code} (not retried)") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _TransientHTTPError(f"cannot connect ({type(reason).__name__})") from None


def publish_all(publishers: Sequence[Publisher], event: NotificationEvent) -> None:
    """Deliver the event to every publisher, then raise one error naming each that failed."""
    problems = []
    for publisher in publishers:
        try:
            publisher.publish(event)
        except NotificationError as exc:
            problems.append(str(exc))
    if problems:
        raise NotificationError(f"{event.kind} event of run {event.run_id}: " + "; ".join(problems))


def display_url(url: str) -> str:
    """A URL with its credentials, path and query hidden: ``https://host:port/…``."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: show none rather than fail while reporting
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff
