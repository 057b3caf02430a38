"""Amazon Ads advertiser audiences emulator: audience metadata, record uploads and their jobs.

Follows Amazon Ads' "Advertiser audiences" guide (the AMC audiences API; no OpenAPI file of it
is vendored in shared/specs, so the guide's text is the model): media type
``application/vnd.amcaudiences.v1+json``; ``POST /amc/audiences/metadata`` (name, description,
``targetResource`` with a numeric ``advertiserId`` or a ``connectionId``, ``countryCode``,
``metadata.externalAudienceId``/``ttl`` 0..34,300,800) -> 201 ``{audienceId, externalAudienceId}``;
``GET /amc/audiences/metadata/{audienceId}``; ``POST /amc/audiences/records`` -> 202
``{jobRequestId}``; ``GET /amc/audiences/records/{jobRequestId}`` PENDING -> SUCCEEDED |
FAILED. Limits from the guide: 6,000 records a request, 100 hashed PII values per member, the
21 supported country codes; a connection upload needs the AMC Terms accepted (403 otherwise).
Errors are ``{"code", "message"}``. Tokens are checked against the LWA emulator's authority.

The status body is not published beyond its prose ("the number of records processed ... the
error reason along with the audienceId and externalId"): this emulator answers
``recordsReceived``, ``recordsProcessed``, ``recordsFailed`` and ``errors`` [{audienceId,
externalUserId, reason}]. A record whose hashed values are not SHA-256 hex is refused in the job.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TokenAuthority, bearer
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

MEDIA_TYPE = "application/vnd.amcaudiences.v1+json"
MAX_RECORDS = 6_000
MAX_PII_VALUES = 100
MAX_TTL = 34_300_800
PII_KEYS = frozenset(
    {"email", "phone", "firstname", "lastname", "address", "city", "state", "postal"}
)
COUNTRIES = frozenset(
    {
        "AE",
        "AU",
        "BE",
        "BR",
        "CA",
        "DE",
        "EG",
        "ES",
        "FR",
        "GB",
        "IN",
        "IT",
        "JP",
        "MX",
        "NL",
        "PL",
        "SA",
        "SE",
        "SG",
        "TR",
        "US",
    }
)
TEST_ADVERTISER_ID = 5_928_310_442_017
TEST_CONNECTION_ID = "5a523424-e8b3-4da5-9a32-24a861aea576"
_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class EmulatedAudience:
    """An audience and its members: externalUserId -> (countryCode, hashed PII)."""

    audience_id: int
    body: dict[str, Any]
    members: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class UploadJob:
    """One accepted records request and how far its processing got."""

    job_id: str
    audience_id: int
    received: int
    errors: list[dict[str, Any]]
    polls: int = 0
    status: str = "PENDING"
    failure: str | None = None


@dataclass(frozen=True)
class ReceivedBatch:
    """What one accepted records request carried, for assertions."""

    audience_id: int
    actions: dict[str, int]
    size: int
    target: dict[str, Any] | None


class AmazonAudiencesEmulator(EmulatorServer):
    """Advertiser audiences on loopback, trusting tokens of the LWA emulator's ``authority``.

    Knobs: ``advertisers`` and ``connections`` (known target ids), ``terms_accepted`` (AMC
    Terms of the connections' user), ``polls_to_complete`` (status GETs a job stays PENDING,
    default 2), ``fail_next_job(reason)``, the base's ``fail_next`` (e.g. 429 + Retry-After).
    Logs: ``received`` (one :class:`ReceivedBatch` per accepted request), ``calls``.
    """

    name = "amazon-audiences"

    def __init__(self, authority: TokenAuthority) -> None:
        super().__init__(clock=authority.clock)
        self.authority = authority
        self.client_ids = {TEST_CLIENT_ID}
        self.advertisers = {TEST_ADVERTISER_ID}
        self.connections = {TEST_CONNECTION_ID}
        self.terms_accepted = True
        self.polls_to_complete = 2
        self.audiences: dict[int, EmulatedAudience] = {}
        self.jobs: dict[str, UploadJob] = {}
        self.received: list[ReceivedBatch] = []
        self.calls: Counter[str] = Counter()
        self._failing_jobs: list[str] = []
        self._ids = itertools.count(413_642_381_039_213_536)
        self.route("POST", r"/amc/audiences/metadata", self._create)
        self.route("GET", r"/amc/audiences/metadata/(?P<id>[^/]+)", self._read)
        self.route("POST", r"/amc/audiences/records", self._records)
        self.route("GET", r"/amc/audiences/records/(?P<id>[^/]+)", self._status)

    def error_body(self, status: int, message: str) -> Any:
        """The audiences API's error shape."""
        return {"code": str(status), "message": message}

    def fail_next_job(self, reason: str = "Internal processing error. Please retry.") -> None:
        """The next accepted records request ends FAILED with ``reason`` and changes nothing."""
        with self.lock:
            self._failing_jobs.append(reason)

    def members(self, audience_id: int | str) -> dict[str, tuple[str, dict[str, str]]]:
        """The members an audience holds now."""
        with self.lock:
            return dict(self.audiences[int(audience_id)].members)

    def values(self, audience_id: int | str, key: str) -> set[str]:
        """Every ``key`` hash (e.g. ``email``) the audience's members hold."""
        return {pii[key] for _, pii in self.members(audience_id).values() if key in pii}

    def _denied(self, request: Request, operation: str) -> Reply | None:
        self.calls[operation] += 1
        client_id = request.headers.get("Amazon-Advertising-API-ClientId")
        if not client_id or client_id not in self.client_ids:
            return self.error(401, "Invalid or missing Amazon-Advertising-API-ClientId header")
        problem = self.authority.problem(bearer(request), client_id)
        if problem:
            return self.error(401, f"Unauthorized: access token {problem}")
        return None

    def _body(self, request: Request) -> tuple[dict[str, Any] | None, Reply | None]:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != MEDIA_TYPE:
            return None, self.error(415, f"Unsupported content type {content_type or '(none)'}")
        try:
            body = request.json()
        except ValueError:
            return None, self.error(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return None, self.error(400, "Request body must be a JSON object")
        return body, None

    def _target_problem(self, target: Any) -> tuple[int, str] | None:
        if not isinstance(target, dict) or not (
            "advertiserId" in target or "connectionId" in target
        ):
            return 400, "targetResource needs connectionId or advertiserId"
        if "advertiserId" in target:
            advertiser = target["advertiserId"]
            if not isinstance(advertiser, int) or isinstance(advertiser, bool):
                return 400, "targetResource.advertiserId must be a number"
            if advertiser not in self.advertisers:
                return 403, f"Not authorized for advertiser {advertiser}"
        if "connectionId" in target:
            if target["connectionId"] not in self.connections:
                return 404, f"connectionId {target['connectionId']} not found"
            if not self.terms_accepted:
                return 403, "AMC Terms have not been accepted for this connection"
        return None

    def _create(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "createAudience")
        if denied is not None:
            return denied
        body, refused = self._body(request)
        if refused is not None or body is None:
            return refused or self.error(400, "empty body")
        if not body.get("name"):
            return self.error(400, "name is required")
        problem = self._target_problem(body.get("targetResource"))
        if problem:
            return self.error(*problem)
        country = body.get("countryCode")
        if country is not None and country not in COUNTRIES:
            return self.error(400, f"Unsupported countryCode {country}")
        metadata = body.get("metadata") or {}
        ttl = metadata.get("ttl")
        if ttl is not None and not (isinstance(ttl, int) and 0 <= ttl <= MAX_TTL):
            return self.error(400, f"metadata.ttl must be between 0 and {MAX_TTL}")
        with self.lock:
            audience_id = next(self._ids)
            self.audiences[audience_id] = EmulatedAudience(audience_id, body)
        answer = {
            "audienceId": audience_id,
            "externalAudienceId": metadata.get("externalAudienceId"),
        }
        return json_reply(201, answer, content_type=MEDIA_TYPE)

    def _read(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "getAudience")
        if denied is not None:
            return denied
        with self.lock:
            audience = self.audiences.get(int(match["id"])) if match["id"].isdigit() else None
            if audience is None:
                return self.error(404, "audienceId not found")
            body = audience.body
            size = len(audience.members)
        described = {
            "audienceId": audience.audience_id,
            "name": body["name"],
            "description": body.get("description", ""),
            "countryCode": body.get("countryCode"),
            "metadata": {
                **(body.get("metadata") or {}),
                "audienceSize": {"receivedRecordSize": size},
            },
        }
        return json_reply(200, described, content_type=MEDIA_TYPE)

    def _records(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "manageAudience")
        if denied is not None:
            return denied
        body, refused = self._body(request)
        if refused is not None or body is None:
            return refused or self.error(400, "empty body")
        audience_id = body.get("audienceId")
        if not isinstance(audience_id, int) or isinstance(audience_id, bool):
            return self.error(400, "audienceId must be a number")
        target = body.get("targetResource")
        if target is not None:
            problem = self._target_problem(target)
            if problem:
                return self.error(*problem)
        records = body.get("records")
        if not isinstance(records, list) or not records:
            return self.error(400, "records must be a non-empty list")
        if len(records) > MAX_RECORDS:
            return self.error(400, f"Too many records: {len(records)} (at most {MAX_RECORDS})")
        problem = next((p for p in map(_record_problem, records) if p), None)
        if problem:
            return self.error(400, problem)
        with self.lock:
            audience = self.audiences.get(audience_id)
            if audience is None:
                return self.error(404, f"audienceId {audience_id} not found")
            failure = self._failing_jobs.pop(0) if self._failing_jobs else None
            errors = [] if failure else self._apply(audience, records)
            job = UploadJob(str(uuid.uuid4()), audience_id, len(records), errors, failure=failure)
            self.jobs[job.job_id] = job
            if failure is None:
                actions = Counter(str(r["action"]) for r in records)
                self.received.append(
                    ReceivedBatch(audience_id, dict(actions), len(records), target)
                )
        return json_reply(202, {"jobRequestId": job.job_id}, content_type=MEDIA_TYPE)

    def _apply(self, audience: EmulatedAudience, records: list[dict[str, Any]]) -> list[dict]:
        errors = []
        for record in records:
            external = str(record["externalUserId"])
            values = [v for pii in record["hashedPII"] for v in pii.values()]
            bad = next((v for v in values if not _HEX.match(str(v))), None)
            if bad is not None:
                reason = "hashedPII values must be SHA-256 hashed (64 lower-case hex characters)"
                errors.append(
                    {
                        "audienceId": audience.audience_id,
                        "externalUserId": external,
                        "reason": reason,
                    }
                )
                continue
            if record["action"] == "DELETE":
                audience.members.pop(external, None)
            else:
                merged = {k: v for pii in record["hashedPII"] for k, v in pii.items()}
                audience.members[external] = (str(record.get("countryCode") or "UNKNOWN"), merged)
        return errors

    def _status(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, "getUploadStatus")
        if denied is not None:
            return denied
        with self.lock:
            job = self.jobs.get(match["id"])
            if job is None:
                return self.error(404, f"jobRequestId {match['id']} not found")
            job.polls += 1
            if job.status == "PENDING" and job.polls >= self.polls_to_complete:
                job.status = "FAILED" if job.failure else "SUCCEEDED"
            answer: dict[str, Any] = {
                "jobRequestId": job.job_id,
                "audienceId": job.audience_id,
                "status": job.status,
                "recordsReceived": job.received,
            }
            if job.status == "SUCCEEDED":
                answer["recordsProcessed"] = job.received - len(job.errors)
                answer["recordsFailed"] = len(job.errors)
                answer["errors"] = job.errors[:100]
            if job.status == "FAILED":
                answer["failureReason"] = job.failure
        return json_reply(200, answer, content_type=MEDIA_TYPE)


def _record_problem(record: Any) -> str | None:
    """Why Amazon refuses a record outright (400), or None."""
    if not isinstance(record, dict):
        return "each record must be an object"
    if not record.get("externalUserId"):
        return "externalUserId is required"
    if record.get("action") not in ("CREATE", "DELETE"):
        return f"action must be CREATE or DELETE, not {record.get('action')!r}"
    country = record.get("countryCode")
    if country is not None and country not in COUNTRIES:
        return f"Unsupported countryCode {country}"
    pii = record.get("hashedPII")
    if not isinstance(pii, list) or not pii or not all(isinstance(p, dict) for p in pii):
        return "hashedPII must be a non-empty list of objects"
    values = [(k, v) for item in pii for k, v in item.items()]
    if len(values) > MAX_PII_VALUES:
        return f"at most {MAX_PII_VALUES} hashed PII values per member, got {len(values)}"
    unknown = sorted({k for k, _ in values} - PII_KEYS)
    if unknown:
        return f"unknown hashedPII keys: {', '.join(unknown)}"
    return None
