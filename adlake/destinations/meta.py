"""Meta Custom Audiences (customer file): find or create the audience, add/remove/replace users.

Per shared/specs/README.md section 2.6: form-encoded Graph API calls with JSON-string
``payload`` and ``session``; the multi-key schema (EMAIL, PHONE, FN, LN, ZIP, COUNTRY, MADID,
EXTERN_ID) with at most 10,000 rows a call; a session per operation so Meta groups the batches
(and swaps the members in on the last batch of a replace). Meta hashes phones without '+', so
PHONE comes from the segment's ``phone_digits``; MADID and EXTERN_ID go unhashed. Rate-limit
errors (codes 4, 17, 613, 80003, HTTP 400) are waited out and retried; other errors carry
Meta's message. The token is read by secret name and never shown.
"""

from __future__ import annotations

import json
import secrets as random
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from adlake.config.segments import MetaDestinationConfig
from adlake.connectors.http import ApiSession, server_message
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

THROTTLE_CODES = frozenset({4, 17, 613, 80003, 80004})
MAX_THROTTLED = 6
FLAGGED_STATUS = 471
_METHODS = {
    "add": ("POST", "users"),
    "remove": ("DELETE", "users"),
    "replace": ("POST", "usersreplace"),
}


def _meta_hashed(normalize: Callable[[str], str | None]) -> Callable[[str | None], str | None]:
    return lambda value: matching.hashed(matching.meta_clean(value) if value else value, normalize)


def _madid(value: str | None) -> str | None:
    if value is None or matching.is_sha256(value.strip()):
        return None
    return matching.maid(value)


def _extern(value: str | None) -> str | None:
    return value.strip() or None if value else None


# Meta schema key -> (segment field, how the value is sent)
_KEYS: dict[str, tuple[str, Callable[[str | None], str | None]]] = {
    "EMAIL": ("email", _meta_hashed(matching.email)),
    "PHONE": ("phone_digits", _meta_hashed(matching.phone_digits)),
    "FN": ("first_name", _meta_hashed(matching.first_name)),
    "LN": ("last_name", _meta_hashed(matching.last_name)),
    "ZIP": ("zip", _meta_hashed(matching.zip_code)),
    "COUNTRY": ("country", _meta_hashed(matching.country)),
    "MADID": ("maid", _madid),
    "EXTERN_ID": ("external_id", _extern),
}


def meta_rows(members: Sequence[Member]) -> tuple[list[str], list[list[str]], dict[str, int]]:
    """The multi-key schema, rows and skipped-field counts Meta receives for ``members``.

    A member whose phone is only the E.164 hash (``phone``) cannot be matched by Meta (its
    hash is of the digits without '+'): a clear one is converted, a hashed one is skipped and
    counted, as is a hashed MAID (Meta takes MADID unhashed).
    """
    present = {k for m in members for k, v in m.items() if v is not None}
    if "phone" in present and "phone_digits" not in present:
        present.add("phone_digits")
    schema = [key for key, (field, _) in _KEYS.items() if field in present]
    skipped: dict[str, int] = {}
    rows = []
    for member in members:
        row = []
        for key in schema:
            field, send = _KEYS[key]
            value = matching.digits_phone(member, skipped) if key == "PHONE" else member.get(field)
            if key == "MADID" and value is not None and matching.is_sha256(value.strip()):
                skipped["maid"] = skipped.get("maid", 0) + 1
            row.append(send(value) or "")
        rows.append(row)
    return schema, rows, skipped


