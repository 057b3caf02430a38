"""HTTP for every connector: retries, backoff, rate pacing, async-job polling, URL downloads.

Written once and imported by every connector and destination, so that the rules are the same
everywhere: transient failures (connection errors, 429, 500, 502, 503, 504) are retried with
exponential backoff and full jitter, honouring ``Retry-After``; a 401 refreshes the token once;
an ``x-amzn-RateLimit-Limit`` header paces later calls of the same operation; anything else
becomes an :class:`ApiError` whose message names the API, the operation, the HTTP status, the
server's own words and a fix, and never a token or a presigned URL's signature.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from adlake.connectors.errors import (
    ApiError,
    PollTimeout,
    Throttled,
    Unauthorized,
    UrlExpired,
    redact,
    safe_url,
)

__all__ = [
    "DEFAULT_HTTP",
    "ApiError",
    "ApiSession",
    "DownloadResult",
    "HttpSettings",
    "PollTimeout",
    "Throttled",
    "Unauthorized",
    "UrlExpired",
    "poll",
    "redact",
    "retry_after",
    "safe_url",
    "server_message",
]

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
)
_XML_ERROR = re.compile(r"<Code>(?P<code>[^<]*)</Code>\s*<Message>(?P<message>[^<]*)</Message>")
_FIXES = {
    400: "correct the request; the server's message above names the field or value it refused",
    404: "the resource does not exist or belongs to another account; check the id",
    422: "correct the request; the server's message above names the field or value it refused",
}
_SERVER_FIX = "the service kept failing after retries; try again later or check its status page"


@dataclass(frozen=True)
class HttpSettings:
    """Retry and timeout settings shared by every call of one session."""

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 60.0
    user_agent: str = "adlake/0.1"


DEFAULT_HTTP = HttpSettings()


@dataclass(frozen=True)
class DownloadResult:
    """What streaming a URL to a file wrote: its size in bytes and its SHA-256 (hex)."""

    bytes: int
    sha256: str


class _Retryable(Exception):
    """One attempt failed transiently; ``error`` is raised if no attempt is left."""

    def __init__(self, error: ApiError, delay: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.delay = delay


NOT_JSON_FIX = (
    "the API answered with something other than its JSON (a proxy's or gateway's error page, "
    "a cut connection): run again later; if it persists, check the endpoint or base_url and "
    "the path in adlake.yaml"
)
_TITLE = re.compile(rb"<title[^>]*>([^<]{1,80})", re.IGNORECASE)


def json_of(
    response: requests.Response, api: str, operation: str, expect: type | None = dict
) -> Any:
    """The JSON document of a successful answer, or ApiError naming the call and the fix.

    An empty body, a body that is not JSON (an HTML error page with a 200, a truncated
    transfer) or JSON of another kind than ``expect`` (an object, a list) is refused, never
    taken for an empty page. A UTF-8 byte-order mark is accepted. The body itself is not
    quoted (it may hold personal data); an HTML page's title is.
    """
    content, status = response.content, response.status_code
    kind = response.headers.get("Content-Type") or "no content type"
    if not content.strip():
        raise ApiError(api, operation, f"HTTP {status} came with an empty body", fix=NOT_JSON_FIX)
    try:
        body = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        title = _TITLE.search(content)
        shown = f", titled '{title.group(1).decode('utf-8', 'replace').strip()}'" if title else ""
        raise ApiError(
            api,
            operation,
            f"HTTP {status} came with a body that is not JSON ({kind}, {len(content):,} "
            f"bytes{shown})",
            fix=NOT_JSON_FIX,
        ) from None
    if expect is not None and not isinstance(body, expect):
        wanted = {dict: "an object", list: "a list"}.get(expect, expect.__name__)
        raise ApiError(
            api,
            operation,
            f"HTTP {status} came with JSON {type(body).__name__} where {wanted} was expected",
            fix=NOT_JSON_FIX,
        )
    return body


def json_field(body: dict[str, Any], key: str, api: str, operation: str) -> Any:
    """``body[key]``, or ApiError saying the answer lacks it."""
    if key not in body:
        raise ApiError(api, operation, f"the answer has no '{key}'", fix=NOT_JSON_FIX)
    return body[key]


def server_message(response: requests.Response) -> str:
    """The server's own explanation from an error response: JSON fields or the body text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        xml = _XML_ERROR.search(text)
        if xml:
            return f"{xml['code']}: {xml['message']}"
        return text or response.reason or "the server gave no message"
    return message_of(body)


