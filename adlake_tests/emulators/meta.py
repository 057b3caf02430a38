"""Meta Graph API v25.0 emulator: customer-file Custom Audiences, built from Meta's node specs.

Follows shared/specs/meta/graph-api-codegen-specs (CustomAudience.json: fields, ``users``,
``usersreplace``, ``sessions`` edges and the node's GET/POST/DELETE;
AdAccount.customaudiences-extract.json: ``/act_<id>/customaudiences``; CustomAudienceSession,
CustomAudienceStatus, CustomAudienceDataSource) and section 2.6 of the specs README: form-encoded
parameters with JSON-string ``payload``/``session``, at most 10,000 rows per call, hashed keys
as lowercase hex SHA-256 except MADID and EXTERN_ID, ``{"error": {...}}`` bodies with codes
100/190/2650, throttling codes 17/613/80003 with usage headers, operation_status 471 blocking
uploads with subcode 1713230. Uploads apply at once (Meta takes up to 24 h).

This module holds the server, its routes and knobs; the upload payloads (schemas, rows, hash
checks, sessions) are :mod:`adlake_tests.emulators.meta_uploads`, the records they fill and the
answer shapes (fields, errors, cursors) :mod:`adlake_tests.emulators.meta_records`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adlake_tests.emulators.lwa import bearer
from adlake_tests.emulators.meta_records import (
    NORMAL,
    EmulatedAudience,
    GraphError,
    Member,
    Operation,
    ReceivedBatch,
    UploadSession,
    cursor_audience_id,
    describe_audience,
    graph_error_body,
    page_cursor,
    select_fields,
    trace_id,
)
from adlake_tests.emulators.meta_uploads import apply_upload
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

GRAPH_VERSION = "25.0"
TEST_TOKEN = "EAAGadlakeTestSystemUserToken0000"
TEST_AD_ACCOUNT = "1234567890123456"
CUSTOMER_FILE_SOURCES = (
    "BOTH_USER_AND_PARTNER_PROVIDED",
    "PARTNER_PROVIDED_ONLY",
    "USER_PROVIDED_ONLY",
)
# code -> (error_subcode, message, business-use-case type); Meta's rate-limiting page
THROTTLES = {
    80003: (
        2446079,
        "There have been too many calls to this ad-account. Wait a bit and try again. For more "
        "info, please refer to /docs/graph-api/overview/rate-limiting#custom-audience.",
        "custom_audience",
    ),
    17: (2446079, "User request limit reached", "ads_management"),
    613: (
        1487742,
        "There have been too many calls from this ad-account. Please wait a bit and try again.",
        "ads_management",
    ),
}
FLAGGED = {
    "code": 471,
    "description": "This audience is restricted: it may suggest information not permitted "
    "under our terms. Resolve the restrictions in Audience Manager.",
}


class MetaEmulator(EmulatorServer):
    """Graph API v25.0 customer-file Custom Audiences on loopback.

    ``tokens`` are the accepted access tokens, ``ad_accounts`` the ad account ids (with or
    without ``act_``). Knobs: ``throttle_next()``, ``flag_audience()`` / ``clear_flag()``,
    ``usage_percent`` (``call_count`` in the usage header of successful answers), ``wall_clock``
    (times in audience fields), plus the base's ``fail_next``. State: ``audiences`` by id,
    ``sessions`` by (audience id, session id), ``received`` (every accepted upload call).
    """

    name = "meta"

    def __init__(
        self,
        tokens: Iterable[str] = (TEST_TOKEN,),
        ad_accounts: Iterable[str] = (TEST_AD_ACCOUNT,),
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock=clock)
        self.tokens = set(tokens)
        self.ad_accounts = [str(a).removeprefix("act_") for a in ad_accounts]
        self.wall_clock = wall_clock
        self.usage_percent = 1
        self.audiences: dict[str, EmulatedAudience] = {}
        self.sessions: dict[tuple[str, int], UploadSession] = {}
        self.received: list[ReceivedBatch] = []
        self._ids = itertools.count(23_851_000_000_000_001)
        version = r"/v(?P<version>\d+\.\d+)"
        account = version + r"/act_(?P<account>\d+)/customaudiences"
        node = version + r"/(?P<audience>\d+)"
        self._graph("GET", account, self._list_audiences)
        self._graph("POST", account, self._create_audience)
        self._graph("GET", node, self._get_audience)
        self._graph("POST", node, self._update_audience)
        self._graph("DELETE", node, self._delete_audience)
        self._graph("POST", node + "/users", lambda r, m, p: self._upload(m, p, "add"))
        self._graph("DELETE", node + "/users", lambda r, m, p: self._upload(m, p, "remove"))
        self._graph("POST", node + "/usersreplace", lambda r, m, p: self._upload(m, p, "replace"))
        self._graph("GET", node + "/sessions", self._list_sessions)

    @property
    def graph_url(self) -> str:
        """``http://127.0.0.1:<port>/v25.0``, the base a client is configured with."""
        return f"{self.base_url}/v{GRAPH_VERSION}"

    # knobs and assertions

    def throttle_next(
        self,
        count: int = 1,
        code: int = 80003,
        *,
        regain_minutes: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests 400 with a rate-limit error (80003, 17 or 613).

        The body carries the code, its subcode and ``is_transient``; the headers carry
        ``X-Business-Use-Case-Usage`` at 100 % with ``estimated_time_to_regain_access``
        (minutes), and for 613 also ``X-Ad-Account-Usage``.
        """
        if code not in THROTTLES:
            raise ValueError(f"throttle code must be one of {sorted(THROTTLES)}, not {code}")
        subcode, message, kind = THROTTLES[code]
        error = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}
        error |= {"error_subcode": subcode, "is_transient": True, "fbtrace_id": trace_id()}
        headers = self._usage_headers(self.ad_accounts[0], 100, kind, regain_minutes)
        if code == 613:
            headers["X-Ad-Account-Usage"] = json.dumps(
                {"acc_id_util_pct": 100, "reset_time_duration": regain_minutes * 60}
            )
        self.fail_next(400, count, body={"error": error}, path=path, headers=headers)

    def flag_audience(self, audience_id: str) -> None:
        """Set operation_status 471: uploads then fail with code 100, subcode 1713230."""
        with self.lock:
            self.audiences[audience_id].operation_status = dict(FLAGGED)

    def clear_flag(self, audience_id: str) -> None:
        """Back to operation_status 200 (the restriction was resolved)."""
        with self.lock:
            self.audiences[audience_id].operation_status = dict(NORMAL)

    def members(self, audience_id: str) -> set[Member]:
        """The audience's members: each a sorted tuple of (key, value), empty values left out."""
        with self.lock:
            return set(self.audiences[audience_id].members)

    def values(self, audience_id: str, key: str) -> set[str]:
        """Every value of one key (e.g. the EMAIL hashes) among the audience's members."""
        return {v for member in self.members(audience_id) for k, v in member if k == key}

    # the base's hooks

    def error_body(self, status: int, message: str) -> Any:
        """Graph's error shape for injected faults and unknown routes (5xx: code 2, transient)."""
        if status >= 500:
            message = "An unexpected error has occurred. Please retry your request later."
            return graph_error_body(2, message, is_transient=True)
        return graph_error_body(100, f"(#100) {message}")

    def dispatch(self, request: Request) -> Reply:
        """Move a query ``access_token`` into the Authorization header before the base logs it."""
        parts = urlsplit(request.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        token = [value for key, value in query if key == "access_token"]
        if token:
            kept = urlencode([(key, value) for key, value in query if key != "access_token"])
            request.path = urlunsplit(parts._replace(query=kept))
            del request.headers["Authorization"]
            request.headers["Authorization"] = f"Bearer {token[-1]}"
        reply = super().dispatch(request)
        reply.headers.setdefault("facebook-api-version", f"v{GRAPH_VERSION}")
        reply.headers.setdefault("x-fb-trace-id", trace_id())
        return reply

    # plumbing

    def _usage_headers(
        self, account: str, percent: int, kind: str, regain: int = 0
    ) -> dict[str, str]:
        usage = {
            "type": kind,
            "call_count": percent,
            "total_cputime": min(percent, 40),
            "total_time": min(percent, 60),
            "estimated_time_to_regain_access": regain,
            "ads_api_access_tier": "standard_access",
        }
        return {"X-Business-Use-Case-Usage": json.dumps({account: [usage]})}

    def _graph(self, method: str, pattern: str, handler: Callable[..., Any]) -> None:
        """Route a Graph endpoint: version and token checks, params, errors, usage header."""

        def endpoint(request: Request, match: re.Match[str]) -> Reply:
            try:
                params = self._params(request)
                if match["version"] != GRAPH_VERSION:
                    raise GraphError(
                        2635,
                        "(#2635) You are calling a deprecated version of the Ads API. Please "
                        f"update to the latest version: v{GRAPH_VERSION}.",
                    )
                self._authenticate(request, params)
                with self.lock:
                    payload = handler(request, match, params)
            except GraphError as exc:
                status = 400
                body = graph_error_body(exc.code, exc.message, exc.subcode, **exc.extra)
                headers = {}
                if exc.code == 190:
                    headers["WWW-Authenticate"] = (
                        f'OAuth "Facebook Platform" "invalid_token" "{exc}"'
                    )
                return json_reply(status, body, headers=headers)
            headers = self._usage_headers(
                match.groupdict().get("account") or self.ad_accounts[0],
                self.usage_percent,
                "custom_audience",
            )
            return json_reply(200, payload, headers=headers)

        self.route(method, pattern, endpoint)

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/json" and request.body:
            try:
                body = request.json()
            except ValueError as exc:
                raise GraphError(100, "(#100) The request body is not valid JSON") from exc
            if isinstance(body, dict):
                params.update(body)
        elif request.body:
            params.update(request.form())
        return params

    def _token(self, request: Request, params: dict[str, Any]) -> str | None:
        return params.get("access_token") or bearer(request)

    def _authenticate(self, request: Request, params: dict[str, Any]) -> None:
        token = self._token(request, params)
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        if token not in self.tokens:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")

    def _unsupported(self, method: str, object_id: str) -> GraphError:
        return GraphError(
            100,
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            33,
            type="GraphMethodException",
        )

    def _audience(self, request: Request, match: re.Match[str]) -> EmulatedAudience:
        audience = self.audiences.get(match["audience"])
        if audience is None:
            raise self._unsupported(request.method, match["audience"])
        return audience

    def _account(self, request: Request, match: re.Match[str]) -> str:
        if match["account"] not in self.ad_accounts:
            raise self._unsupported(request.method, f"act_{match['account']}")
        return match["account"]

    def _now(self) -> int:
        return int(self.wall_clock())

    # audiences

    def _create_audience(self, request: Request, match: re.Match[str], params: dict) -> Any:
        account = self._account(request, match)
        subtype = params.get("subtype") or "CUSTOM"
        if subtype != "CUSTOM":
            raise GraphError(
                100, f"(#100) emulator: only subtype CUSTOM is emulated, not {subtype}"
            )
        if not params.get("name"):
            raise GraphError(100, "(#100) Missing parameter(s): name")
        source = params.get("customer_file_source")
        if not source:
            raise GraphError(100, "(#100) Missing parameter(s): customer_file_source")
        if source not in CUSTOMER_FILE_SOURCES:
            allowed = ", ".join(CUSTOMER_FILE_SOURCES)
            raise GraphError(100, f"(#100) Param customer_file_source must be one of {{{allowed}}}")
        now = self._now()
        audience = EmulatedAudience(
            str(next(self._ids)),
            account,
            params["name"],
            params.get("description") or "",
            source,
            now,
            now,
        )
        self.audiences[audience.audience_id] = audience
        return {"id": audience.audience_id}

    def _list_audiences(self, request: Request, match: re.Match[str], params: dict) -> Any:
        account = self._account(request, match)
        fields = select_fields(params)
        try:
            limit = int(params.get("limit") or 25)
        except ValueError:
            limit = 0
        if limit < 1:
            raise GraphError(
                100, f"(#100) Param limit must be a positive integer: {params['limit']}"
            )
        newest_first = [a for a in reversed(self.audiences.values()) if a.account_id == account]
        ids = [a.audience_id for a in newest_first]
        start, end = 0, len(ids)
        if params.get("after"):
            start = self._position(ids, params["after"]) + 1
        if params.get("before"):
            end = self._position(ids, params["before"])
            start = max(start, end - limit)
        page = newest_first[start : min(end, start + limit)]
        answer: dict[str, Any] = {"data": [describe_audience(a, fields) for a in page]}
        if not page:
            return answer
        cursors = {
            "before": page_cursor(page[0].audience_id),
            "after": page_cursor(page[-1].audience_id),
        }
        answer["paging"] = {"cursors": cursors}
        query = {"access_token": self._token(request, params) or "", "limit": limit}
        if "fields" in params:
            query["fields"] = params["fields"]
        url = f"{self.graph_url}/act_{account}/customaudiences?"
        if start + len(page) < len(ids):
            answer["paging"]["next"] = url + urlencode({**query, "after": cursors["after"]})
        if start > 0:
            answer["paging"]["previous"] = url + urlencode({**query, "before": cursors["before"]})
        return answer

    def _position(self, ids: list[str], cursor: str) -> int:
        audience_id = cursor_audience_id(cursor)
        if audience_id not in ids:
            raise GraphError(100, f"(#100) Invalid cursor: {cursor}")
        return ids.index(audience_id)

    def _get_audience(self, request: Request, match: re.Match[str], params: dict) -> Any:
        return describe_audience(self._audience(request, match), select_fields(params))

    def _update_audience(self, request: Request, match: re.Match[str], params: dict) -> Any:
        audience = self._audience(request, match)
        for name in ("name", "description"):
            if name in params:
                setattr(audience, name, params[name])
        audience.time_updated = self._now()
        return {"success": True}

    def _delete_audience(self, request: Request, match: re.Match[str], params: dict) -> Any:
        audience = self._audience(request, match)
        del self.audiences[audience.audience_id]
        for key in [key for key in self.sessions if key[0] == audience.audience_id]:
            del self.sessions[key]
        return {"success": True}

    def _list_sessions(self, request: Request, match: re.Match[str], params: dict) -> Any:
        audience = self._audience(request, match)
        wanted = params.get("session_id")
        data = []
        for (audience_id, session_id), session in self.sessions.items():
            if audience_id != audience.audience_id or wanted not in (None, str(session_id)):
                continue
            done = session.end_time is not None
            data.append(
                {
                    "session_id": str(session_id),
                    "start_time": str(session.start_time),
                    "end_time": str(session.end_time or 0),
                    "num_received": str(session.num_received),
                    "num_matched": str(session.num_received - session.num_invalid_entries),
                    "num_invalid_entries": str(session.num_invalid_entries),
                    "stage": "processed" if done else "uploading",
                    "progress": "100" if done else "0",
                }
            )
        return {"data": data}

    # uploads

    def _upload(self, match: re.Match[str], params: dict[str, Any], operation: Operation) -> Any:
        audience = self.audiences.get(match["audience"])
        if audience is None:
            raise self._unsupported(
                "DELETE" if operation == "remove" else "POST", match["audience"]
            )
        return apply_upload(audience, params, operation, self.sessions, self.received, self._now)