class MetaDestination:
    """Custom Audiences of one Meta ad account."""

    platform = "meta"
    batch_size = 10_000
    min_members = 100
    supports_replace = True

    def __init__(
        self,
        config: MetaDestinationConfig,
        secret: Callable[[str], str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._secret = secret
        self._sleep = sleep
        self._token: str | None = None
        self._api = ApiSession("Meta Marketing API", auth=self._auth, sleep=sleep)
        self._base = f"{config.endpoint.rstrip('/')}/{config.api_version}"
        self._account = config.ad_account_id.removeprefix("act_")

    def prepare(self, audience: AudienceSpec, state: State) -> str:
        """The id of the account's audience named ``audience.name``, created when missing."""
        if "audience_id" not in state:
            found = self._find(audience.name)
            if found is None:
                created = self._call(
                    "POST",
                    f"act_{self._account}/customaudiences",
                    "create audience",
                    name=audience.name,
                    subtype="CUSTOM",
                    description=audience.description,
                    customer_file_source=self.config.customer_file_source,
                )
                found = str(created["id"])
            state["audience_id"] = found
        return state["audience_id"]

    def send(self, members: Sequence[Member], info: BatchInfo, state: State) -> BatchResult:
        """Upload one batch (≤10,000 rows) of ``info.op`` in the operation's session."""
        schema, rows, skipped = meta_rows(members)
        sessions = state.setdefault("sessions", {})
        session_id = sessions.setdefault(info.op, random.randbelow(2**62) + 1)
        session = {
            "session_id": session_id,
            "batch_seq": info.index + 1,
            "last_batch_flag": info.last,
            "estimated_num_total": info.total_members,
        }
        method, edge = _METHODS[info.op]
        answer = self._call(
            method,
            f"{state['audience_id']}/{edge}",
            f"{info.op} users",
            payload=json.dumps({"schema": schema, "data": rows}),
            session=json.dumps(session),
        )
        # within a session Meta reports the session's running totals
        invalid_so_far = state.setdefault("invalid", {})
        invalid = int(answer.get("num_invalid_entries") or 0)
        rejected = max(0, invalid - invalid_so_far.get(info.op, 0))
        invalid_so_far[info.op] = invalid
        if info.last:
            sessions.pop(info.op, None)
            invalid_so_far.pop(info.op, None)
        return BatchResult(sent=len(rows), rejected=rejected, skipped_fields=skipped)

    def finish(self, state: State) -> FinishResult:
        """The audience's approximate size and status; a flagged audience fails the export."""
        node = self._call(
            "GET",
            state["audience_id"],
            "read audience",
            fields="approximate_count_lower_bound,approximate_count_upper_bound,operation_status",
        )
        status = node.get("operation_status") or {}
        if status.get("code") == FLAGGED_STATUS:
            raise DestinationError(
                f"Meta audience {state['audience_id']} is restricted: "
                f"{status.get('description', 'operation_status 471')}. Fix: resolve it in "
                "Audience Manager, or give the export a new audience name"
            )
        lower = node.get("approximate_count_lower_bound")
        upper = node.get("approximate_count_upper_bound")
        details = {"approximate_count": f"{lower}-{upper}"} if lower is not None else {}
        return FinishResult(audience_id=state["audience_id"], details=details)

    def close(self) -> None:
        """Close the HTTP session."""
        self._api.close()

    def _find(self, name: str) -> str | None:
        url: str | None = f"{self._base}/act_{self._account}/customaudiences"
        params: dict[str, Any] | None = {"fields": "id,name", "limit": 100}
        while url:
            page = self._request("GET", url, "list audiences", params)
            for item in page.get("data", []):
                if item.get("name") == name:
                    return str(item["id"])
            url, params = (page.get("paging") or {}).get("next"), None
        return None

    def _call(self, method: str, path: str, operation: str, **fields: Any) -> dict[str, Any]:
        return self._request(method, f"{self._base}/{path}", operation, fields)

    def _request(
        self, method: str, url: str, operation: str, fields: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One Graph call; throttling errors are waited out, others explained."""
        for attempt in range(MAX_THROTTLED):
            as_query = method == "GET"
            response = self._api.request(
                method,
                url,
                operation=operation,
                passthrough=(400,),
                params=fields if as_query else None,
                data=None if as_query else fields,
            )
            if response.status_code == 200:
                return response.json()
            error = _graph_error(response)
            if error.get("code") in THROTTLE_CODES and attempt < MAX_THROTTLED - 1:
                self._sleep(min(60.0, 2.0**attempt))
                continue
            raise self._error(operation, error, response)
        raise AssertionError("unreachable")

    def _error(
        self, operation: str, error: dict[str, Any], response: requests.Response
    ) -> DestinationError:
        code = error.get("code")
        if code == 190:
            return DestinationError(
                f"Meta {operation}: the access token was refused ({error.get('message')}). "
                f"Fix: store a valid system-user token in the secret "
                f"'{self.config.access_token}'"
            )
        detail = error.get("error_user_msg") or ""
        message = server_message(response).replace(self._token or "\0", "***")
        return DestinationError(
            f"Meta {operation} failed (code {code}): {message} {detail}".strip()
        )

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            self._token = self._secret(self.config.access_token)
        return {"Authorization": f"Bearer {self._token}"}


def _graph_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}
