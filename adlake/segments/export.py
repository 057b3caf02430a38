"""Deliver a segment to one destination: plan the delta, guard it, send it, resume after a crash.

The state zone keeps, per export, ``delivered.parquet`` (the members the platform holds after the
last complete delivery), ``audience.json`` (the remote audience's name and id, for platforms
that cannot find an audience by name) and, while a delivery is under way, a plan: the members
to add and to remove, the target membership, and ``plan.json`` with the batches the platform
acknowledged and the destination's own state (audience id, job, session). A run that finds an
unfinished plan resumes it without re-sending an acknowledged batch; ``delivered.parquet`` is
replaced by the target only when the destination has finished. Guards run before anything is
sent: an audience below the minimum size, or a removal of more than ``max_shrink`` of the
delivered audience without ``allow_shrink``, stops the export with a message that says what to
check.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from adlake.config.segments import ExportConfig
from adlake.destinations.base import (
    AudienceSpec,
    BatchInfo,
    Destination,
    DestinationError,
    Member,
)
from adlake.lake import Lake
from adlake.lake.zones import Zone
from adlake.segments.members import CONSENT_PREFIX

Progress = Callable[[str], None]


class ExportRefused(RuntimeError):
    """A guard stopped the export before anything was sent; the message says why and what to do."""


@dataclass
class ExportReport:
    """What one export run did (or, in a dry run, would do)."""

    audience_id: str | None
    mode: str
    target: int
    delivered_before: int
    added: int
    removed: int
    excluded_no_consent: int
    rejected: int = 0
    resumed_batches: int = 0
    match_rate: str | None = None
    skipped_fields: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False


def export_folder(segment: str, destination: str) -> str:
    """Lake path of one export's state."""
    return f"{Zone.STATE.value}/exports/{segment}/{destination}"


def run_export(
    lake: Lake,
    segment: str,
    destination_name: str,
    members: pa.Table,
    export: ExportConfig,
    destination: Destination,
    *,
    full_refresh: bool = False,
    allow_shrink: bool = False,
    dry_run: bool = False,
    progress: Progress = lambda _: None,
) -> ExportReport:
    """Bring the remote audience to the segment's current members (see the module docstring)."""
    folder = export_folder(segment, destination_name)
    plan = _load_plan(lake, folder)
    resumed = plan is not None and not dry_run
    if plan is None or dry_run:
        plan, tables = _new_plan(
            lake, folder, members, export, destination, full_refresh, allow_shrink
        )
        if dry_run:
            return _report(plan, None, dry_run=True)
        for name, table in tables.items():
            write_parquet(lake, f"{folder}/plan_{name}.parquet", table)
        _save_plan(lake, folder, plan)
    if not plan.get("finished"):
        try:
            _send_plan(lake, folder, plan, segment, export, destination, progress)
        except DestinationError as exc:
            if exc.restart:  # the platform dropped what it acknowledged: send it all again
                plan["acked"] = {}
                _save_plan(lake, folder, plan)
            raise
    target = f"{folder}/plan_target.parquet"
    if lake.exists(target):
        lake.move(target, f"{folder}/delivered.parquet")
    report = _report(plan, plan["finished"]["audience_id"])
    report.resumed_batches = plan.get("resumed", 0) if resumed else 0
    report.match_rate = plan["finished"]["match_rate"]
    report.details = dict(plan["finished"]["details"])
    for op in ("add", "remove", "replace"):
        lake.delete(f"{folder}/plan_{op}.parquet")
    lake.delete(f"{folder}/plan.json")
    return report


def _send_plan(
    lake: Lake,
    folder: str,
    plan: dict[str, Any],
    segment: str,
    export: ExportConfig,
    destination: Destination,
    progress: Progress,
) -> None:
    """Send every batch not yet acknowledged, then finish; ``plan.json`` follows each step."""
    name = export.audience or segment
    remembered = f"{folder}/audience.json"
    known = lake.read_json(remembered) if lake.exists(remembered) else {}
    spec = AudienceSpec(
        name=name,
        description=f"adlake segment {segment}",
        known_id=known.get("audience_id") if known.get("name") == name else None,
    )
    audience_id = destination.prepare(spec, plan["state"])
    if audience_id != spec.known_id:
        lake.write_json(remembered, {"name": name, "audience_id": audience_id})
    _save_plan(lake, folder, plan)
    for op in plan["ops"]:
        table = read_parquet(lake, f"{folder}/plan_{op}.parquet")
        count = math.ceil(table.num_rows / destination.batch_size)
        acked: list[int] = plan["acked"].setdefault(op, [])
        for index, batch in enumerate(_batches(table, destination.batch_size)):
            if index in acked:
                plan["resumed"] = plan.get("resumed", 0) + 1
                continue
            info = BatchInfo(op=op, index=index, count=count, total_members=table.num_rows)
            result = destination.send(batch, info, plan["state"])
            acked.append(index)
            plan["rejected"] += result.rejected
            for field_name, n in result.skipped_fields.items():
                plan["skipped"][field_name] = plan["skipped"].get(field_name, 0) + n
            _save_plan(lake, folder, plan)
            progress(f"{op}: batch {index + 1}/{count} sent ({len(batch):,} members)")
    finished = destination.finish(plan["state"])
    plan["rejected"] += finished.rejected
    plan["finished"] = {
        "audience_id": finished.audience_id,
        "match_rate": finished.match_rate,
        "details": dict(finished.details),
    }
    _save_plan(lake, folder, plan)


