"""Hostile API responses: the REST connector parses a good page or names the call and the fix.

Hypothesis picks what a misbehaving API answers to one page request: the status, the content
type, and a body that is a good page, truncated JSON, an HTML error page, an empty body, JSON
that is not the expected shape, or bytes that are not text; sometimes the connection closes
before the body ends. The pull must either return the page's records (a good page under a 2xx
status) or raise :class:`ApiError` naming the request, never another exception and never a
silent empty result for a body that was not a page.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adlake.config.rest import RestSourceConfig
from adlake.connectors.http import ApiError
from adlake.connectors.rest import RestClient
from adlake_tests.emulators.fixtures_ads import FAST_HTTP
from adlake_tests.emulators.server import EmulatorServer, Reply, Request

CASES = int(os.environ.get("ADLAKE_FUZZ_API_CASES", "150"))
GOOD = {"data": [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]}
BODIES = {
    "good": json.dumps(GOOD).encode(),
    "truncated": json.dumps(GOOD).encode()[:17],
    "html": b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "empty": b"",
    "whitespace": b" \n",
    "list": b"[1, 2, 3]",
    "number": b"42",
    "null": b"null",
    "no records": b'{"error": {"message": "try later"}}',
    "records not a list": b'{"data": {"id": 1}}',
    "records of scalars": b'{"data": [1, "x"]}',
    "binary": bytes(range(256)),
    "bom": b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
}
SEEN: dict[str, int] = {}


class Hostile(EmulatorServer):
    """One route whose next answer the test sets."""

    name = "hostile"

    def __init__(self) -> None:
        super().__init__()
        self.reply = Reply()
        self.route("GET", r"/items", self._items)

    def _items(self, request: Request, match: re.Match[str]) -> Reply:
        return self.reply


@pytest.fixture(scope="module")
def api() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


def pull(api: Hostile) -> list[dict[str, Any]]:
    source = RestSourceConfig.model_validate(
        {
            "kind": "rest",
            "base_url": api.base_url,
            "auth": {"type": "api_key", "key": "key"},
            "resources": {
                "items": {
                    "path": "/items",
                    "records": "$.data",
                    "paginator": {"type": "single"},
                    "columns": {"id": {"type": "bigint"}},
                    "primary_key": ["id"],
                }
            },
        }
    )
    rest = RestClient("items", source, {"key": "k-1"}.__getitem__, settings=FAST_HTTP,
                      sleep=lambda _: None)  # fmt: skip
    resource = source.resources["items"]
    return [r for page in rest.pages(resource, rest.request_of(resource, {})) for r in page.records]


@settings(
    max_examples=CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503]),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/html", "text/plain",
         "application/xml", None]
    ),
    body=st.sampled_from(sorted(BODIES)),
    truncate=st.booleans(),
)  # fmt: skip
def test_a_hostile_answer_gives_the_records_or_an_error_naming_the_call(
    api: Hostile, status: int, content_type: str | None, body: str, truncate: bool
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    api.reply = Reply(status, BODIES[body], headers, truncate=truncate and bool(BODIES[body]))
    try:
        records = pull(api)
    except ApiError as error:
        outcome = "error"
        assert f"GET {api.base_url}/items" in str(error), str(error)
        assert "k-1" not in str(error)
    else:
        outcome = "records"
        assert 200 <= status < 300 and not truncate, (status, body, truncate, records)
        if body == "records not a list":  # one object where a list was expected: one record
            assert records == [{"id": 1}]
        else:
            assert body in ("good", "bom"), (status, content_type, body, records)
            assert records == GOOD["data"]
    SEEN[f"{body}->{outcome}"] = SEEN.get(f"{body}->{outcome}", 0) + 1


def test_the_cases_that_ran_are_reported() -> None:
    """Runs after the property (file order): which answers gave records and which errors."""
    print(f"\napi fuzz: {sum(SEEN.values())} cases, {dict(sorted(SEEN.items()))}")
    assert SEEN
