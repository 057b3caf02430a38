"""Salesforce REST API emulator: the OAuth refresh grant and SOQL queries with query locators.

Follows the Salesforce REST API Developer Guide and the OAuth "Refresh Token Flow" help page (no
machine-readable model is vendored in shared/specs): ``POST /services/oauth2/token`` with a form
body ``grant_type=refresh_token&client_id&client_secret&refresh_token`` -> 200 ``{access_token,
instance_url, id, token_type: "Bearer", issued_at, signature, scope}`` (no ``expires_in``, as
with Salesforce) and OAuth errors ``{"error", "error_description"}`` (400 ``invalid_client_id``
for an unknown client, ``invalid_client`` for a wrong secret, ``invalid_grant`` for an unknown
or revoked refresh token, ``unsupported_grant_type``). Data calls need ``Authorization: Bearer``
and answer errors as Salesforce does: a JSON array ``[{"message", "errorCode"}]`` (401
``INVALID_SESSION_ID`` "Session expired or invalid").

``GET /services/data/vXX.X/query?q=<SOQL>`` (and ``queryAll``) -> ``{totalSize, done,
nextRecordsUrl (only when not done), records}``; ``nextRecordsUrl`` is
``/services/data/vXX.X/query/<locator>-<offset>`` and its GET answers the next page. The page
size is 2000 (knob ``batch_size``); the ``Sforce-Query-Options: batchSize=N`` header (200..2000,
clamped) overrides it. Each record is ``{"attributes": {"type", "url"}, <selected fields>}`` with
field names spelled as the API names them, whatever the query's case. Responses carry
``Sforce-Limit-Info: api-usage=<used>/<limit>``.

The SOQL subset (keywords case-insensitive): ``SELECT f1, f2 | COUNT() FROM <Object> [WHERE
SystemModstamp <op> <datetime> [AND SystemModstamp <op> <datetime>]] [ORDER BY SystemModstamp |
Id [ASC | DESC]] [LIMIT n]`` with ``op`` one of ``> >= < <= =`` and datetimes like
``2026-01-01T00:00:00Z`` or ``2026-01-01T00:00:00.000+0000``. Errors: unknown object 400
``INVALID_TYPE`` ("sObject type 'Foo' is not supported. ..."), unknown field 400
``INVALID_FIELD`` ("No such column 'Foo' on entity 'Contact'. ..."), a non-datetime value for a
stamp 400 ``INVALID_FIELD``; anything else 400 ``MALFORMED_QUERY``. Like Salesforce the
messages start with the query, a caret and ``ERROR at Row:1:Column:<n>``. A filter on another
field, or another ORDER BY field, is refused with ``MALFORMED_QUERY`` (an emulator limit).

Data is synthetic and deterministic from an integer index: ``Contact`` (Id prefix ``003``) and
``Account`` (``001``), 18-character Ids with Salesforce's case-safe checksum suffix, whose
order is the index order. Record ``i`` was created and last modified at ``START`` + ``i``
seconds; ``touch`` and ``add`` change records through an overlay (a dict), so a query over
100,000 records costs its page, not the table. A query's locator keeps its snapshot (order and
values) until the emulator stops; an unknown locator or offset is 400 ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import itertools
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

API_VERSION = "v60.0"
TEST_CLIENT_ID = "3MVG9adlakeTEST.ConsumerKey.0000000000000000000000000000000000000000000000"
TEST_CLIENT_SECRET = "ADLAKETESTCONSUMERSECRET0000000000000000000000000000000000000000"
TEST_REFRESH_TOKEN = "5Aep861adlake.test.refresh.token.0000000000000000000000000000000000"
TEST_ORG_ID = "00D8d000000AdLkEAK"
TEST_USER_ID = "0058d000000AdLkAAK"
SCOPE = "api refresh_token"
START = datetime(2026, 1, 1, tzinfo=UTC)
MAX_BATCH = 2000
MIN_BATCH = 200
DEFAULT_API_LIMIT = 15_000
SESSION_EXPIRED = "Session expired or invalid"
INVALID_LOCATOR = "invalid query locator"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "8d0"  # the two "instance" characters and the reserved one of an Id
_ERROR_CODES = {
    400: "MALFORMED_QUERY",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    415: "UNSUPPORTED_MEDIA_TYPE",
    503: "SERVER_UNAVAILABLE",
}
_OAUTH_ERRORS = {503: "temporarily_unavailable"}
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson")
COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France", "Australia")
INDUSTRIES = ("Technology", "Banking", "Retail", "Manufacturing", "Healthcare", "Media")
ACCOUNT_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SELECT = re.compile(
    r"\s*SELECT\s+(?P<fields>.*?)\s+FROM\s+(?P<object>\S+)(?P<rest>.*)", re.I | re.S
)
_REST = re.compile(
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>\S+)(?:\s+(?P<direction>ASC|DESC))?)?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
    re.I | re.S,
)
_CONDITION = re.compile(rf"\s*(?P<field>{_IDENT})\s*(?P<op>>=|<=|>|<|=)\s*(?P<value>\S+)\s*")
_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,9})?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})"
)
_BATCH_OPTION = re.compile(r"(?i)batchSize\s*=\s*(\d+)")
_VERSION = r"/services/data/(?P<version>v\d{2}\.0)"
_STAMP_FIELDS = ("SystemModstamp", "LastModifiedDate")


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character Id: key prefix, pod, base62 ``number`` and the case-safe suffix."""
    digits = ""
    while number:
        number, digit = divmod(number, 62)
        digits = _BASE62[digit] + digits
    short = prefix + _POD + digits.rjust(9, "0")
    suffix = ""
    for chunk in range(3):
        flags = sum(1 << i for i, c in enumerate(short[chunk * 5 : chunk * 5 + 5]) if c.isupper())
        suffix += _CHECKSUM[flags]
    return short + suffix


