"""Webhook notifications: a JSON POST received by a tiny HTTP server on loopback, retries on
transient errors, errors that never show the URL's secret path; the event model's limits."""

from __future__ import annotations

import json
import socket
import time
from http.server import ThreadingHTTPServer

import pytest

from adlake.notify import (
    AssetOutcome,
    NotificationError,
    NotificationEvent,
    WebhookPublisher,
    file_quarantined_event,
    run_event,
)
from adlake.resources.notifier import LogNotifierResource

UI = "https://dagster.example.test"
POS_LANDING = "landing/retail_partner/pos_transactions"


def quarantine_event() -> NotificationEvent:
    """A file_quarantined event as the raw asset sends it."""
    return file_quarantined_event(
        run_id="run-1",
        job="__ASSET_JOB",
        ui_base_url=UI,
        asset_key="raw/retail_partner/pos_transactions",
        partition="2026-03-09",
        landing_path=f"{POS_LANDING}/pos_2026-03-09.csv",
        reason="the file is empty (0 bytes)",
    )


def test_webhook_receives_the_event_after_a_retry(webhook: ThreadingHTTPServer) -> None:
    webhook.script = [503]  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{webhook.server_port}/hooks/secret-token"
    LogNotifierResource(webhook_url=url, ui_base_url=UI).notify(quarantine_event())
    first, second = webhook.received  # type: ignore[attr-defined]
    assert first == second
    path, content_type, body = second
    assert (path, content_type) == ("/hooks/secret-token", "application/json")
    event = json.loads(body)
    assert event["kind"] == "file_quarantined"
    assert event["run_url"] == f"{UI}/runs/run-1"


@pytest.mark.parametrize(
    ("script", "attempts", "expected"),
    [
        ([400], 1, "HTTP 400 (not retried)"),
        ([500, 502, 503], 3, "HTTP 503 (after 3 attempt(s))"),
    ],
)
def test_webhook_errors_name_the_host_never_the_path(
    webhook: ThreadingHTTPServer, script: list[int], attempts: int, expected: str
) -> None:
    webhook.script = script  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{webhook.server_port}/hooks/secret-token"
    publisher = WebhookPublisher(url, timeout_seconds=2, attempts=3, backoff_seconds=0.01)
    with pytest.raises(NotificationError) as caught:
        publisher.publish(quarantine_event())
    assert expected in str(caught.value)
    assert f"http://127.0.0.1:{webhook.server_port}/…" in str(caught.value)
    assert "secret-token" not in str(caught.value)
    assert len(webhook.received) == attempts  # type: ignore[attr-defined]


def test_unreachable_webhook_fails_fast_after_its_attempts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    publisher = WebhookPublisher(f"http://127.0.0.1:{port}/x", attempts=2, backoff_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(NotificationError, match=r"cannot connect .*after 2 attempt"):
        publisher.publish(quarantine_event())
    assert time.monotonic() - started < 5


def test_subject_is_short_ascii_and_kinds_are_closed() -> None:
    event = run_event(
        "run_succeeded",
        run_id="r",
        job="j",
        ui_base_url=UI + "/",
        assets=[AssetOutcome(f"clean/source_{i}/dataset_é", ("2026-03-09",)) for i in range(20)],
    )
    assert len(event.subject()) <= 100 and event.subject().isascii()
    assert event.run_url == f"{UI}/runs/r"
    with pytest.raises(ValueError, match="unknown event kind 'run_started'"):
        NotificationEvent(kind="run_started", run_id="r", job="j", run_url="u", message="m")  # type: ignore[arg-type]
