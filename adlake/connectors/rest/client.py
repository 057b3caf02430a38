"""A declarative REST source's HTTP side: fill a resource's templates, fetch its pages.

Plain Python over the shared :class:`~adlake.connectors.http.ApiSession` (retries with backoff
on 5xx/429 honouring ``Retry-After``, a 401 dropping the cached token before the retry, pacing
at the configured requests per second) and the auth of :mod:`.auth`. A 4xx other than 401/429
raises :class:`~adlake.connectors.http.ApiError` with the server's message.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from adlake.config.rest import RestResourceConfig, RestSourceConfig, compile_jsonpath, fill
from adlake.connectors.http import (
    DEFAULT_HTTP,
    NOT_JSON_FIX,
    ApiError,
    ApiSession,
    HttpSettings,
    json_of,
    message_of,
    redact,
    safe_url,
)
from adlake.connectors.rest.auth import SecretLookup, build_auth
from adlake.connectors.rest.pages import PageRequest, first_request, next_request, records_of

OPERATION = "request"


@dataclass(frozen=True)
class Page:
    """One fetched page: its records and the request of the next page (None: the last)."""

    request: PageRequest
    records: list[Any]
    next: PageRequest | None


class RestClient:
    """The requests of one REST source."""

    def __init__(
        self,
        name: str,
        source: RestSourceConfig,
        secret: SecretLookup,
        *,
        settings: HttpSettings = DEFAULT_HTTP,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.source = source
        self.base_url = source.base_url.rstrip("/")
        self.auth = build_auth(source.auth, secret, api=name, settings=settings, sleep=sleep)
        rates = {OPERATION: source.requests_per_second} if source.requests_per_second else None
        self._session = ApiSession(
            name,
            auth=self._headers,
            on_unauthorized=self.auth.invalidate,
            settings=settings,
            sleep=sleep,
            rates=rates,
        )

    def close(self) -> None:
        """Close the connections."""
        self._session.close()
        self.auth.close()

    def request_of(self, resource: RestResourceConfig, values: dict[str, str]) -> PageRequest:
        """The first page's request of a resource, its placeholders filled with ``values``."""
        params = {
            k: fill(v, values) if isinstance(v, str) else v for k, v in resource.params.items()
        }
        body = _filled(copy.deepcopy(resource.json_body), values) if resource.json_body else None
        url = f"{self.base_url}/{fill(resource.path, values).lstrip('/')}"
        return first_request(resource.paginator, PageRequest(resource.method, url, params, body))

    def pages(self, resource: RestResourceConfig, start: PageRequest) -> Iterator[Page]:
        """The pages from ``start`` on, one request each, until the paginator says stop."""
        request: PageRequest | None = start
        while request is not None:
            page = self.page(resource, request)
            yield page
            request = page.next

    def page(self, resource: RestResourceConfig, request: PageRequest) -> Page:
        """One page: its records and the request of the next one."""
        try:
            response = self._session.request(
                request.method,
                request.url,
                operation=OPERATION,
                params={**request.params, **self.auth.params()} or None,
                json=request.body,
                headers={"Accept": "application/json", **self.source.headers, **resource.headers},
            )
        except ApiError as exc:  # an API key in a header or the query is not a token
            raise type(exc)(
                exc.api,
                f"{request.method} {safe_url(request.url)}",
                redact(exc.detail, self.auth.secrets()),
                status=exc.status,
                fix=exc.fix,
            ) from None
        call = f"{request.method} {safe_url(request.url)}"
        body = json_of(response, self.name, call, None)
        records = records_of(resource.records, body)
        _check_records(records, body, resource.records, self.name, call)
        following = next_request(resource.paginator, request, response, body, len(records))
        return Page(request, records, following)

    def _headers(self) -> dict[str, str]:
        return self.auth.headers()


_ERROR_KEYS = ("error", "errors", "fault", "message")


def _check_records(records: list[Any], body: Any, path: str, api: str, call: str) -> None:
    """Refuse a 200 that is an error in disguise, or records that are not JSON objects.

    A page without anything at the records path is an empty page, unless its body is an error
    object (``{"error": ...}``), which is never taken for "nothing changed".
    """
    if not records and isinstance(body, dict) and any(k in body for k in _ERROR_KEYS):
        raise ApiError(
            api,
            call,
            f"the answer has no records at {path} but an error: {message_of(body)}",
            fix=NOT_JSON_FIX,
        )
    if not records and not isinstance(body, dict) and not compile_jsonpath(path).find(body):
        raise ApiError(
            api,
            call,
            f"the answer is a JSON {type(body).__name__} with nothing at {path}",
            fix=f"check the records path ({path} in adlake.yaml) against the API's answers",
        )
    wrong = next((r for r in records if not isinstance(r, dict)), None)
    if wrong is not None:
        raise ApiError(
            api,
            call,
            f"a record at {path} is a JSON {type(wrong).__name__}, not an object",
            fix=f"point records at the list of objects (it is {path} in adlake.yaml)",
        )


def _filled(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, dict):
        return {k: _filled(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, values) for v in value]
    return value
