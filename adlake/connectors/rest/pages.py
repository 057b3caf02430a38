"""One page at a time: the request for a page, its records, and the request for the next one.

A :class:`PageRequest` is plain data (method, URL, params, body), so a runner can save the
next one after each page it made durable and resume a killed pull exactly there. Paginators
read the next page from the answer: a cursor in the body, a next URL in the body or the
``Link`` header, an offset or a page number.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from adlake.config.rest import (
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginatorConfig,
    compile_jsonpath,
)


@dataclass(frozen=True)
class PageRequest:
    """One request of a page; JSON-able so a runner can checkpoint it."""

    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The request as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageRequest:
        """The request a checkpoint saved."""
        return cls(data["method"], data["url"], dict(data.get("params") or {}), data.get("body"))


def first_request(paginator: PaginatorConfig, request: PageRequest) -> PageRequest:
    """The first page's request: offset and page-number paginators add their parameters."""
    if isinstance(paginator, OffsetPaginator):
        params = {
            **request.params,
            paginator.offset_param: 0,
            paginator.limit_param: paginator.limit,
        }
        return PageRequest(request.method, request.url, params, request.body)
    if isinstance(paginator, PageNumberPaginator):
        params = {**request.params, paginator.page_param: paginator.first_page}
        return PageRequest(request.method, request.url, params, request.body)
    return request


def select(path: str, body: Any) -> Any:
    """The first value at a JSONPath of the body, or None."""
    matches = compile_jsonpath(path).find(body)
    return matches[0].value if matches else None


def records_of(path: str, body: Any) -> list[Any]:
    """The records at a JSONPath: a matched list is its items, other matches are records."""
    found: list[Any] = []
    for match in compile_jsonpath(path).find(body):
        value = match.value
        if isinstance(value, list):
            found.extend(value)
        elif value is not None:
            found.append(value)
    return found


def next_request(
    paginator: PaginatorConfig,
    request: PageRequest,
    response: requests.Response,
    body: Any,
    count: int,
) -> PageRequest | None:
    """The next page's request, or None when this was the last page."""
    if isinstance(paginator, CursorPaginator):
        cursor = select(paginator.cursor_path, body)
        if cursor in (None, "") or count == 0:
            return None
        if request.method == "POST":
            new_body = copy.deepcopy(request.body or {})
            new_body[paginator.param] = cursor
            return PageRequest(request.method, request.url, dict(request.params), new_body)
        return PageRequest(
            request.method, request.url, {**request.params, paginator.param: cursor}, request.body
        )
    if isinstance(paginator, NextUrlPaginator):
        url = select(paginator.next_url_path, body)
        if not url:
            return None
        return PageRequest("GET", urljoin(request.url, str(url)), {}, None)
    if isinstance(paginator, LinkHeaderPaginator):
        link = response.links.get(paginator.rel)
        return PageRequest("GET", link["url"], {}, None) if link and link.get("url") else None
    if isinstance(paginator, OffsetPaginator):
        offset = int(request.params.get(paginator.offset_param, 0)) + count
        total = select(paginator.total_path, body) if paginator.total_path else None
        if count < paginator.limit or (total is not None and offset >= int(total)):
            return None
        return PageRequest(
            request.method,
            request.url,
            {**request.params, paginator.offset_param: offset},
            request.body,
        )
    if isinstance(paginator, PageNumberPaginator):
        page = int(request.params.get(paginator.page_param, paginator.first_page))
        pages = select(paginator.total_pages_path, body) if paginator.total_pages_path else None
        last = pages is not None and page - paginator.first_page + 1 >= int(pages)
        if count == 0 or last:
            return None
        return PageRequest(
            request.method,
            request.url,
            {**request.params, paginator.page_param: page + 1},
            request.body,
        )
    return None
