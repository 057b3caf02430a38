"""The shared HTTP module: retries, Retry-After, token refresh, pacing, downloads and polling.

Every test talks to a real HTTP server on loopback (the emulator base) and injects ``sleep``
and ``clock``, so nothing waits on a real clock.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from adlake.connectors.http import (
    ApiError,
    ApiSession,
    HttpSettings,
    PollTimeout,
    Throttled,
    Unauthorized,
    UrlExpired,
    poll,
)
from adlake_tests.emulators.fixtures_ads import SleepRecorder
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

SETTINGS = HttpSettings(max_attempts=4, backoff_base=1.0, backoff_max=8.0, timeout=10.0)
TOKEN = "Atza|very-secret-access-token-0123456789"


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds


class ThingsApi(EmulatorServer):
    """A tiny API for the tests: /things answers 200, /bad 400 echoing the token, /auth
    accepts only the token in ``valid_token``, /limited announces a rate limit."""

    name = "things"

    def __init__(self) -> None:
        super().__init__()
        self.valid_token = "fresh-token-0001"
        self.route("GET", r"/things", lambda r, m: json_reply(200, {"things": [1, 2]}))
        self.route("POST", r"/bad", self._bad)
        self.route("GET", r"/auth", self._auth)
        self.route("GET", r"/limited", self._limited)
        self.route("POST", r"/early", lambda r, m: self.error(425, "duplicate"))

    def _bad(self, request: Request, match: re.Match[str]) -> Reply:
        echoed = request.headers.get("Authorization")
        return json_reply(400, {"code": "400", "detail": f"column clickz is invalid ({echoed})"})

    def _auth(self, request: Request, match: re.Match[str]) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.valid_token}":
            return self.error(401, "token expired")
        return json_reply(200, {"ok": True})

    def _limited(self, request: Request, match: re.Match[str]) -> Reply:
        return json_reply(200, {}, headers={"x-amzn-RateLimit-Limit": "0.5"})


@pytest.fixture
def api() -> Iterator[ThingsApi]:
    with ThingsApi() as server:
        yield server


def session(sleeps: SleepRecorder, **kwargs: object) -> ApiSession:
    return ApiSession("Things API", settings=SETTINGS, sleep=sleeps, **kwargs)


def test_429_retried_honouring_retry_after_seconds(api: ThingsApi, sleeps: SleepRecorder) -> None:
    api.fail_next(429, count=2, retry_after=7)
    response = session(sleeps).request("GET", f"{api.base_url}/things", operation="listThings")
    assert response.json() == {"things": [1, 2]}
    assert sleeps.delays == [7.0, 7.0]
    assert len(api.requests) == 3


def test_retry_after_as_http_date(api: ThingsApi, sleeps: SleepRecorder) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    api.fail_next(503, retry_after=when)
    session(sleeps).request("GET", f"{api.base_url}/things", operation="listThings")
    assert len(sleeps.delays) == 1 and 27 <= sleeps.delays[0] <= 31


def test_5xx_retried_with_capped_jittered_backoff(api: ThingsApi, sleeps: SleepRecorder) -> None:
    api.fail_next(500, count=1)
    api.fail_next(502, count=1)
    api.fail_next(504, count=1)
    session(sleeps).request("GET", f"{api.base_url}/things", operation="listThings")
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays, start=1):
        assert 0 <= delay <= min(SETTINGS.backoff_max, SETTINGS.backoff_base * 2 ** (attempt - 1))


def test_backoff_never_exceeds_backoff_max(api: ThingsApi, sleeps: SleepRecorder) -> None:
    settings = HttpSettings(max_attempts=8, backoff_base=10.0, backoff_max=2.0)
    api.fail_next(503, count=7)
    ApiSession("Things API", settings=settings, sleep=sleeps).request(
        "GET", f"{api.base_url}/things", operation="listThings"
    )
    assert len(sleeps.delays) == 7 and max(sleeps.delays) <= 2.0


def test_throttled_after_all_attempts(api: ThingsApi, sleeps: SleepRecorder) -> None:
    api.fail_next(429, count=10, retry_after=1)
    with pytest.raises(Throttled) as caught:
        session(sleeps).request("GET", f"{api.base_url}/things", operation="listThings")
    error = caught.value
    assert (error.api, error.operation, error.status) == ("Things API", "listThings", 429)
    assert "Things API listThings failed with HTTP 429" in str(error)
    assert "rate" in error.fix
    assert len(api.requests) == SETTINGS.max_attempts


def test_4xx_names_api_operation_server_message_and_never_the_token(
    api: ThingsApi, sleeps: SleepRecorder
) -> None:
    client = session(sleeps, auth=lambda: {"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(ApiError) as caught:
        client.request("POST", f"{api.base_url}/bad", operation="createThing", json={})
    text = str(caught.value)
    assert "Things API createThing failed with HTTP 400" in text
    assert "column clickz is invalid" in text
    assert "Fix:" in text
    assert TOKEN not in text and "very-secret" not in text
    assert len(api.requests) == 1 and sleeps.delays == []


def test_long_server_message_is_trimmed(api: ThingsApi, sleeps: SleepRecorder) -> None:
    api.fail_next(400, body={"code": "400", "detail": "x" * 5000})
    with pytest.raises(ApiError) as caught:
        session(sleeps).request("GET", f"{api.base_url}/things", operation="listThings")
    assert len(caught.value.detail) <= 501


def test_404_is_not_retried(api: ThingsApi, sleeps: SleepRecorder) -> None:
    with pytest.raises(ApiError) as caught:
        session(sleeps).request("GET", f"{api.base_url}/nothing", operation="getNothing")
    assert caught.value.status == 404 and len(api.requests) == 1


def test_401_refreshes_the_token_once_then_succeeds(api: ThingsApi, sleeps: SleepRecorder) -> None:
    current = {"token": "stale-token-0000"}
    refreshes: list[int] = []

    def refresh() -> None:
        refreshes.append(1)
        current["token"] = api.valid_token

    client = session(
        sleeps,
        auth=lambda: {"Authorization": f"Bearer {current['token']}"},
        on_unauthorized=refresh,
    )
    assert client.request("GET", f"{api.base_url}/auth", operation="auth").json() == {"ok": True}
    assert refreshes == [1] and len(api.requests) == 2


def test_401_after_refresh_is_unauthorized(api: ThingsApi, sleeps: SleepRecorder) -> None:
    refreshes: list[int] = []
    client = session(
        sleeps,
        auth=lambda: {"Authorization": "Bearer never-valid-token"},
        on_unauthorized=lambda: refreshes.append(1),
    )
    with pytest.raises(Unauthorized) as caught:
        client.request("GET", f"{api.base_url}/auth", operation="auth")
    assert refreshes == [1] and len(api.requests) == 2
    assert "never-valid-token" not in str(caught.value)
    assert "refresh token" in str(caught.value)


def test_passthrough_status_is_returned(api: ThingsApi, sleeps: SleepRecorder) -> None:
    response = session(sleeps).request(
        "POST", f"{api.base_url}/early", operation="create", passthrough=(425,)
    )
    assert response.status_code == 425


def test_connection_errors_are_retried_then_reported(sleeps: SleepRecorder) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ApiError) as caught:
        session(sleeps).request("GET", f"http://127.0.0.1:{port}/x?sig=1", operation="listThings")
    assert "could not reach http://127.0.0.1" in str(caught.value)
    assert "sig=1" not in str(caught.value)
    assert len(sleeps.delays) == SETTINGS.max_attempts - 1


def test_rate_limit_header_paces_the_same_operation(api: ThingsApi) -> None:
    clock = FakeClock()
    client = ApiSession("Things API", settings=SETTINGS, sleep=clock.sleep, clock=clock)
    url = f"{api.base_url}/limited"
    client.request("GET", url, operation="limited")
    client.request("GET", f"{api.base_url}/things", operation="other")
    client.request("GET", url, operation="limited")
    client.request("GET", url, operation="limited")
    assert clock.delays == [pytest.approx(2.0), pytest.approx(2.0)]


def test_a_known_burst_goes_out_at_once_and_only_later_calls_wait(api: ThingsApi) -> None:
    clock = FakeClock()
    client = ApiSession(
        "Things API", settings=SETTINGS, sleep=clock.sleep, clock=clock, bursts={"limited": 3}
    )
    url = f"{api.base_url}/limited"
    for _ in range(5):
        client.request("GET", url, operation="limited")
    # rate 0.5/s, burst 3: three calls at once, then one every 2 s
    assert clock.delays == [pytest.approx(2.0), pytest.approx(2.0)]


def test_download_streams_with_sha256_and_progress(
    api: ThingsApi, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    url = api.publish(content, ttl=60)
    seen: list[int] = []
    dest = tmp_path / "out" / "report.json.gz"
    result = session(sleeps, auth=lambda: {"Authorization": f"Bearer {TOKEN}"}).download(
        url, dest, operation="download", chunk_size=256 * 1024, on_progress=seen.append
    )
    assert result.bytes == len(content)
    assert result.sha256 == hashlib.sha256(content).hexdigest()
    assert dest.read_bytes() == content
    assert seen == sorted(seen) and seen[-1] == len(content) and len(seen) > 10
    assert sorted(p.name for p in dest.parent.iterdir()) == ["report.json.gz"]


def test_download_restarts_after_a_truncated_transfer(
    api: ThingsApi, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    content = os.urandom(512 * 1024)
    url = api.publish(content, ttl=60)
    api.truncate_next_download()
    result = session(sleeps).download(url, tmp_path / "f.bin", operation="download")
    assert result.bytes == len(content) and (tmp_path / "f.bin").read_bytes() == content
    assert len(sleeps.delays) == 1


def test_download_retries_transient_statuses(
    api: ThingsApi, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    url = api.publish(b"[]", ttl=60)
    api.fail_next(503, count=2, path="/_download/")
    assert session(sleeps).download(url, tmp_path / "f", operation="download").bytes == 2
    assert len(sleeps.delays) == 2


def test_expired_url_raises_url_expired_and_leaves_nothing(
    api: ThingsApi, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    url = api.publish(b"data", ttl=60)
    api.expire_all_urls()
    with pytest.raises(UrlExpired) as caught:
        session(sleeps).download(url, tmp_path / "f.json.gz", operation="downloadReport")
    assert caught.value.status == 403
    assert "Request has expired" in str(caught.value)
    assert "X-Amz-Signature" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    assert sleeps.delays == []


def test_poll_reports_progress_and_grows_the_interval() -> None:
    clock = FakeClock()
    states = iter(["PENDING", "PROCESSING", "PROCESSING", "PROCESSING", "DONE"])
    progress: list[tuple[str, int]] = []
    result = poll(
        lambda: next(states),
        lambda state: state == "DONE",
        api="Things API",
        operation="getJob",
        interval=2.0,
        max_interval=4.0,
        sleep=clock.sleep,
        clock=clock,
        on_progress=lambda state, attempt: progress.append((state, attempt)),
    )
    assert result == "DONE"
    assert progress == [("PENDING", 1), ("PROCESSING", 2), ("PROCESSING", 3), ("PROCESSING", 4)]
    assert clock.delays == [2.0, 3.0, 4.0, 4.0]


def test_poll_timeout_names_operation_and_elapsed_time(sleeps: SleepRecorder) -> None:
    with pytest.raises(PollTimeout) as caught:
        poll(
            lambda: "PENDING",
            lambda state: False,
            api="Things API",
            operation="getJob",
            interval=10.0,
            timeout=60.0,
            sleep=sleeps,
        )
    assert "Things API getJob failed" in str(caught.value)
    assert "after 60 s" in str(caught.value)
    assert sleeps.total == pytest.approx(60.0)


def test_api_error_survives_pickling() -> None:
    error = Throttled("Things API", "listThings", "slow down", status=429)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is Throttled and str(copy) == str(error) and copy.status == 429