def message_of(body: Any) -> str:
    """The explanation inside a JSON error body (code, error, message, errors...)."""
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("code", "error") if isinstance(body.get(k), str | int)]
        keys = ("message", "Message", "detail", "details", "error_description")
        parts += [body[k] for k in keys if isinstance(body.get(k), str) and body[k]]
        if isinstance(body.get("errors"), list):
            parts += [message_of(item) for item in body["errors"][:3]]
        if isinstance(body.get("error"), dict):
            parts.append(message_of(body["error"]))
        if parts:
            return ": ".join(parts)
    return str(body)


def retry_after(response: requests.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _fix_for(status: int) -> str | None:
    return _SERVER_FIX if status >= 500 else _FIXES.get(status)


class ApiSession:
    """Calls to one API with the shared retry, token-refresh and pacing rules.

    ``auth`` returns the authentication headers, called before every attempt so a refreshed
    token is picked up; ``on_unauthorized`` is called once after a 401/403 (to drop a cached
    token) before the call is retried. ``sleep`` and ``clock`` are injectable for tests.

    Pacing is a token bucket per operation: the rate comes from ``rates`` (a configured limit)
    or the API's ``x-amzn-RateLimit-Limit`` header, the burst from ``bursts`` (an API's
    published usage plan; 1 when unknown, i.e. evenly spaced calls), so a burst of calls goes
    out at once and only calls beyond it wait.
    """

    def __init__(
        self,
        api: str,
        *,
        auth: Callable[[], dict[str, str]] | None = None,
        on_unauthorized: Callable[[], None] | None = None,
        settings: HttpSettings = DEFAULT_HTTP,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        bursts: Mapping[str, int] | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        self.api = api
        self.settings = settings
        self._bursts = dict(bursts or {})
        self._auth = auth
        self._on_unauthorized = on_unauthorized
        self._sleep = sleep
        self._clock = clock
        self._http = requests.Session()
        self._http.headers["User-Agent"] = settings.user_agent
        self._lock = threading.Lock()
        self._rates: dict[str, float] = dict(rates or {})  # requests/s, known or learned
        self._buckets: dict[str, tuple[float, float]] = {}  # operation -> (tokens, at)

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> ApiSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        ok: Collection[int] = (200,),
        passthrough: Collection[int] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
    ) -> requests.Response:
        """Send one API call with retries; return the response if its status is in ``ok``.

        Statuses in ``passthrough`` are returned untouched for the caller to interpret (e.g. a
        425 duplicate); any other status raises :class:`ApiError` (or a subclass).
        """
        refreshed = False

        def attempt() -> requests.Response:
            nonlocal refreshed
            self._pace(operation)
            auth = self._auth() if self._auth else {}
            secrets = [
                value.split()[-1]
                for name, value in auth.items()
                if value and ("auth" in name.lower() or "token" in name.lower())
            ]
            try:
                response = self._http.request(
                    method,
                    url,
                    headers={**(headers or {}), **auth},
                    params=params,
                    json=json,
                    data=data,
                    timeout=self.settings.timeout,
                )
            except _NETWORK_ERRORS as exc:
                raise _Retryable(self._unreachable(operation, url, exc)) from exc
            self._learn_rate(operation, response)
            status = response.status_code
            if status in ok or status in passthrough:
                return response
            if status in (401, 403) and self._on_unauthorized is not None and not refreshed:
                refreshed = True
                self._on_unauthorized()
                raise _Retryable(self._error(Unauthorized, operation, response, secrets), 0.0)
            if status == 429:
                self._drain(operation)
            if status in TRANSIENT_STATUSES:
                kind = Throttled if status == 429 else ApiError
                error = self._error(kind, operation, response, secrets)
                raise _Retryable(error, retry_after(response))
            kind = Unauthorized if status in (401, 403) else ApiError
            raise self._error(kind, operation, response, secrets)

        return self._retrying(attempt)

    def download(
        self,
        url: str,
        dest: Path,
        *,
        operation: str,
        chunk_size: int = 1 << 20,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream a presigned URL (sent without any auth header) to ``dest``, atomically.

        Bytes go to ``<dest>.part`` while their SHA-256 is computed, then the file is renamed;
        memory stays bounded by ``chunk_size``. Transient failures restart the download; an
        expired URL (403, 410, or 400 saying so) raises :class:`UrlExpired`.
        ``on_progress`` receives the bytes written so far after each chunk.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> DownloadResult:
            try:
                with self._http.get(url, stream=True, timeout=self.settings.timeout) as response:
                    if response.status_code == 200:
                        return _stream_to(response, part, chunk_size, on_progress)
                    raise self._download_error(operation, url, response)
            except _NETWORK_ERRORS as exc:
                raise _Retryable(self._unreachable(operation, url, exc)) from exc

        try:
            result = self._retrying(attempt)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
        return result

    def _download_error(
        self, operation: str, url: str, response: requests.Response
    ) -> ApiError | _Retryable:
        status = response.status_code
        message = f"{server_message(response)} (GET {safe_url(url)})"
        if status in (403, 410) or (status == 400 and "expire" in message.lower()):
            return UrlExpired(self.api, operation, message, status=status)
        if status in TRANSIENT_STATUSES:
            kind = Throttled if status == 429 else ApiError
            error = kind(self.api, operation, message, status=status, fix=_fix_for(status))
            return _Retryable(error, retry_after(response))
        return ApiError(self.api, operation, message, status=status, fix=_fix_for(status))

    def _retrying(self, attempt: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retryable as failed:
            raise failed.error from None

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one, else exponential backoff with full jitter."""
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retryable) and failure.delay is not None:
            return failure.delay
        settings = self.settings
        cap = min(settings.backoff_max, settings.backoff_base * 2 ** (state.attempt_number - 1))
        return random.uniform(0, cap)

    def _pace(self, operation: str) -> None:
        """Take a token of this operation's bucket, waiting for one when the bucket is empty."""
        with self._lock:
            rate = self._rates.get(operation)
            if rate is None:
                return
            now = self._clock()
            tokens, at = self._refilled(operation, rate, now)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
            self._buckets[operation] = (tokens - 1, now)
        if wait > 0:
            self._sleep(wait)

    def _drain(self, operation: str) -> None:
        """A 429 says the API's bucket is empty: ours too, so the retry waits a full interval."""
        with self._lock:
            if operation in self._rates:
                self._buckets[operation] = (0.0, self._clock())

    def _refilled(self, operation: str, rate: float, now: float) -> tuple[float, float]:
        burst = self._bursts.get(operation, 1)
        tokens, at = self._buckets.get(operation, (float(burst), now))
        return min(float(burst), tokens + max(0.0, now - at) * rate), now

    def _learn_rate(self, operation: str, response: requests.Response) -> None:
        value = response.headers.get(RATE_LIMIT_HEADER)
        try:
            rate = float(value) if value else 0.0
        except ValueError:
            return
        if rate <= 0:
            return
        with self._lock:
            if operation not in self._rates:  # this first call used one token of the burst
                self._buckets[operation] = (self._bursts.get(operation, 1) - 1.0, self._clock())
            self._rates[operation] = rate

    def _error(
        self,
        kind: type[ApiError],
        operation: str,
        response: requests.Response,
        secrets: Collection[str],
    ) -> ApiError:
        status = response.status_code
        message = redact(server_message(response), secrets)
        return kind(self.api, operation, message, status=status, fix=_fix_for(status))

    def _unreachable(self, operation: str, url: str, exc: Exception) -> ApiError:
        return ApiError(
            self.api,
            operation,
            f"could not reach {safe_url(url)}: {type(exc).__name__}",
            fix="check network access to the API host (proxy, DNS, firewall) and retry",
        )


def _stream_to(
    response: requests.Response,
    part: Path,
    chunk_size: int,
    on_progress: Callable[[int], None] | None,
) -> DownloadResult:
    """Write the raw (still compressed) body to ``part``, hashing as it goes."""
    digest = hashlib.sha256()
    written = 0
    with part.open("wb") as out:
        for chunk in response.raw.stream(chunk_size, decode_content=False):
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            if on_progress is not None:
                on_progress(written)
        out.flush()
        os.fsync(out.fileno())
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and int(expected) != written:
        raise requests.exceptions.ChunkedEncodingError(f"got {written} of {expected} bytes")
    return DownloadResult(bytes=written, sha256=digest.hexdigest())


def file_sha256(path: Path) -> str:
    """Lower-case hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def poll(
    check: Callable[[], T],
    done: Callable[[T], bool],
    *,
    api: str,
    operation: str,
    interval: float = 5.0,
    max_interval: float = 60.0,
    timeout: float = 4 * 3600,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[T, int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``check()`` until ``done(result)``, waiting longer each time (x1.5, capped).

    ``on_progress(result, attempt)`` runs after each check that is not final, so a caller can
    log the job's state. Elapsed time counts the sleeps too, so an injected ``sleep`` makes the
    timeout testable. Raises :class:`PollTimeout` naming the operation and the time waited.
    """
    started = clock()
    slept = 0.0
    wait = interval
    attempt = 0
    while True:
        attempt += 1
        result = check()
        if done(result):
            return result
        elapsed = max(clock() - started, slept)
        if elapsed >= timeout:
            raise PollTimeout(
                api,
                operation,
                f"still not done after {elapsed:.0f} s and {attempt} checks; "
                f"last state: {str(result)[:200]}",
            )
        if on_progress is not None:
            on_progress(result, attempt)
        pause = min(wait, timeout - elapsed)
        sleep(pause)
        slept += pause
        wait = min(wait * 1.5, max_interval)
