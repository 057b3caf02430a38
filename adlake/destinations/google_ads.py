"""Google Ads Customer Match: a CRM-based user list filled through an OfflineUserDataJob.

Per shared/specs/README.md section 2.7 (REST form of the v25 protos): find or create the user
list (CONTACT_INFO), create one job per delivery, addOperations in calls of at most 10,000 users
(≤100,000 identifiers, ≤20 per user) with partial failure on, then run the job once and poll it
to SUCCESS or FAILED. A replace starts with ``removeAll``. The job name, the acknowledged calls
and the run's operation are kept in the export state, so a resumed delivery adds to the same
PENDING job and polls instead of running it again. OAuth2 refresh-token credentials and the
developer token are read by secret name; 429 RESOURCE_EXHAUSTED is retried by ApiSession.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from adlake.config.segments import GoogleAdsDestinationConfig
from adlake.connectors.http import ApiSession, poll
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

_OPS = {"add": "create", "remove": "remove", "replace": "create"}
_CONTACT_ONLY = ("maid", "external_id", "phone_digits")


def user_identifiers(member: Member, skipped: dict[str, int]) -> list[dict[str, Any]]:
    """A member's userIdentifiers by Google's rules; unusable fields are counted in ``skipped``."""
    found: list[dict[str, Any]] = []
    email = matching.hashed(member.get("email"), matching.email)
    if email:
        found.append({"hashedEmail": email})
    phone = matching.hashed(member.get("phone"), matching.phone_e164)
    if phone:
        found.append({"hashedPhoneNumber": phone})
    first = matching.hashed(member.get("first_name"), matching.first_name)
    last = matching.hashed(member.get("last_name"), matching.last_name)
    country = matching.country(member.get("country") or "")
    postal = member.get("zip")
    if postal and matching.is_sha256(postal.strip()):
        skipped["zip"] = skipped.get("zip", 0) + 1  # Google takes the postal code in clear
        postal = None
    if first and last and country and postal:
        address = {
            "hashedFirstName": first,
            "hashedLastName": last,
            "countryCode": country.upper(),
            "postalCode": matching.zip_code(postal) or postal.strip(),
        }
        found.append({"addressInfo": address})
    for field in _CONTACT_ONLY:
        if member.get(field) and not (field == "phone_digits" and phone):
            skipped[field] = skipped.get(field, 0) + 1
    return found[:20]


class GoogleAdsDestination:
    """Customer Match lists of one Google Ads customer."""

    platform = "google_ads"
    batch_size = 10_000
    min_members = 1_000
    supports_replace = True

    def __init__(
        self,
        config: GoogleAdsDestinationConfig,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._secret = secret
        self._sleep = sleep
        self._access: tuple[str, float] | None = None
        self._api = ApiSession(
            "Google Ads API", auth=self._auth, on_unauthorized=self._forget, sleep=sleep
        )
        self._oauth_api = ApiSession("Google OAuth2", sleep=sleep)
        self._base = f"{config.endpoint.rstrip('/')}/{config.api_version}"
        self._customer = f"customers/{config.customer_id}"

    def prepare(self, audience: AudienceSpec, state: State) -> str:
        """The resource name of the CRM-based list named ``audience.name``, created if missing."""
        if "user_list" not in state:
            name = audience.name.replace("'", "\\'")
            rows = self._search(
                "SELECT user_list.resource_name, user_list.name FROM user_list "
                f"WHERE user_list.name = '{name}'"
            )
            if rows:
                state["user_list"] = rows[0]["userList"]["resourceName"]
            else:
                create = {
                    "name": audience.name,
                    "description": audience.description,
                    "membershipLifeSpan": str(self.config.membership_days),
                    "crmBasedUserList": {
                        "uploadKeyType": "CONTACT_INFO",
                        "dataSourceType": "FIRST_PARTY",
                    },
                }
                answer = self._post(
                    f"{self._customer}/userLists:mutate",
                    {"operations": [{"create": create}]},
                    "create user list",
                )
                state["user_list"] = answer["results"][0]["resourceName"]
        state["consent"] = dict(audience.consent)
        return state["user_list"]

    def send(self, members: Sequence[Member], info: BatchInfo, state: State) -> BatchResult:
        """One addOperations call on the delivery's job (created on the first call).

        Google refuses creates and removes in one job, so the removals' job is run and
        finished before the first addition opens a new one.
        """
        kind = _OPS[info.op]
        if "job" in state and state.get("job_kind") != kind:
            self._complete(state)
        if "job" not in state:
            metadata: dict[str, Any] = {"userList": state["user_list"]}
            if state.get("consent"):
                metadata["consent"] = {
                    key: "GRANTED" if value else "DENIED" for key, value in state["consent"].items()
                }
            body = {
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": metadata,
                }
            }
            job = self._post(f"{self._customer}/offlineUserDataJobs:create", body, "create job")
            state["job"] = job["resourceName"]
            state["job_kind"] = kind
        skipped: dict[str, int] = {}
        operations: list[dict[str, Any]] = []
        if info.op == "replace" and info.first:
            operations.append({"removeAll": True})
        for member in members:
            identifiers = user_identifiers(member, skipped)
            if identifiers:
                operations.append({kind: {"userIdentifiers": identifiers}})
        answer = self._post(
            f"{state['job']}:addOperations",
            {"operations": operations, "enablePartialFailure": True},
            "add operations",
        )
        rejections = _rejections(answer.get("partialFailureError"))
        return BatchResult(
            sent=len(members),
            rejected=len(rejections),
            rejections=rejections[:20],
            skipped_fields=skipped,
        )

    def finish(self, state: State) -> FinishResult:
        """Run the job once, poll it to its end; the list's match-rate range on success."""
        if "job" in state:
            self._complete(state)
        return FinishResult(audience_id=state["user_list"], match_rate=state.get("match_rate"))

    def _complete(self, state: State) -> None:
        """Run the open job (once, even across a resume) and wait for it to end."""
        user_list = state["user_list"]
        if "operation" not in state:
            operation = self._post(f"{state['job']}:run", {}, "run job")
            state["operation"] = operation.get("name", "")
        job = poll(
            lambda: self._job(state["job"]),
            lambda j: j.get("status") in ("SUCCESS", "FAILED"),
            api="Google Ads API",
            operation="offline user data job",
            interval=5.0,
            sleep=self._sleep,
        )
        state.pop("job")
        state.pop("operation", None)
        state.pop("job_kind", None)
        if job["status"] == "FAILED":
            raise DestinationError(
                f"Google Ads job for {user_list} FAILED: {job.get('failureReason', 'UNKNOWN')}. "
                "Fix: see the failure reason in the Customer Match docs; the next run sends the "
                "delivery again in a new job",
                restart=True,
            )
        rate = (job.get("operationMetadata") or {}).get("matchRateRange")
        if rate:
            state["match_rate"] = rate

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._api.close()
        self._oauth_api.close()

    def _job(self, name: str) -> dict[str, Any]:
        rows = self._search(
            "SELECT offline_user_data_job.id, offline_user_data_job.status, "
            "offline_user_data_job.failure_reason, "
            "offline_user_data_job.operation_metadata.match_rate_range "
            f"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{name}'"
        )
        return rows[0]["offlineUserDataJob"] if rows else {}

    def _search(self, query: str) -> list[dict[str, Any]]:
        answer = self._post(f"{self._customer}/googleAds:search", {"query": query}, "search")
        return answer.get("results", [])

    def _post(self, path: str, body: Any, operation: str) -> dict[str, Any]:
        response = self._api.request("POST", f"{self._base}/{path}", operation=operation, json=body)
        return response.json() if response.content else {}

    def _auth(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._access_token()}",
            "developer-token": self._secret(self.config.developer_token),
        }
        if self.config.login_customer_id:
            headers["login-customer-id"] = self.config.login_customer_id
        return headers

    def _access_token(self) -> str:
        now = time.monotonic()
        if self._access is None or self._access[1] <= now:
            oauth = self._oauth()
            response = self._oauth_api.request(
                "POST",
                self.config.token_url,
                operation="refresh OAuth2 token",
                data={"grant_type": "refresh_token", **oauth},
            )
            token = response.json()
            self._access = (token["access_token"], now + float(token.get("expires_in", 3600)) - 60)
        return self._access[0]

    def _oauth(self) -> dict[str, str]:
        try:
            value = json.loads(self._secret(self.config.oauth))
            return {k: str(value[k]) for k in ("client_id", "client_secret", "refresh_token")}
        except (ValueError, KeyError, TypeError):
            raise DestinationError(
                f"the secret '{self.config.oauth}' must hold JSON "
                '{"client_id", "client_secret", "refresh_token"}'
            ) from None

    def _forget(self) -> None:
        self._access = None


def _rejections(status: dict[str, Any] | None) -> list[tuple[int, str]]:
    """(operation index, error code) of each operation a partial failure dropped."""
    if not status:
        return []
    found: list[tuple[int, str]] = []
    for detail in status.get("details", []):
        for error in detail.get("errors", []):
            path = (error.get("location") or {}).get("fieldPathElements") or [{}]
            index = int(path[0].get("index", -1))
            code = ",".join(f"{k}:{v}" for k, v in (error.get("errorCode") or {}).items())
            found.append((index, code))
    return found