def format_stamp(seconds: float) -> str:
    """``START`` + ``seconds`` as Salesforce writes datetimes: ``2026-01-01T00:00:05.000+0000``."""
    moment = START + timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def parse_datetime(literal: str) -> float | None:
    """Seconds from ``START`` of a SOQL datetime literal, or None when it is not one."""
    match = _DATETIME.fullmatch(literal)
    if match is None:
        return None
    zone = match["zone"].replace(":", "")
    zone = "+0000" if zone == "Z" else zone
    try:
        moment = datetime.strptime(match["date"] + zone, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    fraction = float(match["fraction"] or 0)
    return (moment - START).total_seconds() + fraction


@dataclass(frozen=True)
class Revision:
    """A record changed by ``touch`` or created by ``add``: its stamps and how often touched."""

    stamp: int  # SystemModstamp = LastModifiedDate, seconds from START
    created: int
    revision: int = 0


@dataclass
class Table:
    """One sObject: generated records ``0..base_count-1``, plus the overlay of changed ones."""

    name: str
    prefix: str
    fields: tuple[str, ...]
    base_count: int
    count: int
    latest: int  # the newest SystemModstamp of the table
    overlay: dict[int, Revision] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """A parsed SOQL query of the supported subset."""

    table: str
    fields: tuple[str, ...]  # API names, in the order selected; empty for COUNT()
    count_only: bool
    lower: float | None  # SystemModstamp > lower (or >= when lower_inclusive)
    lower_inclusive: bool
    upper: float | None
    upper_inclusive: bool
    order: str | None  # "SystemModstamp", "Id" or None
    descending: bool
    limit: int | None


class Ordered:
    """A lazy, sliceable sequence of record indexes made of ranges and short lists."""

    def __init__(self, pieces: Sequence[Sequence[int]], limit: int | None = None) -> None:
        self.pieces = [p for p in pieces if len(p)]
        self.ends = list(itertools.accumulate(len(p) for p in self.pieces))
        total = self.ends[-1] if self.ends else 0
        self.total = total if limit is None else min(total, limit)

    def __len__(self) -> int:
        return self.total

    def slice(self, start: int, stop: int) -> list[int]:
        """The indexes at positions ``start..stop-1`` (cost: the slice, not the sequence)."""
        stop = min(stop, self.total)
        found: list[int] = []
        piece = bisect.bisect_right(self.ends, start)
        while start < stop and piece < len(self.pieces):
            begin = self.ends[piece] - len(self.pieces[piece])
            found.extend(self.pieces[piece][start - begin : stop - begin])
            start = self.ends[piece]
            piece += 1
        return found


@dataclass
class Cursor:
    """A query locator: the query's snapshot (order and overlay) and its page size."""

    locator: str
    version: str
    endpoint: str
    query: Query
    ordered: Ordered
    overlay: dict[int, Revision]
    batch_size: int


class SoqlError(Exception):
    """A query Salesforce refuses: its errorCode and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SalesforceEmulator(EmulatorServer):
    """Salesforce OAuth and SOQL queries on loopback; ``base_url`` is the ``instance_url``.

    Knobs (attributes, also keyword arguments): ``contacts`` (default 1000) and ``accounts``
    (default 100) records (setting one regenerates the table), ``batch_size`` (default 2000),
    ``token_ttl`` (seconds of ``clock``, default 3600), ``api_limit`` (daily API requests,
    default 15,000: then 403 ``REQUEST_LIMIT_EXCEEDED``); methods ``touch(object, indexes)``,
    ``add(object, count)``, ``expire_tokens()``, ``revoke(refresh_token=None)``,
    ``fail_after_pages(n, status=500)`` and the base's ``fail_next``.
    Logs: ``grants`` (grant_type per token request), ``queries`` (SOQL received),
    ``pages_served``, ``calls`` per operation (``token``, ``query``, ``queryMore``), ``requests``.
    """

    name = "salesforce"

    def __init__(
        self,
        *,
        contacts: int = 1000,
        accounts: int = 100,
        clock: Callable[[], float] = time.monotonic,
        **knobs: Any,
    ) -> None:
        super().__init__(clock=clock)
        self.batch_size = MAX_BATCH
        self.token_ttl = 3600.0
        self.api_limit = DEFAULT_API_LIMIT
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown SalesforceEmulator knob {name!r}")
            setattr(self, name, value)
        self.tables: dict[str, Table] = {}
        self.contacts = contacts
        self.accounts = accounts
        self.grants: list[str] = []
        self.queries: list[str] = []
        self.pages_served = 0
        self.api_usage = 0
        self.calls: Counter[str] = Counter()
        self.cursors: dict[str, Cursor] = {}
        self._clients = {TEST_CLIENT_ID: TEST_CLIENT_SECRET}
        self._refresh_tokens = {TEST_REFRESH_TOKEN: TEST_CLIENT_ID}
        self._revoked: set[str] = set()
        self._tokens: dict[str, float] = {}  # access token -> expiry (clock)
        self._page_fault: list[int] | None = None  # [pages still served, status]
        self._locators = itertools.count(1)
        self._local = threading.local()
        self.route("POST", r"/services/oauth2/token", self._token)
        self.route("GET", _VERSION + r"/(?P<endpoint>query|queryAll)/?", self._query)
        self.route(
            "GET",
            _VERSION + r"/(?P<endpoint>query|queryAll)/(?P<locator>[^/]+?)(?:-(?P<offset>\d+))?",
            self._query_more,
        )

    # ---- knobs and helpers ----------------------------------------------------------------

    @property
    def contacts(self) -> int:
        """How many Contact records exist (generated plus added)."""
        return self.tables["Contact"].count

    @contacts.setter
    def contacts(self, count: int) -> None:
        fields = (
            "Id",
            "FirstName",
            "LastName",
            "Email",
            "Phone",
            "MailingPostalCode",
            "MailingCountry",
            "AccountId",
            "CreatedDate",
            "SystemModstamp",
            "LastModifiedDate",
        )
        with self.lock:
            self.tables["Contact"] = Table("Contact", "003", fields, count, count, count - 1)

    @property
    def accounts(self) -> int:
        """How many Account records exist (generated plus added)."""
        return self.tables["Account"].count

    @accounts.setter
    def accounts(self, count: int) -> None:
        fields = ("Id", "Name", "Industry", "CreatedDate", "SystemModstamp")
        with self.lock:
            self.tables["Account"] = Table("Account", "001", fields, count, count, count - 1)

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.base_url}/services/oauth2/token"

    def record_id(self, sobject: str, index: int) -> str:
        """The Id of record ``index`` of ``sobject``."""
        return salesforce_id(self.tables[sobject].prefix, index)

    def record(self, sobject: str, index: int) -> dict[str, Any]:
        """Record ``index`` as a query selecting every field would answer it now."""
        with self.lock:
            table = self.tables[sobject]
            if not 0 <= index < table.count:
                raise IndexError(f"{sobject} has no record {index}")
            return self._render(table, table.fields, index, table.overlay.get(index))

    def latest_stamp(self, sobject: str) -> str:
        """The newest SystemModstamp of ``sobject``."""
        with self.lock:
            return format_stamp(self.tables[sobject].latest)

    def touch(self, sobject: str, indexes: Sequence[int]) -> list[str]:
        """Modify records (one transaction: one new SystemModstamp newer than all); their Ids.

        Contact's ``Phone`` and Account's ``Name`` change, so the update is visible.
        """
        with self.lock:
            table = self.tables[sobject]
            for index in indexes:
                if not 0 <= index < table.count:
                    raise IndexError(f"{sobject} has no record {index}")
            table.latest += 1
            for index in indexes:
                old = table.overlay.get(index)
                created = index if old is None else old.created
                revision = 1 if old is None else old.revision + 1
                table.overlay[index] = Revision(table.latest, created, revision)
            return [salesforce_id(table.prefix, i) for i in indexes]

    def add(self, sobject: str, count: int) -> list[str]:
        """Insert ``count`` records (one transaction, the newest stamp); their Ids."""
        with self.lock:
            table = self.tables[sobject]
            table.latest += 1
            first = table.count
            for index in range(first, first + count):
                table.overlay[index] = Revision(table.latest, table.latest)
            table.count += count
            return [salesforce_id(table.prefix, i) for i in range(first, first + count)]

    def expire_tokens(self) -> None:
        """Expire every access token issued so far (the session timeout passed)."""
        with self.lock:
            for token in self._tokens:
                self._tokens[token] = self.clock() - 1

    def register(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        """Accept another connected app (consumer key and secret) and a refresh token of it."""
        with self.lock:
            self._clients[client_id] = client_secret
            self._refresh_tokens[refresh_token] = client_id

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token, or all of them when None (then ``invalid_grant``)."""
        with self.lock:
            self._revoked.update([refresh_token] if refresh_token else self._refresh_tokens)

    def fail_after_pages(self, pages: int, status: int = 500) -> None:
        """Serve ``pages`` more query pages, then fail the next page request once."""
        with self.lock:
            self._page_fault = [pages, status]

    def issued_tokens(self) -> list[str]:
        """Every access token issued, for tests that check none leaks."""
        with self.lock:
            return list(self._tokens)

    # ---- errors ---------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Reply:
        """Remember the path so injected faults answer in the endpoint's own error shape."""
        self._local.path = request.path
        return super().dispatch(request)

    def error_body(self, status: int, message: str) -> Any:
        """OAuth errors on the token endpoint, ``[{"message", "errorCode"}]`` elsewhere."""
        if getattr(self._local, "path", "").startswith("/services/oauth2/"):
            code = _OAUTH_ERRORS.get(status, "server_error" if status >= 500 else "invalid_request")
            return {"error": code, "error_description": message}
        code = _ERROR_CODES.get(status, "UNKNOWN_EXCEPTION")
        return [{"message": message, "errorCode": code}]

    def _sf_error(self, status: int, code: str, message: str) -> Reply:
        return json_reply(status, [{"message": message, "errorCode": code}])

    def _oauth_error(self, code: str, description: str) -> Reply:
        return json_reply(400, {"error": code, "error_description": description})

    # ---- OAuth ----------------------------------------------------------------------------

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        form = request.form()
        grant = form.get("grant_type")
        with self.lock:
            self.calls["token"] += 1
            self.grants.append(str(grant))
            secret = self._clients.get(str(form.get("client_id")))
            owner = self._refresh_tokens.get(str(form.get("refresh_token")))
            revoked = form.get("refresh_token") in self._revoked
        if grant != "refresh_token":
            return self._oauth_error("unsupported_grant_type", "grant type not supported")
        if secret is None:
            return self._oauth_error("invalid_client_id", "client identifier invalid")
        if secret != form.get("client_secret"):
            return self._oauth_error("invalid_client", "invalid client credentials")
        if owner != form["client_id"] or revoked:
            return self._oauth_error("invalid_grant", "expired access/refresh token")
        token = f"{TEST_ORG_ID[:15]}!" + secrets.token_urlsafe(72)
        with self.lock:
            self._tokens[token] = self.clock() + self.token_ttl
        identity = f"{self.base_url}/id/{TEST_ORG_ID}/{TEST_USER_ID}"
        issued_at = str(time.time_ns() // 1_000_000)
        digest = hmac.new(secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        payload = {
            "access_token": token,
            "instance_url": self.base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest.digest()).decode(),
            "scope": SCOPE,
        }
        return json_reply(200, payload, headers={"Cache-Control": "no-cache,must-revalidate"})

    def _denied(self, request: Request, operation: str) -> Reply | None:
        header = request.headers.get("Authorization") or ""
        found = re.fullmatch(r"(?i:bearer|oauth)\s+(\S+)", header)
        with self.lock:
            self.calls[operation] += 1
            expires_at = self._tokens.get(found[1]) if found else None
            if expires_at is None or self.clock() >= expires_at:
                return self._sf_error(401, "INVALID_SESSION_ID", SESSION_EXPIRED)
            if self.api_usage >= self.api_limit:
                return self._sf_error(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                )
            self.api_usage += 1
        return None

    # ---- queries --------------------------------------------------------------------------

    def _query(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "query")
        if denied is not None:
            return denied
        soql = request.param("q")
        with self.lock:
            self.queries.append(soql or "")
        if not soql:
            return self._sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = self._parse(soql)
        except SoqlError as problem:
            return self._sf_error(400, problem.code, problem.message)
        with self.lock:
            table = self.tables[query.table]
            overlay = dict(table.overlay)
            ordered = _order(table, overlay, query)
            locator = salesforce_id("01g", next(self._locators))
            cursor = Cursor(
                locator,
                match["version"],
                match["endpoint"],
                query,
                ordered,
                overlay,
                self._batch_size(request, None),
            )
            if not query.count_only:
                self.cursors[locator] = cursor
        return self._page(request, cursor, 0)

    def _query_more(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "queryMore")
        if denied is not None:
            return denied
        offset = int(match["offset"] or 0)
        with self.lock:
            cursor = self.cursors.get(match["locator"])
        if cursor is None or not 0 < offset < len(cursor.ordered):
            return self._sf_error(400, "INVALID_QUERY_LOCATOR", INVALID_LOCATOR)
        return self._page(request, cursor, offset)

    def _batch_size(self, request: Request, cursor: Cursor | None) -> int:
        option = _BATCH_OPTION.search(request.headers.get("Sforce-Query-Options") or "")
        if option:
            return max(MIN_BATCH, min(MAX_BATCH, int(option[1])))
        return cursor.batch_size if cursor is not None else self.batch_size

    def _page(self, request: Request, cursor: Cursor, offset: int) -> Reply:
        with self.lock:
            fault = self._page_fault
            if fault is not None:
                if fault[0] <= 0:
                    self._page_fault = None
                    status = fault[1]
                    return self._sf_error(
                        status, _ERROR_CODES.get(status, "UNKNOWN_EXCEPTION"), "injected failure"
                    )
                fault[0] -= 1
            self.pages_served += 1
            usage = f"api-usage={self.api_usage}/{self.api_limit}"
            table = self.tables[cursor.query.table]
        headers = {"Sforce-Limit-Info": usage}
        total = len(cursor.ordered)
        if cursor.query.count_only:
            return json_reply(
                200, {"totalSize": total, "done": True, "records": []}, headers=headers
            )
        size = self._batch_size(request, cursor)
        indexes = cursor.ordered.slice(offset, offset + size)
        records = [
            self._render(table, cursor.query.fields, i, cursor.overlay.get(i)) for i in indexes
        ]
        following = offset + len(records)
        payload: dict[str, Any] = {"totalSize": total, "done": following >= total}
        if following < total:
            payload["nextRecordsUrl"] = (
                f"/services/data/{cursor.version}/{cursor.endpoint}/{cursor.locator}-{following}"
            )
        payload["records"] = records
        return json_reply(200, payload, headers=headers)

    def _render(
        self, table: Table, fields: Sequence[str], index: int, revision: Revision | None
    ) -> dict[str, Any]:
        record_id = salesforce_id(table.prefix, index)
        url = f"/services/data/{API_VERSION}/sobjects/{table.name}/{record_id}"
        record: dict[str, Any] = {"attributes": {"type": table.name, "url": url}}
        values = _VALUES[table.name]
        for name in fields:
            record[name] = record_id if name == "Id" else values[name](self, index, revision)
        return record

    # ---- SOQL -----------------------------------------------------------------------------

    def _parse(self, soql: str) -> Query:
        select = _SELECT.fullmatch(soql)
        if select is None:
            raise _malformed(soql, _unexpected(soql))
        sobject = select["object"]
        table = next((t for t in self.tables.values() if t.name.lower() == sobject.lower()), None)
        if table is None:
            raise SoqlError(
                "INVALID_TYPE",
                _located(soql, select.start("object"))
                + f"sObject type '{sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        names = {f.lower(): f for f in table.fields}
        rest = _REST.fullmatch(select["rest"])
        if rest is None:
            raise _malformed(soql, _unexpected(select["rest"]), select.start("rest"))
        fields_text = select["fields"]
        count_only = re.fullmatch(r"(?i)COUNT\(\s*\)", fields_text.strip()) is not None
        fields: list[str] = []
        if not count_only:
            position = select.start("fields")
            for raw in re.finditer(r"[^,]+", fields_text):
                name = raw[0].strip()
                column = position + raw.start() + len(raw[0]) - len(raw[0].lstrip())
                if not re.fullmatch(_IDENT + r"(\." + _IDENT + r")*", name):
                    raise _malformed(soql, f"unexpected token: '{name}'", column)
                if name.lower() not in names:
                    raise _no_column(soql, column, name, table.name)
                if names[name.lower()] in fields:
                    raise _malformed(
                        soql, f"duplicate field selected: {names[name.lower()]}", column
                    )
                fields.append(names[name.lower()])
            if not fields:
                raise _malformed(soql, "unexpected token: 'FROM'", select.start("object"))
        bounds: dict[str, Any] = {"lower": None, "lower_inclusive": False}
        bounds.update(upper=None, upper_inclusive=False)
        if rest["where"]:
            base = select.start("rest") + rest.start("where")
            offset = 0
            for text in re.split(r"(?i)(\s+AND\s+)", rest["where"]):
                if re.fullmatch(r"(?i)\s+AND\s+", text):
                    offset += len(text)
                    continue
                self._condition(soql, base + offset, text, table, names, bounds)
                offset += len(text)
        order = None
        if rest["order"]:
            column = select.start("rest") + rest.start("order")
            wanted = rest["order"]
            if wanted.lower() not in names:
                raise _no_column(soql, column, wanted, table.name)
            order = names[wanted.lower()]
            if order in _STAMP_FIELDS:
                order = "SystemModstamp"  # LastModifiedDate moves with it here
            if order not in ("SystemModstamp", "Id"):
                raise _malformed(soql, f"emulator: ORDER BY {order} is not supported", column)
        return Query(
            table.name,
            tuple(fields),
            count_only,
            bounds["lower"],
            bounds["lower_inclusive"],
            bounds["upper"],
            bounds["upper_inclusive"],
            order,
            (rest["direction"] or "").upper() == "DESC",
            int(rest["limit"]) if rest["limit"] else None,
        )

    def _condition(
        self,
        soql: str,
        column: int,
        text: str,
        table: Table,
        names: dict[str, str],
        bounds: dict[str, Any],
    ) -> None:
        condition = _CONDITION.fullmatch(text)
        if condition is None:
            raise _malformed(soql, _unexpected(text), column)
        name = condition["field"]
        if name.lower() not in names:
            raise _no_column(soql, column, name, table.name)
        if names[name.lower()] not in _STAMP_FIELDS:
            message = f"emulator: only SystemModstamp filters are supported, not {name}"
            raise _malformed(soql, message, column)
        value = parse_datetime(condition["value"])
        if value is None:
            raise SoqlError(
                "INVALID_FIELD",
                _located(soql, column + condition.start("value"))
                + f"value of filter criterion for field '{names[name.lower()]}' must be of type "
                "dateTime and should not be enclosed in quotes",
            )
        op = condition["op"]
        if op in (">", ">=", "="):
            _tighten(bounds, "lower", value, op != ">")
        if op in ("<", "<=", "="):
            _tighten(bounds, "upper", value, op != "<")


def _tighten(bounds: dict[str, Any], side: str, value: float, inclusive: bool) -> None:
    """Keep the tighter of the current bound and ``value`` (ANDed conditions)."""
    current = bounds[side]
    tighter = current is None or (value > current if side == "lower" else value < current)
    if tighter:
        bounds[side], bounds[f"{side}_inclusive"] = value, inclusive
    elif value == current:
        bounds[f"{side}_inclusive"] = bounds[f"{side}_inclusive"] and inclusive


def _located(soql: str, column: int) -> str:
    """Salesforce's prefix of a query error: the query, a caret under the column, the place."""
    line = " ".join(soql.split("\n"))
    return f"\n{line}\n{' ' * column}^\nERROR at Row:1:Column:{column + 1}\n"


def _malformed(soql: str, message: str, column: int = 0) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", _located(soql, column) + message)


def _no_column(soql: str, column: int, name: str, entity: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        _located(soql, column)
        + f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
    )


def _unexpected(text: str) -> str:
    words = text.split()
    if not words:
        return "unexpected token: <EOF>"
    if words[0].upper() != "SELECT":
        return f"unexpected token: '{words[0]}'"
    return f"unexpected token: '{words[-1]}'"


def _order(table: Table, overlay: dict[int, Revision], query: Query) -> Ordered:
    """The indexes a query answers, in its order, without listing the generated records.

    Generated records not in the overlay have SystemModstamp = their index, so those in the
    window form ranges; overlay records all carry stamps newer than every generated record.
    """
    lo, hi = 0, table.base_count
    if query.lower is not None:
        first = math.ceil(query.lower) if query.lower_inclusive else math.floor(query.lower) + 1
        lo = max(lo, first)
    if query.upper is not None:
        end = math.floor(query.upper) + 1 if query.upper_inclusive else math.ceil(query.upper)
        hi = min(hi, end)
    hi = max(lo, hi)
    matching = {i for i, revision in overlay.items() if _within(query, revision.stamp)}
    by_id = query.order != "SystemModstamp"
    pieces: list[Sequence[int]] = []
    cursor = lo
    for index in sorted(overlay):
        if lo <= index < hi:
            pieces.append(range(cursor, index))
            cursor = index + 1
        elif index >= hi and cursor < hi:
            pieces.append(range(cursor, hi))
            cursor = hi
        if by_id and index in matching:
            pieces.append([index])
    pieces.append(range(cursor, hi))
    if not by_id:
        pieces.append(sorted(matching, key=lambda i: (overlay[i].stamp, i)))
    if query.descending:
        pieces = [piece[::-1] for piece in reversed(pieces)]
    return Ordered(pieces, query.limit)


def _within(query: Query, stamp: int) -> bool:
    if query.lower is not None and (
        stamp < query.lower or (stamp == query.lower and not query.lower_inclusive)
    ):
        return False
    return not (
        query.upper is not None
        and (stamp > query.upper or (stamp == query.upper and not query.upper_inclusive))
    )


def _names(index: int) -> tuple[str, str]:
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return first, last


def _phone(index: int, revision: Revision | None) -> str:
    phone = f"+1 206 555 {index:04d}"
    return phone if revision is None or not revision.revision else f"{phone} x{revision.revision}"


def _account_name(index: int, revision: Revision | None) -> str:
    word = ACCOUNT_WORDS[index % len(ACCOUNT_WORDS)]
    name = f"{word} {index}"
    return (
        name if revision is None or not revision.revision else f"{name} (rev {revision.revision})"
    )


def _account_of(emulator: SalesforceEmulator, index: int) -> str | None:
    accounts = emulator.tables["Account"].base_count
    return salesforce_id("001", index % accounts) if accounts > 0 else None


def _stamp(index: int, revision: Revision | None) -> str:
    return format_stamp(index if revision is None else revision.stamp)


def _created(index: int, revision: Revision | None) -> str:
    return format_stamp(index if revision is None else revision.created)


_Value = Callable[[SalesforceEmulator, int, Revision | None], Any]
_VALUES: dict[str, dict[str, _Value]] = {
    "Contact": {
        "FirstName": lambda e, i, r: _names(i)[0],
        "LastName": lambda e, i, r: _names(i)[1],
        "Email": lambda e, i, r: "{}.{}{}@example.com".format(*_names(i), i).lower(),
        "Phone": lambda e, i, r: _phone(i, r),
        "MailingPostalCode": lambda e, i, r: f"{98000 + i % 1000:05d}",
        "MailingCountry": lambda e, i, r: COUNTRIES[i % len(COUNTRIES)],
        "AccountId": lambda e, i, r: _account_of(e, i),
        "CreatedDate": lambda e, i, r: _created(i, r),
        "SystemModstamp": lambda e, i, r: _stamp(i, r),
        "LastModifiedDate": lambda e, i, r: _stamp(i, r),
    },
    "Account": {
        "Name": lambda e, i, r: _account_name(i, r),
        "Industry": lambda e, i, r: INDUSTRIES[i % len(INDUSTRIES)],
        "CreatedDate": lambda e, i, r: _created(i, r),
        "SystemModstamp": lambda e, i, r: _stamp(i, r),
    },
}
