"""How a REST source's requests are authenticated: OAuth2 grants, API keys, bearer, basic.

Each auth adds headers (or query parameters) to a request. OAuth2 tokens are fetched from the
token endpoint when first needed, cached until ``expires_in`` (less a minute) and dropped when
the API answers 401, so the retry fetches a fresh one (a token that expires mid-run). Secret
values are read through the secret lookup and only ever go into requests.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from adlake.config.rest import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuthClientCredentialsAuth,
    OAuthRefreshTokenAuth,
    RestAuthConfig,
)
from adlake.connectors.http import ApiError, ApiSession, HttpSettings

SecretLookup = Callable[[str], str]
REFRESH_MARGIN_SECONDS = 60.0


class RequestAuth:
    """No authentication: the base of the others."""

    def headers(self) -> dict[str, str]:
        """Headers to send with a request."""
        return {}

    def params(self) -> dict[str, str]:
        """Query parameters to send with a request."""
        return {}

    def invalidate(self) -> None:
        """The API refused the credentials: drop what is cached."""

    def secrets(self) -> list[str]:
        """Values that must never appear in a message."""
        return []

    def close(self) -> None:
        """Release connections."""


class StaticAuth(RequestAuth):
    """Credentials that never change during a run: API key, bearer token, basic."""

    def __init__(self, headers: dict[str, str], params: dict[str, str], secrets: list[str]):
        self._headers, self._params, self._secrets = headers, params, secrets

    def headers(self) -> dict[str, str]:
        """The fixed headers."""
        return dict(self._headers)

    def params(self) -> dict[str, str]:
        """The fixed query parameters."""
        return dict(self._params)

    def secrets(self) -> list[str]:
        """The key, token or password."""
        return list(self._secrets)


class OAuthAuth(RequestAuth):
    """An OAuth2 access token from a refresh-token or client-credentials grant."""

    def __init__(
        self,
        api: str,
        token_url: str,
        form: dict[str, str],
        *,
        settings: HttpSettings,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self._form = form
        self._clock = clock
        self._session = ApiSession(f"{api} token endpoint", settings=settings, sleep=sleep)
        self._token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer`` with a valid access token."""
        if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS:
            self._token, self._expires_at = self._grant()
            self.refreshes += 1
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        """Forget the token; the next request gets a new one."""
        self._token = None

    def secrets(self) -> list[str]:
        """The client secret, the refresh token and the current access token."""
        values = [v for k, v in self._form.items() if k in ("client_secret", "refresh_token")]
        return values + ([self._token] if self._token else [])

    def close(self) -> None:
        """Close the token endpoint's session."""
        self._session.close()

    def _grant(self) -> tuple[str, float]:
        started = self._clock()
        response = self._session.request(
            "POST",
            self.token_url,
            operation="token",
            passthrough=range(400, 500),
            data=self._form,
            headers={"Accept": "application/json"},
        )
        body = _json(response)
        if response.status_code != 200 or "access_token" not in body:
            error = str(body.get("error") or response.status_code)
            description = str(body.get("error_description") or "")
            for secret in self.secrets():
                description = description.replace(secret, "***")
            raise ApiError(
                self._session.api,
                "token",
                f"{error}: {description}".strip(": "),
                status=response.status_code,
                fix="check the client id, client secret and refresh token in the secrets; a "
                "revoked refresh token needs the app authorised again",
            )
        expires_in = float(body.get("expires_in") or 3600)
        return str(body["access_token"]), started + expires_in


def build_auth(
    config: RestAuthConfig | None,
    secret: SecretLookup,
    *,
    api: str,
    settings: HttpSettings,
    sleep: Callable[[float], None],
) -> RequestAuth:
    """The auth of a source's config, its secrets read by name."""
    if config is None:
        return RequestAuth()
    if isinstance(config, OAuthRefreshTokenAuth):
        form = {
            "grant_type": "refresh_token",
            "client_id": secret(config.client_id),
            "client_secret": secret(config.client_secret),
            "refresh_token": secret(config.refresh_token),
        }
        if config.scope:
            form["scope"] = config.scope
        return OAuthAuth(api, config.token_url, form, settings=settings, sleep=sleep)
    if isinstance(config, OAuthClientCredentialsAuth):
        form = {
            "grant_type": "client_credentials",
            "client_id": secret(config.client_id),
            "client_secret": secret(config.client_secret),
        }
        if config.scope:
            form["scope"] = config.scope
        return OAuthAuth(api, config.token_url, form, settings=settings, sleep=sleep)
    if isinstance(config, ApiKeyAuth):
        value = config.prefix + secret(config.key)
        if config.location == "header":
            return StaticAuth({config.name: value}, {}, [value])
        return StaticAuth({}, {config.name: value}, [value])
    if isinstance(config, BearerAuth):
        token = secret(config.token)
        return StaticAuth({"Authorization": f"Bearer {token}"}, {}, [token])
    if isinstance(config, BasicAuth):
        user, password = secret(config.username), secret(config.password)
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return StaticAuth({"Authorization": f"Basic {encoded}"}, {}, [password, encoded])
    raise ValueError(f"unknown auth {config!r}")


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
