"""The REST connector's other paginators and auths, against a small API built for them.

The Salesforce- and HubSpot-style emulators cover next_url and cursor pagination, the
refresh-token grant and bearer tokens; this API covers offset, page-number and Link-header
pagination, the client-credentials grant, API keys in a header or the query, and basic auth.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from adlake.config.rest import RestSourceConfig
from adlake.connectors.http import ApiError
from adlake.connectors.rest import RestClient
from adlake_tests.emulators.fixtures_ads import FAST_HTTP
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

ITEMS = [{"id": n, "name": f"item {n}"} for n in range(1, 24)]  # 23 items
SECRETS = {
    "key": "k-123456789",
    "user": "adlake",
    "password": "p-123456789",
    "cid": "c1",
    "cs": "s-123456789",
}


class ItemsApi(EmulatorServer):
    """Items behind every kind of pagination and auth; ``seen`` logs each request's auth."""

    name = "items"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.tokens: set[str] = set()
        self.route("POST", r"/oauth/token", self._token)
        self.route("GET", r"/offset", self._offset)
        self.route("GET", r"/pages", self._pages)
        self.route("GET", r"/linked", self._linked)

    def _allowed(self, request: Request) -> bool:
        auth = request.headers.get("Authorization") or ""
        key = request.headers.get("X-API-Key") or request.param("api_key")
        basic = "Basic " + base64.b64encode(b"adlake:p-123456789").decode()
        ok = key == "k-123456789" or auth == basic or auth.removeprefix("Bearer ") in self.tokens
        self.seen.append("ok" if ok else "refused")
        return ok

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        form = request.form()
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
            "client_credentials",
            "c1",
            "s-123456789",
        ):
            return json_reply(401, {"error": "invalid_client", "error_description": "bad client"})
        token = f"t{len(self.tokens)}"
        self.tokens.add(token)
        return json_reply(200, {"access_token": token, "expires_in": 3600})

    def _offset(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._allowed(request):
            return json_reply(401, {"message": "no key"})
        offset, limit = int(request.param("offset") or 0), int(request.param("limit") or 10)
        return json_reply(200, {"data": ITEMS[offset : offset + limit], "total": len(ITEMS)})

    def _pages(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._allowed(request):
            return json_reply(401, {"message": "no key"})
        page = int(request.param("page") or 1)
        return json_reply(200, {"items": ITEMS[(page - 1) * 10 : page * 10], "pages": 3})

    def _linked(self, request: Request, match: re.Match[str]) -> Reply:
        if not self._allowed(request):
            return json_reply(401, {"message": "no key"})
        start = int(request.param("from") or 0)
        headers = {}
        if start + 10 < len(ITEMS):
            headers["Link"] = f'<{self.base_url}/linked?from={start + 10}>; rel="next"'
        return json_reply(200, ITEMS[start : start + 10], headers=headers)


@pytest.fixture
def api() -> Iterator[ItemsApi]:
    with ItemsApi() as server:
        yield server


def client(
    api: ItemsApi, auth: dict[str, Any], path: str, paginator: dict, records: str
) -> tuple[RestClient, Any]:
    source = RestSourceConfig.model_validate(
        {
            "kind": "rest",
            "base_url": api.base_url,
            "auth": auth,
            "resources": {
                "items": {
                    "path": path,
                    "records": records,
                    "paginator": paginator,
                    "columns": {"id": {"type": "bigint"}},
                    "primary_key": ["id"],
                }
            },
        }
    )
    rest = RestClient(
        "items", source, SECRETS.__getitem__, settings=FAST_HTTP, sleep=lambda _: None
    )
    return rest, source.resources["items"]


def fetch_all(rest: RestClient, resource: Any) -> list[int]:
    ids: list[int] = []
    for page in rest.pages(resource, rest.request_of(resource, {})):
        ids += [r["id"] for r in page.records]
    return ids


EVERY_ITEM = [item["id"] for item in ITEMS]


@pytest.mark.parametrize(
    ("auth", "path", "paginator", "records"),
    [
        ({"type": "api_key", "key": "key"}, "/offset",
         {"type": "offset", "limit": 10, "total_path": "$.total"}, "$.data"),
        ({"type": "api_key", "key": "key", "name": "api_key", "location": "query"}, "/pages",
         {"type": "page_number", "total_pages_path": "$.pages"}, "$.items"),
        ({"type": "basic", "username": "user", "password": "password"}, "/linked",
         {"type": "link_header"}, "$"),
        ({"type": "oauth2_client_credentials", "token_url": "{base}/oauth/token",
          "client_id": "cid", "client_secret": "cs"}, "/offset",
         {"type": "offset", "limit": 7}, "$.data"),
    ],
)  # fmt: skip
def test_every_paginator_and_auth_fetches_each_item_once(
    api: ItemsApi, auth: dict, path: str, paginator: dict, records: str
) -> None:
    if "token_url" in auth:
        auth = {**auth, "token_url": auth["token_url"].format(base=api.base_url)}
    rest, resource = client(api, auth, path, paginator, records)
    assert fetch_all(rest, resource) == EVERY_ITEM
    assert set(api.seen) == {"ok"}


def test_a_refused_key_names_the_call_not_the_key(api: ItemsApi) -> None:
    wrong = {"type": "api_key", "key": "password", "name": "api_key", "location": "query"}
    rest, resource = client(api, wrong, "/offset", {"type": "offset"}, "$.data")
    with pytest.raises(ApiError, match=r"GET http://127\.0\.0\.1:\d+/offset") as refused:
        fetch_all(rest, resource)
    assert "HTTP 401" in str(refused.value) and "no key" in str(refused.value)
    assert SECRETS["password"] not in str(refused.value)
