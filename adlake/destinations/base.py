"""The one interface every audience destination implements, and the values it trades in.

A destination knows one platform's API and nothing of Dagster, segments or the lake. The export
runner (:mod:`adlake.segments.export`) hands it an audience to find or create, then batches of
members to add, remove or replace, then asks it to finish (run a job, poll it, write a
manifest). ``state`` is a JSON-able dict the runner persists after every call, so an export that
dies halfway resumes with what the platform already acknowledged (an audience id, a job name,
an upload session) instead of starting again.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# a member: identifier name (adlake.config.segments.MatchField) -> value as the segment holds
# it: SHA-256 hex for hashed identifiers, normalized clear text for zip/country/maid/external_id;
# plus "member", the fingerprint over its identifiers (stable across runs, never clear PII)
Member = Mapping[str, str | None]
Operation = Literal["add", "remove", "replace"]
State = MutableMapping[str, Any]


@dataclass(frozen=True)
class AudienceSpec:
    """The remote audience an export writes to."""

    name: str
    description: str = ""
    # consent the platform records with the upload (Google's Consent), when the segment has it
    consent: Mapping[str, bool] = field(default_factory=dict)
    # the id this export delivered the audience under last time, for platforms that cannot
    # look an audience up by name (Amazon)
    known_id: str | None = None


@dataclass(frozen=True)
class BatchInfo:
    """Where a batch sits in its operation: 0-based index of ``count`` batches of ``op``."""

    op: Operation
    index: int
    count: int
    total_members: int

    @property
    def first(self) -> bool:
        """Whether this is the first batch of its operation."""
        return self.index == 0

    @property
    def last(self) -> bool:
        """Whether this is the last batch of its operation."""
        return self.index == self.count - 1


@dataclass(frozen=True)
class BatchResult:
    """What the platform said about one batch."""

    sent: int
    rejected: int = 0
    # a few (member position in batch, reason) pairs; never identifier values
    rejections: Sequence[tuple[int, str]] = ()
    # identifiers the platform cannot match on that were left out, e.g. {"maid": 3}
    skipped_fields: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FinishResult:
    """What the platform reports once the upload is complete."""

    audience_id: str
    match_rate: str | None = None
    # members the platform refused while processing (reported after the batches were taken)
    rejected: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


class Destination(Protocol):
    """One platform account that receives audiences."""

    platform: str
    batch_size: int
    # the smallest audience the platform accepts (the export's min_members default)
    min_members: int
    # whether send("replace", ...) swaps the whole audience; otherwise the runner sends a delta
    supports_replace: bool

    def prepare(self, audience: AudienceSpec, state: State) -> str:
        """Find or create the remote audience and return its id (kept in ``state``)."""
        ...

    def send(self, members: Sequence[Member], info: BatchInfo, state: State) -> BatchResult:
        """Deliver one batch of ``info.op``; raise on failure (the batch is then re-sent)."""
        ...

    def finish(self, state: State) -> FinishResult:
        """Complete the upload (run a job and wait, write a manifest) after the last batch."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class DestinationError(RuntimeError):
    """A platform refused the audience in a way retrying will not fix; the message says why.

    ``restart`` means the platform dropped what it had acknowledged (a failed job): the next
    run sends the whole delivery again instead of resuming it.
    """

    def __init__(self, message: str, *, restart: bool = False) -> None:
        super().__init__(message)
        self.restart = restart
