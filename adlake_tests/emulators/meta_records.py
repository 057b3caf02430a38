"""The Meta emulator's records: audiences, upload sessions, accepted batches and Graph errors.

Shared by the server (:mod:`adlake_tests.emulators.meta`), which answers with them, and the
upload handling (:mod:`adlake_tests.emulators.meta_uploads`), which fills them; plus how
an audience, an error and a paging cursor are shaped in Graph answers. A member is one
uploaded identifier set: a sorted tuple of (key, value) pairs with empty values left out.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

NORMAL = {"code": 200, "description": "Normal"}
MIN_DELIVERABLE = 100
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


def trace_id() -> str:
    """An ``fbtrace_id``-like random token."""
    return secrets.token_urlsafe(8)[:11]


def graph_error_body(
    code: int, message: str, subcode: int | None = None, **extra: Any
) -> dict[str, Any]:
    """Graph's ``{"error": {...}}`` body: message, type, code, subcode and extras, trace id."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error |= extra
    return {"error": {**error, "fbtrace_id": trace_id()}}


def select_fields(params: dict[str, Any]) -> list[str]:
    """The ``fields`` parameter as known field names, ``id`` first; unknown names are 100."""
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
                f"(#100) Tried accessing nonexisting field ({name}) on node type (CustomAudience)",
            )
    return ["id", *[name for name in names if name != "id"]]


def describe_audience(audience: EmulatedAudience, fields: list[str]) -> dict[str, Any]:
    """The requested fields of an audience as its GET node answers them."""
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


def page_cursor(audience_id: str) -> str:
    """The opaque paging cursor of an audience id in a list answer."""
    return base64.urlsafe_b64encode(audience_id.encode()).decode().rstrip("=")


def cursor_audience_id(cursor: str) -> str:
    """The audience id a paging cursor stands for; a malformed cursor is error 100."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError as exc:
        raise GraphError(100, f"(#100) Invalid cursor: {cursor}") from exc