def _new_plan(
    lake: Lake,
    folder: str,
    members: pa.Table,
    export: ExportConfig,
    destination: Destination,
    full_refresh: bool,
    allow_shrink: bool,
) -> tuple[dict[str, Any], dict[str, pa.Table]]:
    """The plan of a delivery and its member tables, after the guards passed."""
    target, excluded = _with_consent(members, export.purpose)
    delivered = read_parquet(lake, f"{folder}/delivered.parquet")
    minimum = destination.min_members if export.min_members is None else export.min_members
    if target.num_rows < minimum:
        raise ExportRefused(
            f"the segment has {target.num_rows:,} member(s) for this destination, below the "
            f"minimum of {minimum:,}; nothing was sent. Check the segment's SQL, or lower "
            "min_members on the export if a small audience is intended"
        )
    con = duckdb.connect(":memory:")
    try:
        con.register("target", target)
        con.register("delivered", delivered if delivered.num_rows else target.slice(0, 0))
        adds = con.sql(
            "SELECT * FROM target WHERE member NOT IN (SELECT member FROM delivered)"
        ).to_arrow_table()
        removes = con.sql(
            "SELECT * FROM delivered WHERE member NOT IN (SELECT member FROM target)"
        ).to_arrow_table()
    finally:
        con.close()
    if delivered.num_rows and not allow_shrink:
        share = removes.num_rows / delivered.num_rows
        if share > export.max_shrink:
            raise ExportRefused(
                f"the export would remove {removes.num_rows:,} of the {delivered.num_rows:,} "
                f"members delivered ({share:.1%}, more than max_shrink {export.max_shrink:.0%}) "
                f"and keep {target.num_rows:,}; nothing was sent. Check the segment's SQL and "
                "its inputs; if the shrink is intended, run the export with allow_shrink: true"
            )
    refresh = full_refresh or export.full_refresh
    replace = refresh and destination.supports_replace
    if refresh and not replace:  # no replace call: remove who left, send everyone again
        adds = target
    ops = ["replace"] if replace else ["remove", "add"]
    tables = {"target": target}
    tables.update({"replace": target} if replace else {"remove": removes, "add": adds})
    plan = {
        "id": uuid.uuid4().hex,
        "mode": "replace" if replace else "refresh" if refresh else "delta",
        "ops": ops,
        "acked": {},
        "state": {},
        "rejected": 0,
        "skipped": {},
        "counts": {
            "target": target.num_rows,
            "delivered_before": delivered.num_rows,
            "added": adds.num_rows,
            "removed": removes.num_rows,
            "excluded_no_consent": excluded,
        },
    }
    return plan, tables


def _report(plan: dict[str, Any], audience_id: str | None, dry_run: bool = False) -> ExportReport:
    counts = plan["counts"]
    return ExportReport(
        audience_id=audience_id,
        mode=plan["mode"],
        target=counts["target"],
        delivered_before=counts["delivered_before"],
        added=counts["added"],
        removed=counts["removed"],
        excluded_no_consent=counts["excluded_no_consent"],
        rejected=plan.get("rejected", 0),
        skipped_fields=dict(plan.get("skipped", {})),
        dry_run=dry_run,
    )


def _with_consent(members: pa.Table, purpose: str | None) -> tuple[pa.Table, int]:
    """The members consenting to ``purpose`` (all when none), without the consent columns."""
    kept = members
    if purpose is not None:
        kept = members.filter(members.column(f"{CONSENT_PREFIX}{purpose}"))
    identifiers = [c for c in kept.column_names if not c.startswith(CONSENT_PREFIX)]
    return kept.select(identifiers), members.num_rows - kept.num_rows


def _batches(table: pa.Table, size: int) -> Iterator[list[Member]]:
    for offset in range(0, table.num_rows, size):
        yield table.slice(offset, size).to_pylist()


def read_parquet(lake: Lake, path: str) -> pa.Table:
    """A Parquet file of the lake; an empty ``member`` table when it does not exist."""
    if not lake.exists(path):
        return pa.table({"member": pa.array([], pa.string())})
    with lake.filesystem.open_input_file(lake.full(path)) as handle:
        return pq.read_table(handle)


def write_parquet(lake: Lake, path: str, table: pa.Table) -> None:
    """Write ``table`` to ``path`` atomically (zstd Parquet)."""
    with lake.open_atomic(path) as out:
        pq.write_table(table, out, compression="zstd")


def _load_plan(lake: Lake, folder: str) -> dict[str, Any] | None:
    path = f"{folder}/plan.json"
    return lake.read_json(path) if lake.exists(path) else None


def _save_plan(lake: Lake, folder: str, plan: dict[str, Any]) -> None:
    lake.write_json(f"{folder}/plan.json", plan)
