"""Errors of every connector, and the masking that keeps secrets out of their messages.

Kept apart from :mod:`adlake.connectors.http` (which re-exports them) so that code raising or
catching connector errors does not need the HTTP machinery.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

MESSAGE_LIMIT = 500
_SECRET_PATTERN = re.compile(
    r"Atz[ar]\|[^\s\"',;]+"
    r"|(?i:bearer)\s+[^\s\"',;]+"
    r"|(?i:X-Amz-(?:Signature|Credential|Security-Token))=[^&\s\"',;]+"
)


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """``text`` with tokens, Bearer values, presigned-URL signatures and ``secrets`` masked."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return _SECRET_PATTERN.sub("***", text)


def safe_url(url: str) -> str:
    """A URL without its query string, which for a presigned URL is a credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class ApiError(Exception):
    """A call to an external API failed for good.

    The message names the API, the operation, the HTTP status, the server's own message
    (trimmed) and the fix; it never holds a token, a secret or an Authorization header.
    """

    default_fix = "check the request against the API documentation and retry"

    def __init__(
        self,
        api: str,
        operation: str,
        detail: str,
        *,
        status: int | None = None,
        fix: str | None = None,
    ) -> None:
        detail = redact(detail).strip()
        if len(detail) > MESSAGE_LIMIT:
            detail = detail[:MESSAGE_LIMIT].rstrip() + "…"
        self.api = api
        self.operation = operation
        self.status = status
        self.detail = detail
        self.fix = fix or self.default_fix
        failed = f"{api} {operation} failed" + (f" with HTTP {status}" if status else "")
        super().__init__(f"{failed}: {detail.rstrip('. ')}. Fix: {self.fix}")

    def __reduce__(self) -> tuple[Any, ...]:
        state = (type(self), self.api, self.operation, self.detail, self.status, self.fix)
        return (_rebuild, state)


def _rebuild(cls: type[ApiError], *args: Any) -> ApiError:
    api, operation, detail, status, fix = args
    return cls(api, operation, detail, status=status, fix=fix)


class Throttled(ApiError):
    """The API still answered 429 Too Many Requests after every retry."""

    default_fix = (
        "the API kept throttling; lower the request rate (fewer parallel runs, a Dagster pool "
        "for this API) or retry later"
    )


class Unauthorized(ApiError):
    """The API refused the credentials (401/403), even after refreshing the access token."""

    default_fix = (
        "check the client id, client secret and refresh token in the secrets, and that the "
        "account granted this application access to the resource"
    )


class UrlExpired(ApiError):
    """A presigned download URL expired; fetch the job's metadata again for a fresh one."""

    default_fix = "fetch the report or job again to get a fresh download URL"


class PollTimeout(ApiError):
    """An asynchronous job did not finish within the polling timeout."""

    default_fix = "raise the polling timeout, or check the job in the platform's console"
