"""HubSpot CRM v3 emulator: contacts (list + search) and marketing campaigns with their metrics.

Follows HubSpot's developer docs (CRM objects API v3, CRM search API, Marketing campaigns v3;
no spec of them is vendored in shared/specs, so the docs' text and examples are the model):

- Auth: a private app access token, ``Authorization: Bearer pat-…``. Missing or unknown ->
  401 ``{"status": "error", "message": "Authentication credentials not found. …",
  "correlationId": "<uuid>", "category": "INVALID_AUTHENTICATION"}``. Every error is
  ``{"status", "message", "correlationId", "category"}`` (400 ``VALIDATION_ERROR``, 404
  ``OBJECT_NOT_FOUND``, …); a 429 is the rate-limit body ``{"status", "message": "You have
  reached your secondly limit.", "errorType": "RATE_LIMIT", "correlationId", "policyName":
  "SECONDLY"}``.
- ``GET /crm/v3/objects/contacts`` (``limit`` 1..100, default 10; ``after``; ``properties``
  comma-separated; ``archived``) -> ``{"results": [record], "paging": {"next": {"after",
  "link"}}}`` ordered by id, ``paging`` absent on the last page. The cursor is the id of the
  next page's first contact (a decimal string, as HubSpot's contact cursors look).
- ``POST /crm/v3/objects/contacts/search`` ``{filterGroups, sorts, properties, limit (<= 200,
  default 10), after}`` -> ``{"total", "results", "paging": {"next": {"after": "<offset>"}}}``.
  Filter groups are ORed, filters in a group ANDed; the cursor is the decimal offset into the
  sorted matches. A search reaches at most 10,000 results: ``after`` >= 10000 -> 400
  ``VALIDATION_ERROR`` (the last reachable page still offers ``after: "10000"``), so a client
  must re-query with a newer ``lastmodifieddate`` filter.
- ``GET /marketing/v3/campaigns`` (``limit`` 1..100, default 50, ``after``, ``properties``)
  -> ``{"results": [{"id": <guid>, "properties": {"hs_name", …}, "createdAt", "updatedAt"}],
  "paging"?}`` and ``GET /marketing/v3/campaigns/{campaignGuid}/reports/metrics?startDate=
  YYYY-MM-DD&endDate=YYYY-MM-DD`` -> ``{"sessions", "newContactsFirstTouch",
  "newContactsLastTouch", "influencedContacts"}``; an unknown guid -> 404 ``OBJECT_NOT_FOUND``.
- ``X-HubSpot-RateLimit-Secondly`` and ``X-HubSpot-RateLimit-Secondly-Remaining`` on every
  response (HubSpot leaves them off search responses; the emulator sends them everywhere).

A record is ``{"id", "properties": {…}, "createdAt", "updatedAt", "archived": false}``;
property values are strings; ``createdate``, ``hs_object_id`` and ``lastmodifieddate`` are
always returned, and without ``properties`` the contact defaults (``createdate``, ``email``,
``firstname``, ``hs_object_id``, ``lastmodifieddate``, ``lastname``) are. Unknown property
names are left out, like HubSpot does.

Data: contact ``index`` (0-based) has id ``index + 1`` = n, ``email`` ``user<n>@example.com``,
``phone`` ``+1206555<n:04d>``, names, ``zip``, ``country``, and ``createdate`` =
``lastmodifieddate`` = 2026-01-01T00:00:00.000Z + index seconds, so it is computed from the
index and 100,000+ contacts cost only what a page holds. ``touch(indexes)`` gives contacts a
``lastmodifieddate`` later than every other (one second apart, in the order given) and a new
``phone``; ``add(count)`` appends contacts stamped after everything so far. Searches find their
first match by bisection over the stamps (untouched contacts in id order, then touched ones).

Emulator choices the docs leave open: search filters and sorts are supported on
``lastmodifieddate`` (alias ``hs_lastmodifieddate``) only, with GT/GTE/LT/LTE/EQ and a value in
epoch milliseconds or ISO-8601; without ``sorts`` the order is ``lastmodifieddate`` ascending;
``query`` is refused. Campaign metrics are summed from per-day values derived from (campaign,
day), and ``startDate``/``endDate`` are required.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

TEST_TOKEN = "pat-na1-00000000-fake-4000-8000-000000000000"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
STEP_MS = 1_000
LIST_MAX_LIMIT = 100
LIST_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 200
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_RESULTS = 10_000
CAMPAIGN_DEFAULT_LIMIT = 50
MAX_METRIC_DAYS = 3_660
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
RATE_LIMIT_MESSAGE = "You have reached your secondly limit."
CATEGORIES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    405: "VALIDATION_ERROR",
    409: "CONFLICT",
    415: "VALIDATION_ERROR",
}
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
ALWAYS_PROPERTIES = ("createdate", "hs_object_id", "lastmodifieddate")
CONTACT_PROPERTIES = frozenset(
    {"email", "firstname", "lastname", "phone", "zip", "country", "hs_lastmodifieddate"}
    | set(ALWAYS_PROPERTIES)
)
STAMP_PROPERTIES = frozenset({"lastmodifieddate", "hs_lastmodifieddate"})
OPERATORS = frozenset({"GT", "GTE", "LT", "LTE", "EQ"})
CAMPAIGN_PROPERTIES = frozenset(
    {"hs_name", "hs_start_date", "hs_end_date", "hs_campaign_status", "hs_currency_code"}
)
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jun")
LAST_NAMES = ("Nguyen", "Okafor", "Patel", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Vance")
COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France", "Japan")
_CAMPAIGN_NAMESPACE = uuid.UUID("6f1c2a4e-3b5d-4e7f-9a8b-0c1d2e3f4a5b")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes datetimes: ``2026-01-01T00:00:00.000Z``."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def contact_stamp(index: int) -> int:
    """The creation stamp (epoch ms) of an original contact: the start plus index seconds."""
    return START_MS + index * STEP_MS


def campaign_id(index: int) -> str:
    """The deterministic guid of campaign ``index`` (0-based)."""
    return str(uuid.uuid5(_CAMPAIGN_NAMESPACE, f"campaign-{index}"))


def _parse_stamp(value: Any) -> int | None:
    """A filter value as epoch ms (millis number/string or ISO-8601), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass
class Touch:
    """A modified contact: its new ``lastmodifieddate`` and how many times it was touched."""

    stamp: int
    version: int


@dataclass(frozen=True)
class Search:
    """A validated search: matching stamp intervals (inclusive ms), order, page and props."""

    intervals: list[tuple[int, int]]
    descending: bool
    offset: int
    limit: int
    properties: list[str] | None


class HubSpotEmulator(EmulatorServer):
    """HubSpot's contacts and campaigns APIs on loopback for private app tokens in ``tokens``.

    Knobs: ``contacts`` (how many, default 1000), ``campaigns`` (default 20), ``tokens``
    (accepted bearer tokens, default ``{TEST_TOKEN}``), ``rate_limit_every`` (every Nth API
    call answers 429; None: never), ``rate_limit_retry_after`` (its ``Retry-After``, default 1),
    ``rate_limit_secondly`` (the ``X-HubSpot-RateLimit-Secondly`` value when not limiting,
    default 10), ``search_max_results`` (10,000) and the base's ``fail_next``.
    Mutations: ``touch(indexes)``, ``add(count)``. Logs: ``calls`` per operation (``getPage``,
    ``doSearch``, ``getCampaigns``, ``getCampaignMetrics``), ``searches`` (every search body),
    ``pages_served`` (200 pages of lists and searches).
    """

    name = "hubspot"

    def __init__(self, **knobs: Any) -> None:
        super().__init__()
        self._count = 1000
        self._batch_first: list[int] = [0]  # first index of each contiguous stamp run
        self._batch_ms: list[int] = [START_MS]
        self._touched: dict[int, Touch] = {}
        self._touched_sorted: list[int] = []
        self._tail_stamps: list[int] = []  # touched contacts by stamp
        self._tail_indexes: list[int] = []
        self.campaigns = 20
        self.tokens = {TEST_TOKEN}
        self.rate_limit_every: int | None = None
        self.rate_limit_retry_after: float | str = 1
        self.rate_limit_secondly = 10
        self.search_max_results = SEARCH_MAX_RESULTS
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown HubSpotEmulator knob {name!r}")
            setattr(self, name, value)
        self.calls: Counter[str] = Counter()
        self.searches: list[Any] = []
        self.pages_served = 0
        self._api_calls = 0
        self._remaining = self.rate_limit_secondly - 1
        self._campaign_ids: dict[str, int] = {}
        self.route("GET", r"/crm/v3/objects/contacts", self._list_contacts)
        self.route("POST", r"/crm/v3/objects/contacts/search", self._search_contacts)
        self.route("GET", r"/marketing/v3/campaigns", self._list_campaigns)
        self.route(
            "GET",
            r"/marketing/v3/campaigns/(?P<guid>[^/]+)/reports/metrics",
            self._campaign_metrics,
        )

    # -- knobs and mutations ---------------------------------------------------------------

    @property
    def contacts(self) -> int:
        """How many contacts exist now."""
        return self._count

    @contacts.setter
    def contacts(self, count: int) -> None:
        with self.lock:
            if not self._touched and len(self._batch_first) == 1:
                self._count = count
            elif count >= self._count:
                self.add(count - self._count)
            else:
                raise ValueError("contacts cannot shrink once touched or added to")

    @property
    def latest_stamp(self) -> int:
        """The newest ``lastmodifieddate`` (epoch ms) any contact has."""
        with self.lock:
            latest = self._base_ms(self._count - 1) if self._count else START_MS - STEP_MS
            return max(latest, self._tail_stamps[-1] if self._tail_stamps else latest)

    def touch(self, indexes: list[int] | range) -> list[str]:
        """Modify contacts (0-based ``indexes``): newest ``lastmodifieddate``, new ``phone``.

        Stamps are one second apart in the order given; returns the touched ids.
        """
        with self.lock:
            for index in indexes:
                if not 0 <= index < self._count:
                    raise IndexError(f"no contact at index {index}")
                stamp = self.latest_stamp + STEP_MS
                old = self._touched.get(index)
                if old is None:
                    bisect.insort(self._touched_sorted, index)
                else:
                    where = self._tail_stamps.index(old.stamp)
                    del self._tail_stamps[where], self._tail_indexes[where]
                self._touched[index] = Touch(stamp, (old.version if old else 0) + 1)
                self._tail_stamps.append(stamp)
                self._tail_indexes.append(index)
        return [str(index + 1) for index in indexes]

    def add(self, count: int) -> list[str]:
        """Append ``count`` contacts created (and modified) after everything so far."""
        with self.lock:
            first = self._count
            if count <= 0:
                return []
            self._batch_first.append(first)
            self._batch_ms.append(self.latest_stamp + STEP_MS)
            self._count += count
        return [str(index + 1) for index in range(first, first + count)]

    def contact(self, index: int, properties: list[str] | None = None) -> dict[str, Any]:
        """Contact ``index`` as the API answers it (``properties`` as a request names them)."""
        with self.lock:
            created = self._base_ms(index)
            touch = self._touched.get(index)
        n = index + 1
        modified = touch.stamp if touch else created
        phone = f"+1206555{n:04d}" if touch is None else f"+1425{touch.version:03d}{n:04d}"
        values = {
            "createdate": iso(created),
            "email": f"user{n}@example.com",
            "firstname": FIRST_NAMES[n % len(FIRST_NAMES)],
            "lastname": LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)],
            "phone": phone,
            "zip": f"{10000 + (n * 7919) % 90000:05d}",
            "country": COUNTRIES[n % len(COUNTRIES)],
            "hs_object_id": str(n),
            "lastmodifieddate": iso(modified),
            "hs_lastmodifieddate": iso(modified),
        }
        wanted = set(ALWAYS_PROPERTIES)
        wanted.update(DEFAULT_PROPERTIES if properties is None else properties)
        return {
            "id": str(n),
            "properties": {k: values[k] for k in sorted(wanted) if k in values},
            "createdAt": iso(created),
            "updatedAt": iso(modified),
            "archived": False,
        }

    # -- HubSpot's shapes ------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """HubSpot's error shape (the rate-limit body for 429)."""
        if status == 429:
            return {
                "status": "error",
                "message": RATE_LIMIT_MESSAGE,
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            }
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": CATEGORIES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR"),
        }

    def dispatch(self, request: Request) -> Reply:
        """The base dispatch plus the secondly rate-limit headers on every response."""
        reply = super().dispatch(request)
        with self.lock:
            limit = self._secondly_limit()
            remaining = 0 if reply.status == 429 else max(self._remaining, 0)
        reply.headers.setdefault("X-HubSpot-RateLimit-Secondly", str(limit))
        reply.headers.setdefault("X-HubSpot-RateLimit-Secondly-Remaining", str(remaining))
        return reply

    def _secondly_limit(self) -> int:
        every = self.rate_limit_every
        return every - 1 if every else self.rate_limit_secondly

    def _denied(self, request: Request, operation: str) -> Reply | None:
        with self.lock:
            self.calls[operation] += 1
        match = re.fullmatch(r"(?i:bearer)\s+(\S+)", request.headers.get("Authorization") or "")
        if match is None or match[1] not in self.tokens:
            return self.error(401, AUTH_MESSAGE)
        with self.lock:
            self._api_calls += 1
            every = self.rate_limit_every
            if every:
                position = self._api_calls % every
                self._remaining = every - 1 - position if position else 0
                if position == 0:
                    return self.error(
                        429, RATE_LIMIT_MESSAGE, **{"Retry-After": str(self.rate_limit_retry_after)}
                    )
            else:
                self._remaining = self.rate_limit_secondly - 1
        return None

    # -- contacts --------------------------------------------------------------------------

    def _list_contacts(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "getPage")
        if denied is not None:
            return denied
        limit, problem = _limit(request.param("limit"), LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
        if problem:
            return self.error(400, problem)
        after = request.param("after")
        if after is not None and not after.isdigit():
            return self.error(400, f"Invalid input: after cursor {after!r} is not valid")
        properties = _csv(request.query.get("properties"))
        start = int(after) - 1 if after else 0
        with self.lock:
            total = 0 if request.param("archived") == "true" else self._count
            self.pages_served += 1
        end = min(max(start, 0) + limit, total)
        results = [self.contact(i, properties) for i in range(max(start, 0), end)]
        answer: dict[str, Any] = {"results": results}
        if end < total:
            query = {"after": str(end + 1), "limit": str(limit)}
            if properties is not None:
                query["properties"] = ",".join(properties)
            link = f"{self.base_url}/crm/v3/objects/contacts?{urlencode(query)}"
            answer["paging"] = {"next": {"after": str(end + 1), "link": link}}
        return json_reply(200, answer)

    def _search_contacts(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "doSearch")
        if denied is not None:
            return denied
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Invalid input JSON on line 1: the body is not JSON")
        with self.lock:
            self.searches.append(body)
        search, problem = self._parse_search(body)
        if problem or search is None:
            return self.error(400, problem or "Invalid search")
        with self.lock:
            ranges = [self._positions(lo, hi) for lo, hi in search.intervals]
            ranges = [(a, b) for a, b in ranges if a < b]
            total = sum(b - a for a, b in ranges)
            reachable = min(total, self.search_max_results)
            end = max(search.offset, min(search.offset + search.limit, reachable))
            if search.descending:  # descending offsets [o, e) are ascending [t - e, t - o)
                runs = self._global_run(ranges, total - end, total - search.offset)
            else:
                runs = self._global_run(ranges, search.offset, end)
            indexes = [i for start, stop in runs for i in self._walk(start, stop - start)]
            self.pages_served += 1
        if search.descending:
            indexes.reverse()
        results = [self.contact(i, search.properties) for i in indexes]
        answer: dict[str, Any] = {"total": total, "results": results}
        if end < total:
            answer["paging"] = {"next": {"after": str(end)}}
        return json_reply(200, answer)

    def _parse_search(self, body: Any) -> tuple[Search | None, str | None]:
        if not isinstance(body, dict):
            return None, "Invalid input JSON: the search body must be an object"
        if body.get("query"):
            return None, "The emulator does not support the search 'query' field"
        limit = body.get("limit", SEARCH_DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return None, f"limit must be a positive integer, not {limit!r}"
        if limit > SEARCH_MAX_LIMIT:
            return None, f"Provided limit {limit} is greater than the max of {SEARCH_MAX_LIMIT}"
        after = body.get("after", 0)
        if isinstance(after, str) and after.isdigit():
            after = int(after)
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            return None, f"Invalid input: after cursor {after!r} is not valid"
        if after >= self.search_max_results:
            return None, (
                f"Paging beyond {self.search_max_results} results is not allowed: after "
                f"{after} is out of range; narrow the search filters instead"
            )
        properties = body.get("properties")
        if properties is not None and not (
            isinstance(properties, list) and all(isinstance(p, str) for p in properties)
        ):
            return None, "properties must be a list of property names"
        intervals, problem = _intervals(body.get("filterGroups") or [])
        if problem:
            return None, problem
        descending = False
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list) or len(sorts) > 1:
            return None, "The emulator supports at most one sort"
        for sort in sorts:
            if not isinstance(sort, dict) or sort.get("propertyName") not in STAMP_PROPERTIES:
                return None, f"The emulator sorts only by lastmodifieddate, not {sort!r}"
            direction = sort.get("direction", "ASCENDING")
            if direction not in ("ASCENDING", "DESCENDING"):
                return None, f"Unknown sort direction {direction!r}"
            descending = direction == "DESCENDING"
        return Search(intervals, descending, after, limit, properties), None

    # -- stamps: untouched contacts in index order, then touched ones by stamp --------------

    def _base_ms(self, index: int) -> int:
        batch = bisect.bisect_right(self._batch_first, index) - 1
        return self._batch_ms[batch] + (index - self._batch_first[batch]) * STEP_MS

    def _first_index_at(self, stamp: int) -> int:
        """The first index whose base stamp is >= ``stamp`` (``_count`` when none is)."""
        lo, hi = 0, self._count
        while lo < hi:
            mid = (lo + hi) // 2
            if self._base_ms(mid) < stamp:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _count_before(self, stamp: int) -> int:
        """How many contacts have a ``lastmodifieddate`` earlier than ``stamp``."""
        index = self._first_index_at(stamp)
        untouched = index - bisect.bisect_left(self._touched_sorted, index)
        return untouched + bisect.bisect_left(self._tail_stamps, stamp)

    def _positions(self, lo: int, hi: int) -> tuple[int, int]:
        """Global ascending positions [a, b) of the contacts stamped within [lo, hi]."""
        return self._count_before(lo), self._count_before(hi + 1)

    @staticmethod
    def _global_run(ranges: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
        """Matches a..b (offsets into the union of ``ranges``) as global position runs."""
        runs, skipped = [], 0
        for start, stop in ranges:
            size = stop - start
            lo, hi = max(a - skipped, 0), min(b - skipped, size)
            if lo < hi:
                runs.append((start + lo, start + hi))
            skipped += size
        return runs

    def _stamp_at(self, position: int) -> int:
        """The stamp of the contact at global ascending ``position`` (by bisection)."""
        lo, hi = START_MS - STEP_MS, self.latest_stamp
        while lo < hi:
            mid = (lo + hi) // 2
            if self._count_before(mid + 1) > position:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _walk(self, position: int, count: int) -> Iterator[int]:
        """``count`` contact indexes in ascending stamp order from global ``position``."""
        if count <= 0:
            return
        stamp = self._stamp_at(position)
        index = self._first_index_at(stamp)
        tail = bisect.bisect_left(self._tail_stamps, stamp)
        for _ in range(count):
            while index < self._count and index in self._touched:
                index += 1
            base = self._base_ms(index) if index < self._count else None
            touched = self._tail_stamps[tail] if tail < len(self._tail_stamps) else None
            if base is not None and (touched is None or base < touched):
                yield index
                index += 1
            elif touched is not None:
                yield self._tail_indexes[tail]
                tail += 1
            else:
                return

    # -- campaigns -------------------------------------------------------------------------

    def _campaign(self, index: int, properties: list[str] | None) -> dict[str, Any]:
        created = START_MS - (self.campaigns - index) * 86_400_000
        start = date(2026, 1, 1) + timedelta(days=7 * index)
        values = {
            "hs_name": f"Campaign {index + 1:03d}",
            "hs_start_date": start.isoformat(),
            "hs_end_date": (start + timedelta(days=30)).isoformat(),
            "hs_campaign_status": "active",
            "hs_currency_code": "USD",
        }
        wanted = {"hs_name", *(properties or [])}
        return {
            "id": campaign_id(index),
            "properties": {k: values[k] for k in sorted(wanted) if k in values},
            "createdAt": iso(created),
            "updatedAt": iso(created + 3_600_000),
        }

    def _list_campaigns(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "getCampaigns")
        if denied is not None:
            return denied
        limit, problem = _limit(request.param("limit"), CAMPAIGN_DEFAULT_LIMIT, LIST_MAX_LIMIT)
        if problem:
            return self.error(400, problem)
        after = request.param("after") or "0"
        if not after.isdigit():
            return self.error(400, f"Invalid input: after cursor {after!r} is not valid")
        properties = _csv(request.query.get("properties"))
        with self.lock:
            total = self.campaigns
            self.pages_served += 1
        start = int(after)
        end = min(start + limit, total)
        answer: dict[str, Any] = {
            "results": [self._campaign(i, properties) for i in range(start, end)]
        }
        if end < total:
            link = f"{self.base_url}/marketing/v3/campaigns?after={end}&limit={limit}"
            answer["paging"] = {"next": {"after": str(end), "link": link}}
        return json_reply(200, answer)

    def _campaign_metrics(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "getCampaignMetrics")
        if denied is not None:
            return denied
        guid = match["guid"]
        with self.lock:
            if len(self._campaign_ids) != self.campaigns:
                self._campaign_ids = {campaign_id(i): i for i in range(self.campaigns)}
            known = guid in self._campaign_ids
        if not known:
            return self.error(404, f"Campaign with id {guid} does not exist")
        days: list[date] = []
        for name in ("startDate", "endDate"):
            raw = request.param(name)
            if raw is None or not _DATE.fullmatch(raw):
                return self.error(400, f"{name} is required as YYYY-MM-DD, not {raw!r}")
            try:
                days.append(date.fromisoformat(raw))
            except ValueError:
                return self.error(400, f"{name} {raw!r} is not a valid date")
        first, last = days
        if last < first:
            return self.error(400, "endDate must not be before startDate")
        if (last - first).days >= MAX_METRIC_DAYS:
            return self.error(400, f"The date range cannot exceed {MAX_METRIC_DAYS} days")
        return json_reply(200, campaign_metrics(guid, first, last))


def campaign_metrics(guid: str, first: date, last: date) -> dict[str, int]:
    """The metrics the emulator reports for a campaign over [first, last]: per-day sums."""
    totals = dict.fromkeys(
        ("sessions", "newContactsFirstTouch", "newContactsLastTouch", "influencedContacts"), 0
    )
    day = first
    while day <= last:
        digest = hashlib.sha256(f"{guid}:{day.isoformat()}".encode()).digest()
        sessions = int.from_bytes(digest[:2]) % 400
        first_touch = sessions * (digest[2] % 10) // 100
        last_touch = sessions * (digest[3] % 10) // 100
        totals["sessions"] += sessions
        totals["newContactsFirstTouch"] += first_touch
        totals["newContactsLastTouch"] += last_touch
        totals["influencedContacts"] += first_touch + last_touch + digest[4] % 20
        day += timedelta(days=1)
    return totals


def _limit(raw: str | None, default: int, maximum: int) -> tuple[int, str | None]:
    if raw is None:
        return default, None
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        return 0, f"limit must be an integer between 1 and {maximum}, not {raw!r}"
    return int(raw), None


def _csv(values: list[str] | None) -> list[str] | None:
    """``properties`` given comma-separated and/or repeated, or None when absent."""
    if not values:
        return None
    return [name for value in values for name in value.split(",") if name]


def _intervals(groups: Any) -> tuple[list[tuple[int, int]], str | None]:
    """Filter groups as sorted, disjoint inclusive ms intervals of ``lastmodifieddate``."""
    everything = (0, 2**62)
    if not isinstance(groups, list):
        return [], "filterGroups must be a list"
    if not groups:
        return [everything], None
    if len(groups) > 5:
        return [], "No more than 5 filterGroups are allowed"
    intervals = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or not filters:
            return [], "Each filterGroup needs a non-empty filters list"
        lo, hi = everything
        for item in filters:
            if not isinstance(item, dict):
                return [], f"Invalid filter {item!r}"
            prop, operator = item.get("propertyName"), item.get("operator")
            if prop not in STAMP_PROPERTIES:
                return [], f"The emulator filters only on lastmodifieddate, not {prop!r}"
            if operator not in OPERATORS:
                return [], f"Unsupported filter operator {operator!r}"
            value = _parse_stamp(item.get("value"))
            if value is None:
                return [], f"Invalid value {item.get('value')!r} for property {prop}"
            if operator in ("GT", "GTE", "EQ"):
                lo = max(lo, value + (operator == "GT"))
            if operator in ("LT", "LTE", "EQ"):
                hi = min(hi, value - (operator == "LT"))
        if lo <= hi:
            intervals.append((lo, hi))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged, None
