"""Login with Amazon (LWA): access tokens for Amazon Ads, Selling Partner API and AMC.

An access token lives an hour; :class:`LwaTokens` exchanges the long-lived refresh token for
one, caches it and refreshes it 60 s before it expires (as Amazon's own clients do) or when an
API refused it. Errors name the LWA error code and what to do, never a secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from adlake.connectors.http import DEFAULT_HTTP, ApiError, ApiSession, HttpSettings, redact

LWA_TOKEN_URLS = {
    "NA": "https://api.amazon.com/auth/o2/token",
    "EU": "https://api.amazon.co.uk/auth/o2/token",
    "FE": "https://api.amazon.co.jp/auth/o2/token",
}
REFRESH_MARGIN_SECONDS = 60.0
API = "Login with Amazon"
OPERATION = "token exchange"

_SECRET_NAME = "the secret that holds it"
LWA_FIXES = {
    "invalid_grant": (
        "the refresh token was revoked, has expired or belongs to another client id; authorise "
        f"the application again to get a new refresh token and store it in {_SECRET_NAME}"
    ),
    "invalid_client": (
        "the client id or client secret is wrong (or the secret was rotated); copy both from "
        "the LWA security profile into the secrets"
    ),
    "unauthorized_client": (
        "this client id may not use this grant type; check the LWA security profile and the "
        "application's registration"
    ),
    "invalid_request": (
        "the token request is malformed; check that the client id, client secret and refresh "
        "token are all set and not empty"
    ),
    "invalid_scope": "the requested scope is not valid for this client; check the scope",
    "access_denied": "the account owner denied access; authorise the application again",
    "server_error": "Login with Amazon kept failing after retries; try again later",
    "temporarily_unavailable": "Login with Amazon kept failing after retries; try again later",
}
_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized_client",
    403: "access_denied",
    500: "server_error",
    503: "temporarily_unavailable",
}


class LwaError(ApiError):
    """Login with Amazon refused or failed a token exchange; ``code`` is the LWA error code."""

    default_fix = "check the LWA client id, client secret and refresh token in the secrets"
    code: str = "unknown"

    @classmethod
    def of(cls, code: str, description: str, status: int | None) -> LwaError:
        """The error for one LWA error code, with the fix that goes with it."""
        error = cls(
            API,
            OPERATION,
            f"LWA error {code}: {description or 'no description'}",
            status=status,
            fix=LWA_FIXES.get(code),
        )
        error.code = code
        return error


@dataclass(frozen=True)
class LwaCredentials:
    """An LWA client (id and secret) and the refresh token an account granted it."""

    client_id: str
    client_secret: str
    refresh_token: str

    def __repr__(self) -> str:
        return f"LwaCredentials(client_id={self.client_id!r}, client_secret=***, refresh_token=***)"

    def secrets(self) -> tuple[str, str]:
        """The two values that must never appear in a log or an error."""
        return (self.client_secret, self.refresh_token)


class LwaTokens:
    """A cached LWA access token, refreshed 60 s before it expires or after ``invalidate()``.

    Thread-safe: concurrent callers share one refresh. With ``scope`` set, the grantless
    ``client_credentials`` grant is used instead of the refresh token (SP-API notifications).
    """

    def __init__(
        self,
        token_url: str,
        credentials: LwaCredentials,
        *,
        settings: HttpSettings = DEFAULT_HTTP,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        scope: str | None = None,
    ) -> None:
        self.token_url = token_url
        self._credentials = credentials
        self._scope = scope
        self._clock = clock
        self._session = ApiSession(API, settings=settings, sleep=sleep)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"LwaTokens(token_url={self.token_url!r}, client_id={self._credentials.client_id!r})"

    def access_token(self) -> str:
        """A valid access token: the cached one, or a fresh one from LWA."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token, self._expires_at = self._exchange()
                self.refreshes += 1
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (an API refused it); the next call fetches a new one."""
        with self._lock:
            self._token = None

    def _form(self) -> dict[str, str]:
        credentials = self._credentials
        form = {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
        if self._scope:
            return {"grant_type": "client_credentials", "scope": self._scope, **form}
        return {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token, **form}

    def _exchange(self) -> tuple[str, float]:
        secrets = self._credentials.secrets()
        started = self._clock()
        refused = [status for status in range(400, 500) if status != 429]
        try:
            response = self._session.request(
                "POST",
                self.token_url,
                operation=OPERATION,
                passthrough=refused,
                data=self._form(),
                headers={"Accept": "application/json"},
            )
        except ApiError as failed:
            code = _CODE_BY_STATUS.get(failed.status or 0, "server_error")
            detail = redact(failed.detail, secrets).removeprefix(f"{code}: ")
            raise LwaError.of(code, detail, failed.status) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            code = str(body.get("error") or _CODE_BY_STATUS.get(response.status_code, "unknown"))
            description = redact(str(body.get("error_description") or response.text), secrets)
            raise LwaError.of(code, description, response.status_code)
        expires_in = float(body.get("expires_in") or 3600)
        return str(body["access_token"]), started + expires_in


class LwaApiClient:
    """A client of one Amazon Ads API region (Ads, AMC) authorized by one LWA client.

    Every call carries ``Authorization: Bearer`` and ``Amazon-Advertising-API-ClientId``; a 401
    drops the cached token so the retry gets a fresh one. ``endpoint`` is a regional host or an
    emulator; ``sleep`` and ``clock`` are injectable so that tests never wait.
    """

    api = "Amazon Ads"

    def __init__(
        self,
        *,
        endpoint: str,
        client_id: str,
        tokens: LwaTokens,
        settings: HttpSettings = DEFAULT_HTTP,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.client_id = client_id
        self._tokens = tokens
        self._sleep = sleep
        self._clock = clock
        self._session = ApiSession(
            self.api,
            auth=self._auth,
            on_unauthorized=tokens.invalidate,
            settings=settings,
            sleep=sleep,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def _auth(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._tokens.access_token()}",
            "Amazon-Advertising-API-ClientId": self.client_id,
        }
