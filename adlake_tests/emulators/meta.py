"""Meta Graph API v25.0 emulator: customer-file Custom Audiences, built from Meta's node specs.

Follows shared/specs/meta/graph-api-codegen-specs (CustomAudience.json: fields, ``users``,
``usersreplace``, ``sessions`` edges and the node's GET/POST/DELETE;
AdAccount.customaudiences-extract.json: ``/act_<id>/customaudiences``; CustomAudienceSession,
CustomAudienceStatus, CustomAudienceDataSource) and section 2.6 of the specs README: form-encoded
parameters with JSON-string ``payload``/``session``, at most 10,000 rows per call, hashed keys
as lowercase hex SHA-256 except MADID and EXTERN_ID, ``{"error": {...}}`` bodies with codes
100/190/2650, throttling codes 17/613/80003 with usage headers, operation_status 471 blocking
uploads with subcode 1713230. Uploads apply at once (Meta takes up to 24 h).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from adlake_tests.emulators.lwa import bearer
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

GRAPH_VERSION = "25.0"
TEST_TOKEN = "EAAGadlakeTestSystemUserToken0000"
TEST_AD_ACCOUNT = "1234567890123456"
MAX_ROWS = 10_000
MULTI_KEYS = frozenset(
    re.findall(r"\w+", "EXTERN_ID EMAIL PHONE GEN DOBY DOBM DOBD LN FN FI CT ST ZIP MADID COUNTRY")
)
UNHASHED_KEYS = frozenset({"EXTERN_ID", "MADID"})
SINGLE_KEY_SCHEMAS = {
    "EMAIL_SHA256": "EMAIL",
    "PHONE_SHA256": "PHONE",
    "MOBILE_ADVERTISER_ID": "MADID",
}
CUSTOMER_FILE_SOURCES = (
    "BOTH_USER_AND_PARTNER_PROVIDED",
    "PARTNER_PROVIDED_ONLY",
    "USER_PROVIDED_ONLY",
)
# the fields of CustomAudience.json; requesting any other name is error 100
AUDIENCE_FIELDS = frozenset(
    re.findall(
        r"\w+",
        """account_id approximate_count_lower_bound approximate_count_upper_bound
    customer_file_source data_source data_source_types datafile_custom_audience_uploading_status
    delete_time
    delivery_status description excluded_custom_audiences external_event_source
    fields_violating_integrity_policy household_audience id included_custom_audiences
    is_eligible_for_sac_campaigns is_household is_snapshot is_value_based lookalike_audience_ids
    lookalike_spec messenger_marketing_messages_page name operation_status opt_out_link
    owner_business page_deletion_marked_delete_time permission_for_actions pixel_id
    regulated_audience_spec retention_days rev_share_policy_id rule rule_aggregation rule_v2
    seed_audience sharing_status subtype time_content_updated time_created time_updated""",
    )
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
NORMAL = {"code": 200, "description": "Normal"}
FLAGGED = {
    "code": 471,
    "description": "This audience is restricted: it may suggest information not permitted "
    "under our terms. Resolve the restrictions in Audience Manager.",
}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MIN_DELIVERABLE = 100

Member = tuple[tuple[str, str], ...]
Operation = Literal["add", "remove", "replace"]


@dataclass(frozen=True)
class ReceivedBatch:
    """One accepted upload call: what it did, to which audience, with which rows."""

    audience_id: str
    operation: Operation
    schema: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    session: dict[str, Any] | None
    num_invalid_entries: int

    @property
    def row_count(self) -> int:
        """How many rows the call carried."""
        return len(self.rows)


@dataclass
class EmulatedAudience:
    """A customer-file custom audience: its attributes and its members (identifier tuples)."""

    audience_id: str
    account_id: str
    name: str
    description: str
    customer_file_source: str
    time_created: int
    time_updated: int
    members: set[Member] = field(default_factory=set)
    operation_status: dict[str, Any] = field(default_factory=lambda: dict(NORMAL))
    sub_type: str | None = None  # HASHES_OR_USER_IDS or MULTI_HASHES after the first upload


@dataclass
class UploadSession:
    """The batches of one ``session_id`` on one audience; a replace applies on the last one."""

    session_id: int
    operation: Operation
    start_time: int
    batch_seq: int = 0
    num_received: int = 0
    num_invalid_entries: int = 0
    end_time: int | None = None
    pending: set[Member] = field(default_factory=set)


class GraphError(Exception):
    """A Graph API error to answer: code, message and optional subcode / user texts."""

    def __init__(self, code: int, message: str, subcode: int | None = None, **extra: Any):
        super().__init__(message)
        self.code, self.message, self.subcode, self.extra = code, message, subcode, extra


def _trace_id() -> str:
    return secrets.token_urlsafe(8)[:11]


def _cursor(audience_id: str) -> str:
    return base64.urlsafe_b64encode(audience_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError as exc:
        raise GraphError(100, f"(#100) Invalid cursor: {cursor}") from exc


def _json_param(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise GraphError(100, f"(#100) Param {name} must be a JSON object") from exc


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
        error |= {"error_subcode": subcode, "is_transient": True, "fbtrace_id": _trace_id()}
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
            return self._error(2, message, is_transient=True)
        return self._error(100, f"(#100) {message}")

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
        reply.headers.setdefault("x-fb-trace-id", _trace_id())
        return reply

    # plumbing

    def _error(self, code: int, message: str, subcode: int | None = None, **extra: Any) -> Any:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error |= extra
        return {"error": {**error, "fbtrace_id": _trace_id()}}

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
                body = self._error(exc.code, exc.message, exc.subcode, **exc.extra)
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
        fields = self._fields(params)
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
        answer: dict[str, Any] = {"data": [self._describe(a, fields) for a in page]}
        if not page:
            return answer
        cursors = {"before": _cursor(page[0].audience_id), "after": _cursor(page[-1].audience_id)}
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
        audience_id = _uncursor(cursor)
        if audience_id not in ids:
            raise GraphError(100, f"(#100) Invalid cursor: {cursor}")
        return ids.index(audience_id)

    def _fields(self, params: dict[str, Any]) -> list[str]:
        text = str(params.get("fields") or "id")
        while "{" in text:  # sub-selections (operation_status{code}) return the whole object
            stripped = re.sub(r"\{[^{}]*\}", "", text)
            if stripped == text:
                break
            text = stripped
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in AUDIENCE_FIELDS:
                raise GraphError(
                    100,
                    f"(#100) Tried accessing nonexisting field ({name}) on node type "
                    "(CustomAudience)",
                )
        return ["id", *[name for name in names if name != "id"]]

    def _describe(self, audience: EmulatedAudience, fields: list[str]) -> dict[str, Any]:
        size = len(audience.members)
        small = size < MIN_DELIVERABLE
        data_source = {"type": "UNKNOWN", "sub_type": "ANYTHING", "creation_params": "[]"}
        if audience.sub_type:
            data_source = {**data_source, "type": "FILE_IMPORTED", "sub_type": audience.sub_type}
        held = {
            "id": audience.audience_id,
            "account_id": audience.account_id,
            "name": audience.name,
            "description": audience.description,
            "subtype": "CUSTOM",
            "customer_file_source": audience.customer_file_source,
            "approximate_count_lower_bound": size,
            "approximate_count_upper_bound": size,
            "operation_status": dict(audience.operation_status),
            "delivery_status": {
                "code": 300 if small else 200,
                "description": "This audience is too small to be used for ads."
                if small
                else "This audience is ready for use.",
            },
            "data_source": data_source,
            "is_value_based": False,
            "time_created": audience.time_created,
            "time_updated": audience.time_updated,
            "time_content_updated": audience.time_updated,
        }
        return {name: held[name] for name in fields if name in held}

    def _get_audience(self, request: Request, match: re.Match[str], params: dict) -> Any:
        return self._describe(self._audience(request, match), self._fields(params))

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
        if audience.operation_status["code"] == 471:
            raise GraphError(
                100,
                "Invalid parameter",
                1713230,
                error_user_title="Audience Upload Blocked",
                error_user_msg="Before updating user memberships, you must resolve integrity "
                "restrictions on this Data File Custom Audience. Go to Audience Manager to appeal "
                "the restrictions or create a new audience with updated data",
            )
        payload = _json_param(params, "payload")
        if not isinstance(payload, dict):
            raise GraphError(100, "(#100) The parameter payload is required (a JSON object)")
        schema, single = self._schema(payload.get("schema"))
        rows = self._rows(payload.get("data"), schema, single)
        session = _json_param(params, "session")
        if operation == "replace" and session is None:
            raise GraphError(100, "(#100) The parameter session is required")
        sub_type = "HASHES_OR_USER_IDS" if single else "MULTI_HASHES"
        if audience.sub_type and audience.sub_type != sub_type:
            raise GraphError(
                2650,
                "(#2650) Failed to update the custom audience: This audience was created from "
                f"data source FILE_IMPORTED.{audience.sub_type}, which does not support data "
                f"source FILE_IMPORTED.{sub_type}.",
            )
        valid, samples = _validate(schema, rows)
        state = self._session(audience.audience_id, session, operation)
        received, invalid = len(rows), len(rows) - len(valid)
        if state is not None:
            state.num_received += received
            state.num_invalid_entries += invalid
            received, invalid = state.num_received, state.num_invalid_entries
        audience.sub_type = sub_type
        if operation == "add":
            audience.members |= valid
        elif operation == "remove":
            audience.members -= valid
        elif state is not None:
            state.pending |= valid
        if state is not None and session.get("last_batch_flag"):
            state.end_time = self._now()
            if operation == "replace":
                audience.members, state.pending = state.pending, set()
        audience.time_updated = self._now()
        self.received.append(
            ReceivedBatch(
                audience.audience_id, operation, schema, rows, session, len(rows) - len(valid)
            )
        )
        session_id = state.session_id if state else secrets.randbits(62)
        return {
            "audience_id": audience.audience_id,
            "session_id": str(session_id),
            "num_received": received,
            "num_invalid_entries": invalid,
            "invalid_entry_samples": samples,
        }

    def _schema(self, schema: Any) -> tuple[tuple[str, ...], bool]:
        if isinstance(schema, str):
            if schema not in SINGLE_KEY_SCHEMAS:
                allowed = ", ".join([*SINGLE_KEY_SCHEMAS, "or a list of multi-key fields"])
                raise GraphError(100, f"(#100) Invalid schema {schema!r}: use {allowed}")
            return (SINGLE_KEY_SCHEMAS[schema],), True
        if not isinstance(schema, list) or not schema:
            raise GraphError(100, "(#100) payload.schema is required: a schema name or a key list")
        unknown = [key for key in schema if key not in MULTI_KEYS]
        if unknown:
            allowed = ", ".join(sorted(MULTI_KEYS))
            raise GraphError(100, f"(#100) Invalid schema keys {unknown}: allowed {allowed}")
        if len(set(schema)) != len(schema):
            raise GraphError(100, f"(#100) payload.schema repeats a key: {schema}")
        return tuple(schema), False

    def _rows(
        self, data: Any, schema: tuple[str, ...], single: bool
    ) -> tuple[tuple[Any, ...], ...]:
        if not isinstance(data, list) or not data:
            raise GraphError(100, "(#100) payload.data must be a non-empty list of rows")
        if len(data) > MAX_ROWS:
            raise GraphError(
                100,
                f"(#100) Too many rows in payload.data: {len(data)} given, at most {MAX_ROWS} "
                "per request. Split the upload into several requests.",
            )
        rows = []
        for index, row in enumerate(data):
            if single and not isinstance(row, list):
                row = [row]
            if not isinstance(row, list) or len(row) != len(schema):
                width = len(row) if isinstance(row, list) else "not a list"
                raise GraphError(
                    100,
                    f"(#100) Row {index} of payload.data has {width} values but the schema "
                    f"{list(schema)} has {len(schema)}",
                )
            rows.append(tuple(row))
        return tuple(rows)

    def _session(
        self, audience_id: str, session: Any, operation: Operation
    ) -> UploadSession | None:
        if session is None:
            return None
        if not isinstance(session, dict):
            raise GraphError(100, "(#100) Param session must be a JSON object")
        session_id, seq = session.get("session_id"), session.get("batch_seq")
        if not isinstance(session_id, int) or isinstance(session_id, bool) or session_id < 1:
            raise GraphError(
                100, f"(#100) session.session_id must be a positive integer: {session_id!r}"
            )
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise GraphError(100, f"(#100) session.batch_seq must be a positive integer: {seq!r}")
        if not isinstance(session.get("last_batch_flag", False), bool):
            raise GraphError(100, "(#100) session.last_batch_flag must be true or false")
        state = self.sessions.get((audience_id, session_id))
        if state is None:
            if operation == "replace":  # a new replace session abandons an unfinished one
                for (other_audience, _), other in self.sessions.items():
                    open_replace = other.operation == "replace" and other.end_time is None
                    if other_audience == audience_id and open_replace:
                        other.end_time, other.pending = self._now(), set()
            state = UploadSession(session_id, operation, self._now())
            self.sessions[(audience_id, session_id)] = state
        if state.operation != operation:
            raise GraphError(100, f"(#100) Session {session_id} is a {state.operation} session")
        if state.end_time is not None:
            raise GraphError(100, f"(#100) Session {session_id} has ended; start a new session")
        if seq <= state.batch_seq:
            raise GraphError(
                100, f"(#100) session.batch_seq {seq} must be greater than {state.batch_seq}"
            )
        state.batch_seq = seq
        return state


def _validate(schema: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> tuple[set[Member], dict]:
    """The members of the valid rows, and up to 10 samples (value -> reason) of invalid ones."""
    valid: set[Member] = set()
    samples: dict[str, str] = {}
    for row in rows:
        problem = None
        for key, value in zip(schema, row, strict=True):
            if not isinstance(value, str):
                problem = (repr(value), f"{key}: value must be a string")
            elif value and key not in UNHASHED_KEYS and not SHA256_HEX.fullmatch(value):
                problem = (value, f"{key}: not a SHA-256 hash (64 lowercase hex characters)")
            if problem:
                break
        member = tuple(sorted((k, v) for k, v in zip(schema, row, strict=True) if v))
        if problem is None and not member:
            problem = (json.dumps(list(row)), "row holds no identifier")
        if problem is None:
            valid.add(member)
        elif len(samples) < 10:
            samples[problem[0]] = problem[1]
    return valid, samples
