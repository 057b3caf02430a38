"""Amazon Ads advertiser audiences: create the audience, stream member adds/removes, poll the jobs.

Per Amazon Ads' "Advertiser audiences" guide (AMC audiences API, media type
``application/vnd.amcaudiences.v1+json``): ``POST /amc/audiences/metadata`` creates an audience
for a DSP advertiser or an AMC connection and answers its numeric ``audienceId``;
``POST /amc/audiences/records`` takes records ``{externalUserId, countryCode, action:
CREATE|DELETE, hashedPII: [{email, phone, firstname, lastname, postal, ...}]}`` (guidance: 6,000
a request) and answers a ``jobRequestId``; ``GET /amc/audiences/records/{jobRequestId}`` is
PENDING until SUCCEEDED, PARTIALLYSUCCEEDED (one target account failed) or FAILED, with the
records processed and the refused ones. The guide names those fields but publishes no schema of
the status body, so counts are read from the keys it names and missing ones count as zero.

Every PII value is SHA-256 of Amazon's normalization (the normalizers of Amazon's own "AMC
Uploader from AWS"): e-mail lower case; phone E.164 digits without '+' (the segment's
``phone_digits``, as for Meta); names lower case a-z/0-9 with umlauts folded; postal code hashed.
The country goes clear in ``countryCode``; a MAID or external id is not an Amazon match key and
is skipped and counted. ``externalUserId`` is the member's fingerprint, so a removal names the
same record its addition did and no clear id leaves the lake. Amazon has no lookup by name: the
export runner hands back the id it delivered to last time (``AudienceSpec.known_id``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from adlake.config.segments import AMAZON_AUDIENCE_COUNTRIES, AmazonAudienceDestinationConfig
from adlake.connectors.amazon_ads.client import ADS_HOSTS
from adlake.connectors.http import ApiSession, poll, server_message
from adlake.connectors.lwa import LWA_TOKEN_URLS, LwaCredentials, LwaTokens
from adlake.destinations import matching
from adlake.destinations.base import (
    AudienceSpec,
    BatchInfo,
    BatchResult,
    DestinationError,
    FinishResult,
    Member,
    State,
)

API = "Amazon Ads audiences API"
MEDIA_TYPE = "application/vnd.amcaudiences.v1+json"
FINAL = ("SUCCEEDED", "PARTIALLYSUCCEEDED", "FAILED")
_ACTIONS = {"add": "CREATE", "remove": "DELETE"}
_NOT_MATCHED = ("maid", "external_id")


def _hashed_email(value: str | None) -> str | None:
    return matching.hashed(value, matching.amazon_email)


def _hashed_name(value: str | None) -> str | None:
    return matching.hashed(value, matching.amazon_name)


def amazon_record(
    member: Member, action: str, default_country: str, skipped: dict[str, int]
) -> dict[str, Any] | None:
    """The record Amazon receives for ``member``; None when it has no key Amazon matches on."""
    pii = {
        "email": _hashed_email(member.get("email")),
        "phone": matching.hashed(matching.digits_phone(member, skipped), matching.phone_digits),
        "firstname": _hashed_name(member.get("first_name")),
        "lastname": _hashed_name(member.get("last_name")),
        "postal": matching.hashed(member.get("zip"), matching.zip_code),
    }
    for field in _NOT_MATCHED:
        if member.get(field):
            skipped[field] = skipped.get(field, 0) + 1
    present = {key: value for key, value in pii.items() if value}
    if not present:
        return None
    country = (matching.country(member.get("country") or "") or "").upper()
    return {
        "externalUserId": member["member"],
        "countryCode": country if country in AMAZON_AUDIENCE_COUNTRIES else default_country,
        "action": action,
        "hashedPII": [present],
    }


class AmazonAudienceDestination:
    """Advertiser audiences of one Amazon DSP advertiser or AMC connection."""

    platform = "amazon_ads"
    batch_size = 6_000
    # Amazon DSP serves an advertiser audience from 2,000 active members
    min_members = 2_000
    supports_replace = False

    def __init__(
        self,
        config: AmazonAudienceDestinationConfig,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._secret = secret
        self._sleep = sleep
        self._base = (config.endpoint or ADS_HOSTS[config.region]).rstrip("/")
        self._tokens: LwaTokens | None = None
        self._client_id: str | None = None
        self._api = ApiSession(API, auth=self._auth, on_unauthorized=self._forget, sleep=sleep)

    def prepare(self, audience: AudienceSpec, state: State) -> str:
        """The audience delivered to last time (``known_id``) if Amazon has it, else a new one."""
        if "audience_id" not in state:
            found = audience.known_id and self._exists(audience.known_id)
            state["audience_id"] = audience.known_id if found else self._create(audience)
        return state["audience_id"]

    def send(self, members: Sequence[Member], info: BatchInfo, state: State) -> BatchResult:
        """Post one batch (≤6,000 records) of CREATE or DELETE records; its job is polled later."""
        if info.op not in _ACTIONS:
            raise DestinationError("Amazon audiences take adds and removes only, not a replace")
        skipped: dict[str, int] = {}
        records, rejections = [], []
        for position, member in enumerate(members):
            record = amazon_record(member, _ACTIONS[info.op], self.config.country_code, skipped)
            if record is None:
                rejections.append((position, "no identifier Amazon matches on"))
            else:
                records.append(record)
        if records:
            body: dict[str, Any] = {"audienceId": int(state["audience_id"]), "records": records}
            if self.config.connection_id:
                body["targetResource"] = {"connectionId": self.config.connection_id}
            answer = self._call("POST", "/amc/audiences/records", f"{info.op} records", body)
            state.setdefault("jobs", []).append(str(answer["jobRequestId"]))
        return BatchResult(
            sent=len(records),
            rejected=len(rejections),
            rejections=rejections[:20],
            skipped_fields=skipped,
        )

    def finish(self, state: State) -> FinishResult:
        """Wait for every upload job; a FAILED one fails the export (the next run re-sends)."""
        totals = state.setdefault("job_totals", {"processed": 0, "failed": 0, "partial": 0})
        while state.get("jobs"):
            job_id = state["jobs"][0]
            job = poll(
                lambda job_id=job_id: self._call(
                    "GET", f"/amc/audiences/records/{job_id}", "upload status"
                ),
                lambda current: current.get("status") in FINAL,
                api=API,
                operation=f"upload job {job_id}",
                interval=5.0,
                sleep=self._sleep,
            )
            if job["status"] == "FAILED":
                state["jobs"].clear()
                raise DestinationError(
                    f"Amazon audience {state['audience_id']}: upload job {job_id} FAILED: "
                    f"{_reason(job)}. The next run sends the delivery again",
                    restart=True,
                )
            totals["processed"] += _count(job, "recordsProcessed", "processedRecords")
            totals["failed"] += _count(job, "recordsFailed", "failedRecords") or len(
                job.get("errors") or []
            )
            totals["partial"] += job["status"] == "PARTIALLYSUCCEEDED"
            state["jobs"].pop(0)
        details = {"records_processed": totals["processed"]}
        if totals["partial"]:
            details["partially_succeeded_jobs"] = totals["partial"]
        return FinishResult(
            audience_id=state["audience_id"], rejected=totals["failed"], details=details
        )

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._api.close()

    def _create(self, audience: AudienceSpec) -> str:
        config = self.config
        target: dict[str, Any] = (
            {"connectionId": config.connection_id}
            if config.connection_id
            else {"advertiserId": int(config.advertiser_id or 0)}
        )
        metadata: dict[str, Any] = {"externalAudienceId": audience.name}
        if config.membership_days is not None:
            metadata["ttl"] = config.membership_days * 86_400
        body = {
            "name": audience.name,
            "description": audience.description,
            "targetResource": target,
            "countryCode": config.country_code,
            "metadata": metadata,
        }
        created = self._call("POST", "/amc/audiences/metadata", "create audience", body)
        return str(created["audienceId"])

    def _exists(self, audience_id: str) -> bool:
        response = self._api.request(
            "GET",
            f"{self._base}/amc/audiences/metadata/{audience_id}",
            operation="read audience",
            passthrough=(404,),
            headers={"Accept": MEDIA_TYPE},
        )
        return response.status_code == 200

    def _call(self, method: str, path: str, operation: str, body: Any = None) -> dict[str, Any]:
        response = self._api.request(
            method,
            f"{self._base}{path}",
            operation=operation,
            ok=(200, 201, 202),
            passthrough=(400, 403, 404),
            headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE},
            json=body,
        )
        if response.status_code >= 400:
            raise self._refused(operation, response)
        return response.json()

    def _refused(self, operation: str, response: requests.Response) -> DestinationError:
        message = server_message(response)
        if response.status_code == 403 and self.config.connection_id:
            return DestinationError(
                f"Amazon {operation} refused (403): {message}. Fix: the user who granted the "
                "refresh token must accept the AMC Terms (GET, then PATCH "
                "/amc/audiences/connections/terms), and the connection must be theirs"
            )
        return DestinationError(f"Amazon {operation} refused ({response.status_code}): {message}")

    def _auth(self) -> dict[str, str]:
        if self._tokens is None:
            names = self.config.credentials
            credentials = LwaCredentials(
                self._secret(names.client_id),
                self._secret(names.client_secret),
                self._secret(names.refresh_token),
            )
            token_url = self.config.token_url or LWA_TOKEN_URLS[self.config.region]
            self._tokens = LwaTokens(token_url, credentials, sleep=self._sleep)
            self._client_id = credentials.client_id
        return {
            "Authorization": f"Bearer {self._tokens.access_token()}",
            "Amazon-Advertising-API-ClientId": self._client_id or "",
        }

    def _forget(self) -> None:
        if self._tokens is not None:
            self._tokens.invalidate()


def _count(job: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = job.get(key)
        if isinstance(value, int):
            return value
    return 0


def _reason(job: dict[str, Any]) -> str:
    reason = job.get("failureReason") or job.get("statusReason") or job.get("message")
    return str(reason or "no reason given")
