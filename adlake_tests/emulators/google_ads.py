"""Google Ads API v25 Customer Match emulator, the REST (proto3 JSON) form of the official protos.

Follows shared/specs/google-ads/protos (services/offline_user_data_job_service.proto,
user_list_service.proto, google_ads_service.proto, googleads_v25.yaml for the operations route)
and section 2.7 of the specs README: a CRM-based user list is created through
``userLists:mutate``, filled by an OfflineUserDataJob (create -> addOperations -> run), and the
job's long-running operation goes PENDING -> RUNNING -> SUCCESS | FAILED as it is polled. The
list's membership changes only when a job succeeds, so tests assert exactly what it holds.
Errors carry a GoogleAdsFailure whose enum names come from the errors protos
(google_ads_errors.py); requests are validated by google_ads_checks.py and GAQL searches parsed
by google_ads_query.py. This module holds the server, its routes, state and knobs.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from typing import Any

from adlake_tests.emulators.google_ads_checks import (
    identifier_count,
    invalid_add_request,
    invalid_credentials,
    invalid_job,
    invalid_operation,
    invalid_user_list,
    operation_kind,
    operation_user,
    user_key,
)
from adlake_tests.emulators.google_ads_errors import (
    Error,
    ads_error,
    errors_failure,
    fault_failure,
    partial_failure,
    quota_failure,
    request_id,
)
from adlake_tests.emulators.google_ads_query import (
    RESOURCES,
    Query,
    field_mask,
    parse_query,
    select_fields,
)
from adlake_tests.emulators.google_ads_resources import (
    AddOperationsCall,
    EmulatedJob,
    EmulatedUserList,
    apply_operations,
)
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

TEST_ACCESS_TOKEN = "ya29.adlake-test-oauth-access-token"
TEST_DEVELOPER_TOKEN = "adlake-test-developer-token"
TEST_CUSTOMER_ID = "1234567890"
TEST_CLIENT_ID = "adlake-test.apps.googleusercontent.com"
TEST_CLIENT_SECRET = "adlake-test-client-secret"
TEST_REFRESH_TOKEN = "1//adlake-test-refresh-token"

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
        self.route("POST", r"/token", self._token)

    # ---- knobs and assertions -------------------------------------------------------------

    def fail_next_job(self, reason: str = "UNKNOWN") -> None:
        """Make the next job that is run end FAILED with ``reason`` (an enum name)."""
        if reason not in FAILURE_REASONS:
            raise ValueError(f"{reason!r} is not an OfflineUserDataJobFailureReason")
        with self.lock:
            self._failing_jobs.append(reason)

    def exhaust_quota_next(self, count: int = 1, retry_delay: int = 30) -> None:
        """Answer the next ``count`` API calls 429 RESOURCE_EXHAUSTED, retry delay in details."""
        self.fail_next(429, count, body=quota_failure(retry_delay), path=r"^/v25/")

    def members(self, user_list: str) -> set[frozenset[tuple[str, str]]]:
        """The users a list holds, each a frozenset of (identifier kind, value)."""
        with self.lock:
            return set(self.user_lists[user_list].members)

    def identifiers(self, user_list: str, kind: str = "hashedEmail") -> set[str]:
        """Every identifier of one kind the list holds (addressInfo: 'fn:ln:country:postal')."""
        return {value for user in self.members(user_list) for k, value in user if k == kind}

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint (Google's ``https://oauth2.googleapis.com/token``)."""
        return f"{self.base_url}/token"

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        """OAuth2 refresh-token grant of the test client: the test access token, 3599 s."""
        form = request.form()
        known = (
            form.get("grant_type") == "refresh_token"
            and form.get("client_id") == TEST_CLIENT_ID
            and form.get("client_secret") == TEST_CLIENT_SECRET
            and form.get("refresh_token") == TEST_REFRESH_TOKEN
        )
        if not known:
            body = {"error": "invalid_grant", "error_description": "Bad Request"}
            return json_reply(400, body)
        token = {"access_token": TEST_ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        return json_reply(200, token)

    # ---- error shape ------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """Google's shape for injected faults and unknown routes."""
        return fault_failure(status, message)

    def _fail(self, status: int, *errors: Error) -> Reply:
        return self._reply(status, errors_failure(status, errors))

    def _reply(self, status: int, payload: Any) -> Reply:
        return json_reply(status, payload, headers={"request-id": request_id()})

    def _denied(self, request: Request, customer_id: str) -> Reply | None:
        """Google's checks in order: OAuth token, developer token, login-customer-id, access."""
        denial = invalid_credentials(
            request, customer_id, self.access_tokens, self.developer_tokens, self.customer_ids
        )
        return self._fail(*denial) if denial else None

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
                problem = invalid_user_list(operation, index, names)
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

    def _search(self, request: Request, match: re.Match[str]) -> Reply:
        cid = match["cid"]
        denied = self._denied(request, cid)
        body, bad = (None, denied) if denied else self._body(request)
        if body is None:
            return bad  # type: ignore[return-value]
        query = parse_query(str(body.get("query", "")))
        if not isinstance(query, Query):
            return self._fail(400, query)
        resource = query.resource
        with self.lock:
            rows = query.filter(self._rows(resource, cid))
            if resource == "offline_user_data_job":
                for row in rows:
                    self._advance(self.jobs[row["resourceName"]])
                rows = [
                    self.jobs[row["resourceName"]].render(self.match_rate_range) for row in rows
                ]
        results = [
            {RESOURCES[resource]: select_fields(row, resource, query.fields)} for row in rows
        ]
        payload: dict[str, Any] = {"fieldMask": field_mask(query)}
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
        problem = invalid_job(job)
        if problem:
            return self._fail(400, problem)
        metadata = job.get("customerMatchUserListMetadata") or {}
        path = ("job", "customer_match_user_list_metadata")
        consent = metadata.get("consent")
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
                    tuple(identifier_count(op) for op in operations),
                    tuple(operation_kind(op) for op in operations),
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
        problem = invalid_add_request(job.status, operations)
        if problem:
            return self._fail(400, problem), []
        user_list = self.user_lists[job.user_list]
        kinds = {kind for kind, _ in job.operations}
        errors: list[Error] = []
        accepted: list[tuple[str, frozenset[tuple[str, str]]]] = []
        for index, operation in enumerate(operations):
            kind = operation_kind(operation)
            problem = invalid_operation(operation, index, kind, kinds, user_list.upload_key_type)
            if problem:
                errors.append(problem)
                continue
            kinds.add(kind)
            accepted.append((kind, user_key(operation_user(operation))))
        rejected = sorted({e["location"]["fieldPathElements"][0]["index"] for e in errors})
        if errors and not partial:
            return self._fail(400, *errors), rejected
        if not body.get("validateOnly"):
            job.operations.extend(accepted)
        if not errors:
            return self._reply(200, {}), rejected
        return self._reply(200, {"partialFailureError": partial_failure(errors)}), rejected

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
            operation = job.operation(self.match_rate_range)
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
            operation = job.operation(self.match_rate_range)
        return self._reply(200, operation)

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
        apply_operations(self.user_lists[job.user_list].members, job.operations)
        job.status = "SUCCESS"
