"""Resources of the Google Ads v25 emulator: user lists, offline user data jobs, their operations.

The state the emulator keeps and how it is rendered in proto3 JSON: a CRM-based UserList with
the users it holds, an OfflineUserDataJob with its accepted operations and its
google.longrunning.Operation, and the log entry of one addOperations call. A succeeded job's
operations change the list's membership in order (:func:`apply_operations`): removeAll empties
it, remove drops every user sharing an identifier, create merges users sharing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

METADATA_TYPE = "type.googleapis.com/google.ads.googleads.v25.resources.OfflineUserDataJobMetadata"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"

User = frozenset[tuple[str, str]]


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

    def operation(self, match_rate_range: str) -> dict[str, Any]:
        """The job's google.longrunning.Operation in JSON."""
        metadata: dict[str, Any] = {"@type": METADATA_TYPE}
        if self.status in ("RUNNING", "SUCCESS"):
            metadata["matchRateRange"] = match_rate_range
        operation = {"name": self.operation_name, "metadata": metadata, "done": False}
        if self.status == "SUCCESS":
            operation["done"] = True
            operation["response"] = {"@type": EMPTY_TYPE}
        elif self.status == "FAILED":
            operation["done"] = True
            message = f"The offline user data job failed: {self.failure_reason}."
            operation["error"] = {"code": 9, "message": message}
        return operation


def apply_operations(members: list[User], operations: list[tuple[str, User]]) -> None:
    """Change a list's membership in place by a succeeded job's operations, in order.

    An index from identifier to user keeps this linear in the number of operations.
    """
    users: dict[int, User] = dict(enumerate(members))
    index: dict[tuple[str, str], int] = {ident: n for n, u in users.items() for ident in u}
    next_id = len(users)

    def overlapping(user: User) -> set[int]:
        return {index[ident] for ident in user if ident in index}

    def drop(ids: set[int]) -> None:
        for n in ids:
            for ident in users.pop(n):
                if index.get(ident) == n:
                    del index[ident]

    for kind, user in operations:
        if kind == "removeAll":
            users.clear()
            index.clear()
        elif kind == "remove":
            drop(overlapping(user))
        else:
            found = overlapping(user)
            merged = frozenset(user.union(*(users[n] for n in found)))
            drop(found)
            users[next_id] = merged
            for ident in merged:
                index[ident] = next_id
            next_id += 1
    members[:] = list(users.values())
