"""What a notification says: the outcome of a pipeline run or the quarantine of a delivered file.

An event carries only counts, asset keys, partitions, landing paths and a link to the run. It is
built from structured fields, never from row values or exception text, so no PII and no secret
can reach a topic or a webhook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

EventKind = Literal["run_succeeded", "run_failed", "file_quarantined"]
EVENT_KINDS: tuple[EventKind, ...] = ("run_succeeded", "run_failed", "file_quarantined")
SUBJECT_LIMIT = 100  # SNS e-mail subjects: at most 100 printable ASCII characters
ERROR_LIMIT = 1_000  # characters of the first error kept in a message


def run_link(ui_base_url: str, run_id: str) -> str:
    """The URL of a run in the Dagster UI: ``<ui_base_url>/runs/<run_id>``."""
    return f"{ui_base_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class AssetOutcome:
    """What one asset of a run produced: its partitions and the counts its metadata reported."""

    asset_key: str
    partitions: tuple[str, ...] = ()
    rows_out: int | None = None
    quarantined_rows: int | None = None
    files_quarantined: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; counts an asset does not report are left out."""
        out: dict[str, Any] = {"asset_key": self.asset_key, "partitions": list(self.partitions)}
        for name in ("rows_out", "quarantined_rows", "files_quarantined"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class NotificationEvent:
    """One announcement: a run succeeded or failed, or a delivered file was quarantined."""

    kind: EventKind
    run_id: str
    job: str
    run_url: str
    message: str
    assets: tuple[AssetOutcome, ...] = ()
    partitions: tuple[str, ...] = ()
    partition_range: tuple[str, str] | None = None
    files: tuple[str, ...] = ()
    # why the failed steps failed, as the steps said it (e.g. an AMC execution's reason)
    errors: tuple[str, ...] = ()
    occurred_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; allowed: {', '.join(EVENT_KINDS)}")

    @property
    def asset_keys(self) -> list[str]:
        """The asset keys the event concerns, in order."""
        return [a.asset_key for a in self.assets]

    def totals(self) -> dict[str, int]:
        """Row and quarantine counts summed over the assets that report them."""
        sums = {"rows_out": 0, "quarantined_rows": 0, "files_quarantined": 0}
        for asset in self.assets:
            for name in sums:
                sums[name] += getattr(asset, name) or 0
        return sums

    def subject(self) -> str:
        """A one-line subject (e-mail subscribers of a topic see it), at most 100 characters."""
        what = {
            "run_succeeded": "run succeeded",
            "run_failed": "run FAILED",
            "file_quarantined": "file quarantined",
        }[self.kind]
        about = ", ".join(self.asset_keys) or self.job
        text = f"adlake {what}: {about}"
        text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ")
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict: the body of every SNS message and webhook POST."""
        return {
            "source": "adlake",
            "kind": self.kind,
            "run_id": self.run_id,
            "job": self.job,
            "run_url": self.run_url,
            "message": self.message,
            "asset_keys": self.asset_keys,
            "partitions": list(self.partitions),
            "partition_range": list(self.partition_range) if self.partition_range else None,
            "assets": [a.to_dict() for a in self.assets],
            "totals": self.totals(),
            "files": list(self.files),
            "errors": list(self.errors),
            "occurred_at": self.occurred_at,
        }

    def to_json(self) -> str:
        """The event serialized as compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)


def run_event(
    kind: Literal["run_succeeded", "run_failed"],
    *,
    run_id: str,
    job: str,
    ui_base_url: str,
    assets: list[AssetOutcome],
    partition_range: tuple[str, str] | None = None,
    failed_steps: list[str] | None = None,
    errors: list[str] | None = None,
) -> NotificationEvent:
    """The event of a finished run, with a message that sums up what it did (or why it failed)."""
    partitions = tuple(sorted({p for a in assets for p in a.partitions}))
    event = NotificationEvent(
        kind=kind,
        run_id=run_id,
        job=job,
        run_url=run_link(ui_base_url, run_id),
        message="",
        assets=tuple(assets),
        partitions=partitions,
        partition_range=partition_range,
        errors=tuple(errors or ()),
    )
    totals = event.totals()
    where = _describe_partitions(partitions, partition_range)
    if kind == "run_succeeded":
        message = (
            f"Run {run_id} ({job}) succeeded: {len(assets)} asset(s){where}, "
            f"{totals['rows_out']:,} row(s) out, {totals['quarantined_rows']:,} row(s) and "
            f"{totals['files_quarantined']:,} file(s) quarantined."
        )
    else:
        steps = ", ".join(failed_steps or []) or "see the run"
        keys = ", ".join(a.asset_key for a in assets) or "none"
        message = f"Run {run_id} ({job}) failed{where}; failed step(s): {steps}; asset(s): {keys}."
        if errors:
            first = " ".join(errors[0].split())
            message += f" Error: {first[:ERROR_LIMIT]}{'...' if len(first) > ERROR_LIMIT else ''}"
    return replace(event, message=message)


def file_quarantined_event(
    *,
    run_id: str,
    job: str,
    ui_base_url: str,
    asset_key: str,
    partition: str | None,
    landing_path: str,
    reason: str,
) -> NotificationEvent:
    """The exception event of one delivered file that was rejected and moved to quarantine.

    ``reason`` must describe the file's structure (empty, truncated, corrupt), never its content.
    """
    partitions = (partition,) if partition else ()
    message = (
        f"Delivered file {landing_path} was quarantined: {reason}. The copy is kept in raw and "
        "the reason in the quarantine zone; ask the partner to deliver the file again."
    )
    return NotificationEvent(
        kind="file_quarantined",
        run_id=run_id,
        job=job,
        run_url=run_link(ui_base_url, run_id),
        message=message,
        assets=(AssetOutcome(asset_key, partitions, files_quarantined=1),),
        partitions=partitions,
        files=(landing_path,),
    )


def _describe_partitions(partitions: tuple[str, ...], span: tuple[str, str] | None) -> str:
    if span:
        return f" for partitions {span[0]}..{span[1]}"
    if len(partitions) == 1:
        return f" for partition {partitions[0]}"
    if partitions:
        return f" for {len(partitions)} partitions {partitions[0]}..{partitions[-1]}"
    return ""
