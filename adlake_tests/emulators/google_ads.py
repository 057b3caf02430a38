"""Google Ads API v25 Customer Match emulator, the REST (proto3 JSON) form of the official protos.

Follows shared/specs/google-ads/protos (services/offline_user_data_job_service.proto,
user_list_service.proto, google_ads_service.proto, googleads_v25.yaml for the operations route)
and section 2.7 of the specs README: a CRM-based user list is created through
``userLists:mutate``, filled by an OfflineUserDataJob (create -> addOperations -> run), and the
job's long-running operation goes PENDING -> RUNNING -> SUCCESS | FAILED as it is polled. The
list's membership changes only when a job succeeds, so tests assert exactly what it holds.
Errors carry a GoogleAdsFailure whose enum names come from the errors protos.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from adlake_tests.emulators.lwa import bearer
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

TEST_ACCESS_TOKEN = "ya29.adlake-test-oauth-access-token"
TEST_DEVELOPER_TOKEN = "adlake-test-developer-token"
TEST_CUSTOMER_ID = "1234567890"
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v25.errors.GoogleAdsFailure"
METADATA_TYPE = "type.googleapis.com/google.ads.googleads.v25.resources.OfflineUserDataJobMetadata"
MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_USER = 20
UPLOAD_KEYS = {
    "CONTACT_INFO": {"hashedEmail", "hashedPhoneNumber", "addressInfo"},
    "CRM_ID": {"thirdPartyUserId"},
    "MOBILE_ADVERTISING_ID": {"mobileId"},
}
IDENTIFIER_KINDS = (
    "hashedEmail",
    "hashedPhoneNumber",
    "mobileId",
    "thirdPartyUserId",
    "addressInfo",
)
FAILURE_REASONS = frozenset(
    {
        "UNKNOWN",
        "INSUFFICIENT_MATCHED_TRANSACTIONS",
        "INSUFFICIENT_TRANSACTIONS",
        "HIGH_AVERAGE_TRANSACTION_VALUE",
        "LOW_AVERAGE_TRANSACTION_VALUE",
        "NEWLY_OBSERVED_CURRENCY_CODE",
    }
)
CONSENT_STATUSES = frozenset({"UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"})
RPC_STATUS = {
    400: (3, "INVALID_ARGUMENT"),
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),
    405: (12, "UNIMPLEMENTED"),
    429: (8, "RESOURCE_EXHAUSTED"),
    500: (13, "INTERNAL"),
    503: (14, "UNAVAILABLE"),
    504: (4, "DEADLINE_EXCEEDED"),
}
SHA256 = re.compile(r"[0-9a-f]{64}")
MOBILE_ID = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
QUERY = re.compile(
    r"\s*SELECT\s+(?P<fields>[\w.,\s]+?)\s+FROM\s+(?P<resource>\w+)"
    r"(?:\s+WHERE\s+(?P<field>[\w.]+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+))?"
    r"(?:\s+LIMIT\s+(?P<limit>\d+))?\s*",
    re.IGNORECASE | re.DOTALL,
)
RESOURCES = {"user_list": "userList", "offline_user_data_job": "offlineUserDataJob"}
FIELDS = {
    "user_list": {
        f"user_list.{name}"
        for name in [
            "resource_name",
            "id",
            "name",
            "description",
            "type",
            "membership_status",
            "membership_life_span",
            "size_for_search",
            "size_for_display",
            "crm_based_user_list.upload_key_type",
            "crm_based_user_list.data_source_type",
            "crm_based_user_list.app_id",
        ]
    },
    "offline_user_data_job": {
        f"offline_user_data_job.{name}"
        for name in [
            "resource_name",
            "id",
            "external_id",
            "type",
            "status",
            "failure_reason",
            "operation_metadata.match_rate_range",
            "customer_match_user_list_metadata.user_list",
            "customer_match_user_list_metadata.consent.ad_user_data",
            "customer_match_user_list_metadata.consent.ad_personalization",
        ]
    },
}

Error = dict[str, Any]


def ads_error(category: str, code: str, message: str, *path: str | tuple[str, int]) -> Error:
    """One GoogleAdsError: ``errorCode`` {category: code}, message, field path if given."""
    error: Error = {"errorCode": {category: code}, "message": message}
    if path:
        elements = [
            {"fieldName": p} if isinstance(p, str) else {"fieldName": p[0], "index": p[1]}
            for p in path
        ]
        error["location"] = {"fieldPathElements": elements}
    return error


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def _request_id() -> str:
    return secrets.token_urlsafe(16)


class AddOperationsCall(NamedTuple):
    """One addOperations request as received: no credentials, only what a test asserts."""

    job: str
    operation_count: int
    identifiers: tuple[int, ...]
    kinds: tuple[str, ...]
    partial_failure: bool
    rejected: tuple[int, ...]
    status: int
    operations: list[dict[str, Any]]


@dataclass
class EmulatedUserList:
    """A CRM-based user list and the users it holds (each a frozenset of (kind, value))."""

    resource_name: str
    id: str
    name: str
    description: str | None
    upload_key_type: str
    data_source_type: str
    membership_life_span: str
    app_id: str | None = None
    members: list[frozenset[tuple[str, str]]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        """The UserList resource in proto3 JSON."""
        crm = {"uploadKeyType": self.upload_key_type, "dataSourceType": self.data_source_type}
        if self.app_id:
            crm["appId"] = self.app_id
        return {
            "resourceName": self.resource_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": "CRM_BASED",
            "membershipStatus": "OPEN",
            "membershipLifeSpan": self.membership_life_span,
            "sizeForSearch": str(len(self.members)),
            "sizeForDisplay": str(len(self.members)),
            "crmBasedUserList": crm,
        }


@dataclass
class EmulatedJob:
    """An OfflineUserDataJob: its list, accepted operations, state and long-running operation."""

    resource_name: str
    id: str
    user_list: str
    consent: dict[str, str] | None
    external_id: str | None = None
    status: str = "PENDING"
    failure_reason: str | None = None
    will_fail: str | None = None
    operations: list[tuple[str, frozenset[tuple[str, str]]]] = field(default_factory=list)
    operation_name: str | None = None
    polls: int = 0

    def render(self, match_rate_range: str) -> dict[str, Any]:
        """The OfflineUserDataJob resource in proto3 JSON."""
        metadata = {"userList": self.user_list}
        if self.consent:
            metadata["consent"] = self.consent  # type: ignore[assignment]
        job: dict[str, Any] = {
            "resourceName": self.resource_name,
            "id": self.id,
            "externalId": self.external_id,
            "type": "CUSTOMER_MATCH_USER_LIST",
            "status": self.status,
            "failureReason": self.failure_reason,
            "customerMatchUserListMetadata": metadata,
        }
        if self.status in ("RUNNING", "SUCCESS"):
            job["operationMetadata"] = {"matchRateRange": match_rate_range}
        return job


class _CredentialFreeLog(list):
    """The request log; also drops the developer token, which the base does not know."""

    def append(self, item: Any) -> None:
        headers = {k: v for k, v in item.headers.items() if k.lower() != "developer-token"}
        super().append(item._replace(headers=headers))


class GoogleAdsEmulator(EmulatorServer):
    """Google Ads API v25 user lists, offline user data jobs, GAQL search and operations.

    Knobs (attributes or constructor keywords): ``access_tokens``, ``developer_tokens``,
    ``customer_ids`` (accessible accounts), ``polls_to_complete`` (polls of a running job
    until final, default 2), ``match_rate_range`` (reported while RUNNING and on SUCCESS);
    methods ``fail_next_job(reason)``, ``exhaust_quota_next(count, retry_delay)`` and the base's
    ``fail_next``. Logs: ``received`` (one :class:`AddOperationsCall` per addOperations),
    ``user_lists`` and ``jobs`` by resource name; ``members``/``identifiers`` read a list.
    """

    name = "google-ads"

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**({"clock": knobs.pop("clock")} if "clock" in knobs else {}))
        self.requests = _CredentialFreeLog()
        self.access_tokens = {TEST_ACCESS_TOKEN}
        self.developer_tokens = {TEST_DEVELOPER_TOKEN}
        self.customer_ids = {TEST_CUSTOMER_ID}
        self.polls_to_complete = 2
        self.match_rate_range = "MATCH_RANGE_51_TO_60"
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown GoogleAdsEmulator knob {name!r}")
            setattr(self, name, value)
        self.received: list[AddOperationsCall] = []
        self.user_lists: dict[str, EmulatedUserList] = {}
        self.jobs: dict[str, EmulatedJob] = {}
        self._operations: dict[str, str] = {}
        self._failing_jobs: deque[str] = deque()
        self._next_id = 100_000_000
        customer = r"/v25/customers/(?P<cid>\d+)"
        job = r"/v25/(?P<job>customers/(?P<cid>\d+)/offlineUserDataJobs/\d+)"
        self.route("POST", customer + r"/userLists:mutate", self._mutate_user_lists)
        self.route("POST", customer + r"/googleAds:search", self._search)
        self.route("POST", customer + r"/offlineUserDataJobs:create", self._create_job)
        self.route("POST", job + r":addOperations", self._add_operations)
        self.route("POST", job + r":run", self._run_job)
        self.route("GET", r"/v25/(?P<name>customers/(?P<cid>\d+)/operations/[\w-]+)", self._poll)

    # ---- knobs and assertions -------------------------------------------------------------

    def fail_next_job(self, reason: str = "UNKNOWN") -> None:
        """Make the next job that is run end FAILED with ``reason`` (an enum name)."""
        if reason not in FAILURE_REASONS:
            raise ValueError(f"{reason!r} is not an OfflineUserDataJobFailureReason")
        with self.lock:
            self._failing_jobs.append(reason)

    def exhaust_quota_next(self, count: int = 1, retry_delay: int = 30) -> None:
        """Answer the next ``count`` API calls 429 RESOURCE_EXHAUSTED, retry delay in details."""
        delay = f"{retry_delay}s"
        error = ads_error(
            "quotaError",
            "RESOURCE_TEMPORARILY_EXHAUSTED",
            f"Too many requests. Retry in {retry_delay} seconds.",
        )
        error["details"] = {
            "quotaErrorDetails": {
                "rateScope": "ACCOUNT",
                "rateName": "Requests per account",
                "retryDelay": delay,
            }
        }
        body = self.failure(429, "Resource has been exhausted (e.g. check quota).", [error])
        body["error"]["details"].append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        )
        self.fail_next(429, count, body=body, path=r"^/v25/")

    def members(self, user_list: str) -> set[frozenset[tuple[str, str]]]:
        """The users a list holds, each a frozenset of (identifier kind, value)."""
        with self.lock:
            return set(self.user_lists[user_list].members)

    def identifiers(self, user_list: str, kind: str = "hashedEmail") -> set[str]:
        """Every identifier of one kind the list holds (addressInfo: 'fn:ln:country:postal')."""
        return {value for user in self.members(user_list) for k, value in user if k == kind}

    # ---- error shape ------------------------------------------------------------------------

    def failure(self, status: int, message: str, errors: list[Error]) -> dict[str, Any]:
        """An HTTP error body: google.rpc.Status with a GoogleAdsFailure in its details."""
        _, name = RPC_STATUS.get(status, (2, "UNKNOWN"))
        detail = {"@type": FAILURE_TYPE, "errors": errors, "requestId": _request_id()}
        return {"error": {"code": status, "message": message, "status": name, "details": [detail]}}

    def error_body(self, status: int, message: str) -> Any:
        """Google's shape for injected faults and unknown routes."""
        category, code = {
            404: ("requestError", "RESOURCE_NOT_FOUND"),
            429: ("quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED"),
            503: ("internalError", "TRANSIENT_ERROR"),
            504: ("internalError", "DEADLINE_EXCEEDED"),
        }.get(status, ("internalError", "INTERNAL_ERROR"))
        return self.failure(status, message, [ads_error(category, code, message)])

    def _fail(self, status: int, *errors: Error) -> Reply:
        message = errors[0]["message"] if len(errors) == 1 else "Multiple errors in 'details'."
        return self._reply(status, self.failure(status, message, list(errors)))

    def _reply(self, status: int, payload: Any) -> Reply:
        return json_reply(status, payload, headers={"request-id": _request_id()})

    def _denied(self, request: Request, customer_id: str) -> Reply | None:
        """Google's checks in order: OAuth token, developer token, login-customer-id, access."""
        token = bearer(request)
        if token is None:
            return self._fail(
                401,
                ads_error(
                    "authenticationError",
                    "OAUTH_TOKEN_HEADER_INVALID",
                    "Request is missing required authentication credential.",
                ),
            )
        if token not in self.access_tokens:
            return self._fail(
                401,
                ads_error(
                    "authenticationError",
                    "OAUTH_TOKEN_INVALID",
                    "Request had invalid authentication credentials.",
                ),
            )
        developer_token = request.headers.get("developer-token")
        if not developer_token:
            message = "developer-token parameter is missing."
            return self._fail(
                400, ads_error("requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING", message)
            )
        if developer_token not in self.developer_tokens:
            message = "The developer token is not valid."
            return self._fail(
                401, ads_error("authenticationError", "DEVELOPER_TOKEN_INVALID", message)
            )
        login = request.headers.get("login-customer-id")
        if login is not None and not re.fullmatch(r"\d{10}", login):
            message = "The login customer ID must be 10 digits without dashes."
            return self._fail(400, ads_error("headerError", "INVALID_LOGIN_CUSTOMER_ID", message))
        if customer_id not in self.customer_ids:
            message = "User doesn't have permission to access customer."
            return self._fail(
                403, ads_error("authorizationError", "USER_PERMISSION_DENIED", message)
            )
        return None

    def _body(self, request: Request) -> tuple[dict[str, Any] | None, Reply | None]:
        try:
            body = request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body, None
        message = "Invalid JSON payload received: the body must be a JSON object."
        return None, self._fail(400, ads_error("requestError", "UNKNOWN", message))

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    # ---- user lists and search --------------------------------------------------------------

    def _mutate_user_lists(self, request: Request, match: re.Match[str]) -> Reply:
        cid = match["cid"]
        denied = self._denied(request, cid)
        body, bad = (None, denied) if denied else self._body(request)
        if body is None:
            return bad  # type: ignore[return-value]
        operations = body.get("operations") or []
        if not operations:
            message = "Mutate operations must be present."
            return self._fail(400, ads_error("requestError", "OPERATION_REQUIRED", message))
        with self.lock:
            errors, created = [], []
            names = {
                ul.name
                for ul in self.user_lists.values()
                if ul.resource_name.startswith(f"customers/{cid}/")
            }
            for index, operation in enumerate(operations):
                problem = self._invalid_user_list(operation, index, names)
                if problem:
                    errors.append(problem)
                    continue
                names.add(operation["create"]["name"])
                created.append(operation["create"])
            if errors:
                return self._fail(400, *errors)
            results = []
            for spec in created if not body.get("validateOnly") else []:
                list_id = self._new_id()
                crm = spec["crmBasedUserList"]
                user_list = EmulatedUserList(
                    f"customers/{cid}/userLists/{list_id}",
                    list_id,
                    spec["name"],
                    spec.get("description"),
                    crm["uploadKeyType"],
                    crm.get("dataSourceType", "FIRST_PARTY"),
                    str(spec.get("membershipLifeSpan", "540")),
                    crm.get("appId"),
                )
                self.user_lists[user_list.resource_name] = user_list
                results.append({"resourceName": user_list.resource_name})
        return self._reply(200, {"results": results})

    def _invalid_user_list(self, operation: Any, index: int, names: set[str]) -> Error | None:
        at = ("operations", index)
        spec = operation.get("create") if isinstance(operation, dict) else None
        if not isinstance(spec, dict):
            message = "The emulator supports only create operations on user lists."
            return ads_error("mutateError", "MUTATE_NOT_ALLOWED", message, at)
        if not spec.get("name"):
            return ads_error(
                "fieldError", "REQUIRED", "The name is required.", at, "create", "name"
            )
        if spec["name"] in names:
            message = "Name is already being used for another user list for the account."
            return ads_error("userListError", "NAME_ALREADY_USED", message, at, "create", "name")
        crm = spec.get("crmBasedUserList")
        if not isinstance(crm, dict):
            message = "Concrete type of user list is required."
            return ads_error("userListError", "CONCRETE_TYPE_REQUIRED", message, at, "create")
        path = (at, "create", "crm_based_user_list", "upload_key_type")
        if crm.get("uploadKeyType") not in UPLOAD_KEYS:
            message = f"uploadKeyType must be one of {', '.join(UPLOAD_KEYS)}."
            return ads_error("requestError", "INVALID_ENUM_VALUE", message, *path)
        if crm["uploadKeyType"] == "MOBILE_ADVERTISING_ID" and not crm.get("appId"):
            message = "App id must be set for a list of mobile advertising ids."
            return ads_error("userListError", "APP_ID_NOT_SET", message, *path[:-1], "app_id")
        try:
            span = int(spec.get("membershipLifeSpan", 0))
        except (TypeError, ValueError):
            span = -1
        if not 0 <= span <= 540:
            message = "membershipLifeSpan must be between 0 and 540 days."
            code = "TOO_HIGH" if span > 540 else "TOO_LOW"
            return ads_error("rangeError", code, message, at, "create", "membership_life_span")
        return None

    def _search(self, request: Request, match: re.Match[str]) -> Reply:
        cid = match["cid"]
        denied = self._denied(request, cid)
        body, bad = (None, denied) if denied else self._body(request)
        if body is None:
            return bad  # type: ignore[return-value]
        parsed = QUERY.fullmatch(str(body.get("query", "")))
        if parsed is None:
            message = (
                "The emulator understands only SELECT <fields> FROM user_list|"
                "offline_user_data_job [WHERE <field> = '<value>'] [LIMIT n]."
            )
            return self._fail(400, ads_error("queryError", "UNEXPECTED_INPUT", message, "query"))
        resource = parsed["resource"].lower()
        if resource not in RESOURCES:
            message = f"Resource {resource!r} is not supported in the FROM clause."
            return self._fail(
                400, ads_error("queryError", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE", message, "query")
            )
        fields = [f.strip() for f in parsed["fields"].split(",") if f.strip()]
        wanted = [*fields, *([parsed["field"]] if parsed["field"] else [])]
        with self.lock:
            rows = self._rows(resource, cid)
            unknown = [f for f in wanted if f.lower() not in FIELDS[resource]]
            if unknown:
                message = f"Unrecognized field in the query: {unknown[0]!r}."
                return self._fail(
                    400, ads_error("queryError", "UNRECOGNIZED_FIELD", message, "query")
                )
            if parsed["field"]:
                value = parsed["value"].strip("'\"").replace("\\'", "'").replace('\\"', '"')
                rows = [row for row in rows if _pick(row, resource, parsed["field"]) == value]
            rows = rows[: int(parsed["limit"])] if parsed["limit"] else rows
            if resource == "offline_user_data_job":
                for row in rows:
                    self._advance(self.jobs[row["resourceName"]])
                rows = [
                    self.jobs[row["resourceName"]].render(self.match_rate_range) for row in rows
                ]
        results = [{RESOURCES[resource]: _select(row, resource, fields)} for row in rows]
        paths = [_camel_path(resource, f) for f in fields]
        payload: dict[str, Any] = {"fieldMask": ",".join(paths)}
        if results:  # proto3 JSON omits an empty repeated field
            payload["results"] = results
        return self._reply(200, payload)

    def _rows(self, resource: str, cid: str) -> list[dict[str, Any]]:
        prefix = f"customers/{cid}/"
        if resource == "user_list":
            items = [ul.render() for ul in self.user_lists.values()]
        else:
            items = [job.render(self.match_rate_range) for job in self.jobs.values()]
        return [item for item in items if item["resourceName"].startswith(prefix)]

    # ---- offline user data jobs -------------------------------------------------------------

    def _create_job(self, request: Request, match: re.Match[str]) -> Reply:
        cid = match["cid"]
        denied = self._denied(request, cid)
        body, bad = (None, denied) if denied else self._body(request)
        if body is None:
            return bad  # type: ignore[return-value]
        job = body.get("job") if isinstance(body.get("job"), dict) else {}
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST":
            message = "The emulator supports only jobs of type CUSTOMER_MATCH_USER_LIST."
            return self._fail(400, ads_error("fieldError", "INVALID_VALUE", message, "job", "type"))
        metadata = job.get("customerMatchUserListMetadata") or {}
        path = ("job", "customer_match_user_list_metadata")
        consent = metadata.get("consent")
        if consent is not None and (
            not isinstance(consent, dict) or not set(consent.values()) <= CONSENT_STATUSES
        ):
            message = f"Consent values must be one of {', '.join(sorted(CONSENT_STATUSES))}."
            return self._fail(
                400, ads_error("requestError", "INVALID_ENUM_VALUE", message, *path, "consent")
            )
        with self.lock:
            user_list = metadata.get("userList")
            if user_list not in self.user_lists or not user_list.startswith(f"customers/{cid}/"):
                message = "The user list ID provided for the job is invalid."
                error = ads_error(
                    "offlineUserDataJobError", "INVALID_USER_LIST_ID", message, *path, "user_list"
                )
                return self._fail(400, error)
            external_id = str(job["externalId"]) if job.get("externalId") is not None else None
            if external_id and any(j.external_id == external_id for j in self.jobs.values()):
                message = "An upload job with this external id already exists."
                error = ads_error(
                    "offlineUserDataJobError",
                    "EXTERNAL_UPDATE_ID_ALREADY_EXISTS",
                    message,
                    "job",
                    "external_id",
                )
                return self._fail(400, error)
            job_id = self._new_id()
            name = f"customers/{cid}/offlineUserDataJobs/{job_id}"
            if not body.get("validateOnly"):
                self.jobs[name] = EmulatedJob(name, job_id, user_list, consent, external_id)
        return self._reply(200, {"resourceName": name})

    def _job(self, name: str) -> EmulatedJob | Reply:
        job = self.jobs.get(name)
        if job is None:
            message = f"Resource {name} was not found."
            return self._fail(404, ads_error("requestError", "RESOURCE_NOT_FOUND", message))
        return job

    def _add_operations(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match["cid"])
        body, bad = (None, denied) if denied else self._body(request)
        if body is None:
            return bad  # type: ignore[return-value]
        operations = body.get("operations") if isinstance(body.get("operations"), list) else []
        partial = bool(body.get("enablePartialFailure"))
        with self.lock:
            job = self._job(match["job"])
            if isinstance(job, Reply):
                return job
            reply, rejected = self._apply_operations(job, operations, partial, body)
            self.received.append(
                AddOperationsCall(
                    job.resource_name,
                    len(operations),
                    tuple(len(_user(op).get("userIdentifiers") or []) for op in operations),
                    tuple(_kind(op) for op in operations),
                    partial,
                    tuple(rejected),
                    reply.status,
                    operations,
                )
            )
        return reply

    def _apply_operations(
        self, job: EmulatedJob, operations: list[Any], partial: bool, body: dict[str, Any]
    ) -> tuple[Reply, list[int]]:
        """Validate the request, accept its good operations into the job; (reply, rejected)."""
        if job.status != "PENDING":
            message = "Once the upload job is started, new operations cannot be added."
            error = ads_error("offlineUserDataJobError", "JOB_ALREADY_STARTED", message)
            return self._fail(400, error), []
        if not operations:
            message = "Operations must be present."
            error = ads_error("requestError", "OPERATION_REQUIRED", message, "operations")
            return self._fail(400, error), []
        total = sum(len(_user(op).get("userIdentifiers") or []) for op in operations)
        if total > MAX_IDENTIFIERS_PER_REQUEST:
            message = (
                f"Maximum number of user identifiers allowed per request is 100,000 and per "
                f"operation is 20; this request has {total}."
            )
            error = ads_error(
                "offlineUserDataJobError", "TOO_MANY_USER_IDENTIFIERS", message, "operations"
            )
            return self._fail(400, error), []
        user_list = self.user_lists[job.user_list]
        kinds = {kind for kind, _ in job.operations}
        errors: list[Error] = []
        accepted: list[tuple[str, frozenset[tuple[str, str]]]] = []
        for index, operation in enumerate(operations):
            kind = _kind(operation)
            problem = _invalid_operation(operation, index, kind, kinds, user_list.upload_key_type)
            if problem:
                errors.append(problem)
                continue
            kinds.add(kind)
            accepted.append((kind, _user_key(_user(operation))))
        rejected = sorted({e["location"]["fieldPathElements"][0]["index"] for e in errors})
        if errors and not partial:
            return self._fail(400, *errors), rejected
        if not body.get("validateOnly"):
            job.operations.extend(accepted)
        if not errors:
            return self._reply(200, {}), rejected
        failure = self.failure(400, "", errors)["error"]["details"]
        message = f"{len(errors)} operation(s) failed: {errors[0]['message']}"
        status = {"code": 3, "message": message, "details": failure}
        return self._reply(200, {"partialFailureError": status}), rejected

    def _run_job(self, request: Request, match: re.Match[str]) -> Reply:
        cid = match["cid"]
        denied = self._denied(request, cid)
        if denied:
            return denied
        with self.lock:
            job = self._job(match["job"])
            if isinstance(job, Reply):
                return job
            if job.status != "PENDING":
                message = "Once the upload job is started, it cannot be run again."
                return self._fail(
                    400, ads_error("offlineUserDataJobError", "JOB_ALREADY_STARTED", message)
                )
            job.status, job.polls = "RUNNING", 0
            job.will_fail = self._failing_jobs.popleft() if self._failing_jobs else None
            job.operation_name = f"customers/{cid}/operations/{secrets.token_hex(12)}"
            self._operations[job.operation_name] = job.resource_name
            operation = self._operation(job)
        return self._reply(200, operation)

    def _poll(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match["cid"])
        if denied:
            return denied
        with self.lock:
            name = self._operations.get(match["name"])
            if name is None:
                message = f"Operation {match['name']} was not found."
                return self._fail(404, ads_error("requestError", "RESOURCE_NOT_FOUND", message))
            job = self.jobs[name]
            self._advance(job)
            operation = self._operation(job)
        return self._reply(200, operation)

    def _operation(self, job: EmulatedJob) -> dict[str, Any]:
        """The job's google.longrunning.Operation in JSON."""
        metadata: dict[str, Any] = {"@type": METADATA_TYPE}
        if job.status in ("RUNNING", "SUCCESS"):
            metadata["matchRateRange"] = self.match_rate_range
        operation = {"name": job.operation_name, "metadata": metadata, "done": False}
        if job.status == "SUCCESS":
            operation["done"] = True
            operation["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        elif job.status == "FAILED":
            operation["done"] = True
            message = f"The offline user data job failed: {job.failure_reason}."
            operation["error"] = {"code": 9, "message": message}
        return operation

    def _advance(self, job: EmulatedJob) -> None:
        """One poll of a running job; at ``polls_to_complete`` it ends SUCCESS or FAILED."""
        if job.status != "RUNNING":
            return
        job.polls += 1
        if job.polls < self.polls_to_complete:
            return
        if job.will_fail:
            job.status, job.failure_reason = "FAILED", job.will_fail
            return
        members = self.user_lists[job.user_list].members
        for kind, user in job.operations:
            if kind == "removeAll":
                members.clear()
            elif kind == "remove":
                members[:] = [m for m in members if not m & user]
            else:
                overlapping = [m for m in members if m & user]
                merged = frozenset(user.union(*overlapping))
                members[:] = [m for m in members if not m & user] + [merged]
        job.status = "SUCCESS"


def _kind(operation: Any) -> str:
    if not isinstance(operation, dict):
        return "invalid"
    if operation.get("removeAll") is True:
        return "removeAll"
    return next((k for k in ("create", "remove") if k in operation), "invalid")


def _user(operation: Any) -> dict[str, Any]:
    kind = _kind(operation)
    data = operation.get(kind) if kind in ("create", "remove") else None
    return data if isinstance(data, dict) else {}


def _user_key(user: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """A user's identifiers as (kind, value) pairs; an address is 'fn:ln:country:postal'."""
    pairs = []
    for identifier in user.get("userIdentifiers") or []:
        kind = next(k for k in IDENTIFIER_KINDS if k in identifier)
        value = identifier[kind]
        if kind == "addressInfo":
            value = ":".join(
                str(value.get(k, ""))
                for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode")
            )
        pairs.append((kind, value))
    return frozenset(pairs)


def _invalid_operation(
    operation: Any, index: int, kind: str, kinds: set[str], upload_key_type: str
) -> Error | None:
    """The first problem of one operation (with its field path), or None."""
    at = ("operations", index)
    job_error = "offlineUserDataJobError"
    if kind == "invalid":
        message = "An operation must set exactly one of create, remove or removeAll (true)."
        return ads_error("requestError", "OPERATION_REQUIRED", message, at)
    if kind == "removeAll":
        if index != 0:
            message = "When a remove-all operation is provided, it has to be the first operation."
            return ads_error(job_error, "INVALID_OPERATION_ORDER", message, at, "remove_all")
        return None
    opposite = "remove" if kind == "create" else "create"
    if opposite in kinds:
        message = "Mixing creation and removal of offline data in the same job is not allowed."
        return ads_error(job_error, "CONFLICTING_OPERATION", message, at, kind)
    identifiers = _user(operation).get("userIdentifiers") or []
    if not identifiers:
        message = "The user identifier is missing valid data."
        return ads_error(job_error, "MISSING_USER_IDENTIFIER", message, at, kind)
    if len(identifiers) > MAX_IDENTIFIERS_PER_USER:
        message = (
            f"Maximum number of user identifiers allowed per operation is 20; "
            f"this one has {len(identifiers)}."
        )
        return ads_error(
            job_error, "TOO_MANY_USER_IDENTIFIERS", message, at, kind, "user_identifiers"
        )
    for position, identifier in enumerate(identifiers):
        where = (at, kind, ("user_identifiers", position))
        problem = _invalid_identifier(identifier, where, upload_key_type)
        if problem:
            return problem
    return None


def _invalid_identifier(
    identifier: Any, where: tuple[Any, ...], upload_key_type: str
) -> Error | None:
    job_error = "offlineUserDataJobError"
    present = [k for k in IDENTIFIER_KINDS if isinstance(identifier, dict) and k in identifier]
    if len(present) != 1:
        message = "Exactly one identifier must be set in each UserIdentifier."
        return ads_error(job_error, "MISSING_USER_IDENTIFIER", message, *where)
    kind = present[0]
    value = identifier[kind]
    field_name = re.sub(r"(?<!^)([A-Z])", r"_\1", kind).lower()
    if kind not in UPLOAD_KEYS[upload_key_type]:
        message = f"{kind} is not compatible with a {upload_key_type} user list."
        return ads_error(job_error, "INCOMPATIBLE_UPLOAD_KEY_TYPE", message, *where, field_name)
    if kind in ("hashedEmail", "hashedPhoneNumber"):
        if not isinstance(value, str) or not SHA256.fullmatch(value):
            message = "The SHA256 encoded value is malformed (64 lowercase hex digits)."
            return ads_error(job_error, "INVALID_SHA256_FORMAT", message, *where, field_name)
    elif kind == "mobileId":
        if not isinstance(value, str) or not MOBILE_ID.fullmatch(value):
            message = "The mobile ID is malformed."
            return ads_error(job_error, "INVALID_MOBILE_ID_FORMAT", message, *where, field_name)
    elif kind == "thirdPartyUserId":
        if not isinstance(value, str) or not value:
            message = "The user identifier is missing valid data."
            return ads_error(job_error, "MISSING_USER_IDENTIFIER", message, *where, field_name)
    else:
        return _invalid_address(value, (*where, "address_info"))
    return None


def _invalid_address(address: Any, where: tuple[Any, ...]) -> Error | None:
    """Names hashed, country and postal code in clear, all four present."""
    job_error = "offlineUserDataJobError"
    address = address if isinstance(address, dict) else {}
    for key, name in (
        ("hashedFirstName", "hashed_first_name"),
        ("hashedLastName", "hashed_last_name"),
    ):
        if not SHA256.fullmatch(str(address.get(key, ""))):
            message = f"The SHA256 encoded value of {key} is malformed (64 lowercase hex digits)."
            return ads_error(job_error, "INVALID_SHA256_FORMAT", message, *where, name)
    if not re.fullmatch(r"[A-Za-z]{2}", str(address.get("countryCode", ""))):
        message = "The country code is invalid (ISO-3166-1 alpha-2, not hashed)."
        return ads_error(job_error, "INVALID_COUNTRY_CODE", message, *where, "country_code")
    postal = str(address.get("postalCode", ""))
    if not postal:
        message = "The postal code is required with an address."
        return ads_error(job_error, "MISSING_USER_IDENTIFIER", message, *where, "postal_code")
    if SHA256.fullmatch(postal.lower()):
        message = "The data in user identifier should not be encoded: send the postal code clear."
        return ads_error(job_error, "INVALID_ENCODING", message, *where, "postal_code")
    return None


# ---- GAQL field paths ---------------------------------------------------------------------


def _camel_path(resource: str, gaql_field: str) -> str:
    parts = gaql_field.lower().split(".")
    return ".".join([RESOURCES[resource], *(_camel(p) for p in parts[1:])])


def _pick(row: dict[str, Any], resource: str, gaql_field: str) -> Any:
    value: Any = row
    for part in _camel_path(resource, gaql_field).split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _select(row: dict[str, Any], resource: str, fields: list[str]) -> dict[str, Any]:
    """The row with only the selected fields (and its resource name), None values left out."""
    selected: dict[str, Any] = {"resourceName": row["resourceName"]}
    for gaql_field in fields:
        value = _pick(row, resource, gaql_field)
        if value is None:
            continue
        parts = _camel_path(resource, gaql_field).split(".")[1:]
        target = selected
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return selected
