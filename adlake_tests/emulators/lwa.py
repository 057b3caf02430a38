"""Login with Amazon emulator and the token authority the API emulators share.

Follows shared/specs/README.md section 2.1: ``POST /auth/o2/token`` with a form (or JSON) body,
``refresh_token`` and ``client_credentials`` grants, ``{"access_token","token_type",
"expires_in"}`` on success and ``{"error","error_description"}`` on failure. Every access token
it issues is registered in a :class:`TokenAuthority`; the Amazon Ads and SP-API emulators ask
that authority, so an expired or unknown token gets a 401 there exactly as with Amazon.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

TEST_CLIENT_ID = "amzn1.application-oa2-client.adlaketest0000000000000000"
TEST_CLIENT_SECRET = "amzn1.oa2-cs.v1.adlake-test-client-secret-0000000000000000"
TEST_REFRESH_TOKEN = "Atzr|IwEBIadlake-test-refresh-token-000000000000000000000000"
_ERROR_BY_STATUS = {500: "server_error", 503: "temporarily_unavailable"}


@dataclass
class IssuedToken:
    """An access token the emulator handed out: to which client, until when, with what scope."""

    client_id: str
    expires_at: float
    scope: str | None


class TokenAuthority:
    """The access tokens issued by the LWA emulator, checked by the API emulators.

    ``clock`` drives expiry; a test can replace it to make tokens expire without waiting.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, client_id: str, ttl: float, scope: str | None = None) -> str:
        """A new access token for ``client_id`` valid for ``ttl`` seconds."""
        token = "Atza|" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = IssuedToken(client_id, self.clock() + ttl, scope)
        return token

    def problem(self, token: str | None, client_id: str | None = None) -> str | None:
        """Why ``token`` is not acceptable (missing, unknown, expired, other client), or None."""
        if not token:
            return "missing"
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return "unknown"
        if self.clock() >= issued.expires_at:
            return "expired"
        if client_id is not None and client_id != issued.client_id:
            return "client mismatch"
        return None

    def expire_all(self) -> None:
        """Expire every token issued so far (as if an hour had passed)."""
        with self._lock:
            for issued in self._tokens.values():
                issued.expires_at = self.clock() - 1

    @property
    def issued(self) -> int:
        """How many access tokens were issued."""
        with self._lock:
            return len(self._tokens)

    def tokens(self) -> list[str]:
        """Every access token issued, for tests that check none leaks."""
        with self._lock:
            return list(self._tokens)


def bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    match = re.fullmatch(r"(?i:bearer)\s+(\S+)", request.headers.get("Authorization") or "")
    return match[1] if match else None


class LwaEmulator(EmulatorServer):
    """``POST /auth/o2/token`` as Login with Amazon answers it.

    Knobs: ``token_ttl`` (seconds, default 3600), ``register()`` more clients and refresh
    tokens, ``revoke()`` refresh tokens (then ``invalid_grant``), ``fail_next()`` (5xx bodies
    are LWA ``server_error``/``temporarily_unavailable``). ``grants`` logs every grant type.
    """

    name = "lwa"

    def __init__(
        self,
        authority: TokenAuthority | None = None,
        *,
        token_ttl: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(clock=clock)
        self.authority = authority or TokenAuthority(clock)
        self.token_ttl = token_ttl
        self.grants: list[str] = []
        self._clients = {TEST_CLIENT_ID: TEST_CLIENT_SECRET}
        self._refresh_tokens = {TEST_REFRESH_TOKEN: TEST_CLIENT_ID}
        self._revoked: set[str] = set()
        self.route("POST", r"/auth/o2/token", self._token)

    @property
    def token_url(self) -> str:
        """The token endpoint to give to ``LwaTokens``."""
        return f"{self.base_url}/auth/o2/token"

    def register(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        """Accept another client and a refresh token granted to it."""
        with self.lock:
            self._clients[client_id] = client_secret
            self._refresh_tokens[refresh_token] = client_id

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token, or all of them when None."""
        with self.lock:
            self._revoked.update([refresh_token] if refresh_token else self._refresh_tokens)

    def error_body(self, status: int, message: str) -> Any:
        """LWA's error shape."""
        code = _ERROR_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request")
        return {"error": code, "error_description": message}

    def _lwa_error(self, status: int, code: str, description: str) -> Reply:
        return json_reply(status, {"error": code, "error_description": description})

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            form = request.json() if content_type == "application/json" else request.form()
        except ValueError:
            return self._lwa_error(400, "invalid_request", "The request body is malformed.")
        if not isinstance(form, dict):
            return self._lwa_error(400, "invalid_request", "The request body is malformed.")
        grant = form.get("grant_type")
        with self.lock:
            self.grants.append(str(grant))
            secret = self._clients.get(str(form.get("client_id")))
        if not grant:
            return self._lwa_error(400, "invalid_request", "grant_type is missing")
        if secret is None or secret != form.get("client_secret"):
            return self._lwa_error(401, "invalid_client", "Client authentication failed")
        if grant == "refresh_token":
            return self._refresh(form)
        if grant == "client_credentials":
            scope = form.get("scope")
            if not scope:
                return self._lwa_error(400, "invalid_scope", "The request has an invalid scope")
            return self._issue(form["client_id"], scope)
        return self._lwa_error(400, "unsupported_grant_type", f"Unsupported grant: {grant}")

    def _refresh(self, form: dict[str, Any]) -> Reply:
        token = form.get("refresh_token")
        with self.lock:
            owner = self._refresh_tokens.get(str(token))
            revoked = token in self._revoked
        if not token:
            return self._lwa_error(400, "invalid_request", "refresh_token is missing")
        if owner != form["client_id"] or revoked:
            return self._lwa_error(
                400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"
            )
        return self._issue(form["client_id"], None)

    def _issue(self, client_id: str, scope: str | None) -> Reply:
        token = self.authority.issue(client_id, self.token_ttl, scope)
        payload = {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl)}
        return json_reply(200, payload, headers={"Cache-Control": "no-store"})
