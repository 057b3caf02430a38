"""Pull one REST resource into raw: page by page, resumable, the cursor advanced last.

Every page is written to raw as its own gzip JSON-lines part before the next is requested, and
``state/<source>/rest/<resource>/pull.json`` then records the parts and the next page's request.
A run that dies mid-pagination resumes at that request: nothing fetched is lost, nothing is
written twice. When the last page is in, each part is recorded as a delivery of the day the
pull started (clean reads them like any delivery), and only then does the resource's cursor
(``cursor.json``) move to the highest cursor value the pull saw. A resume whose saved request
the API no longer accepts (an expired query locator) starts the pull again from its cursor and
drops the parts of the broken attempt, which were never recorded.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adlake.config.rest import CURSOR, RestResourceConfig, RestSourceConfig
from adlake.connectors.http import ApiError
from adlake.connectors.rest import PageRequest, RestClient
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.generated import generated_delivery, publish_staged
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.saas.cursor import dotted, latest, render

Log = Callable[[str], None]
PART = "part-{:05d}.jsonl.gz"
# statuses with which an API refuses a resumed request it no longer knows
STALE = (400, 404, 410)
GZIP_LEVEL = 5  # raw parts: about the size of level 9 at a third of its time
DRIFT_SAMPLE = 100  # records per page whose fields are compared with the last pull's


@dataclass
class PullOutcome:
    """What pulling one resource did."""

    resource: str
    pull_id: str
    records: int
    pages: int
    cursor_from: str | None
    cursor_to: str | None
    resumed_pages: int = 0
    restarted: bool = False
    new_fields: list[str] = field(default_factory=list)
    type_changes: dict[str, str] = field(default_factory=dict)
    # type changes of fields a declared column reads: the run fails on them, after landing
    declared_changes: dict[str, str] = field(default_factory=dict)
    deliveries: list[str] = field(default_factory=list)


def state_folder(source: str, resource: str) -> str:
    """Where a resource's cursor and in-flight pull live."""
    return f"{Zone.STATE.value}/{source}/rest/{resource}"


def saved_cursor(lake: Lake, source: str, resource: str) -> Any:
    """The cursor the next pull starts from (None before the first pull landed)."""
    path = f"{state_folder(source, resource)}/cursor.json"
    return lake.read_json(path)["cursor"] if lake.exists(path) else None


def pull_resource(
    client: RestClient,
    lake: Lake,
    source_name: str,
    source: RestSourceConfig,
    name: str,
    log: Log,
) -> PullOutcome:
    """Bring what changed in one resource since its cursor into raw (see the module docstring)."""
    resource = source.resources[name]
    folder = state_folder(source_name, name)
    checkpoint_path = f"{folder}/pull.json"
    pull = lake.read_json(checkpoint_path) if lake.exists(checkpoint_path) else None
    resumed = pull is not None
    if pull is None:
        pull = _new_pull(lake, source_name, name, resource)
        lake.write_json(checkpoint_path, pull)
    else:
        log(f"{name}: resuming pull {pull['pull_id']} after {len(pull['parts'])} page(s)")
    resumed_pages = len(pull["parts"]) if resumed else 0
    restarted = False
    try:
        _fetch(client, lake, source_name, source, name, pull, checkpoint_path, log)
    except ApiError as exc:
        if not (resumed and pull["parts"] and exc.status in STALE):
            raise
        log(f"{name}: the API no longer accepts the saved request ({exc}); pulling again from "
            f"cursor {pull['cursor_from']}")  # fmt: skip
        for part in pull["parts"]:
            lake.delete(part["raw_path"])
        pull = _new_pull(lake, source_name, name, resource)
        lake.write_json(checkpoint_path, pull)
        resumed_pages, restarted = 0, True
        _fetch(client, lake, source_name, source, name, pull, checkpoint_path, log)
    deliveries = _record(lake, source_name, name, pull)
    if pull["max_cursor"] is not None:
        lake.write_json(
            f"{folder}/cursor.json",
            {"cursor": pull["max_cursor"], "pull_id": pull["pull_id"], "at": _now()},
        )
    drift = _drift(lake, folder, resource, pull["field_types"])
    lake.delete(checkpoint_path)
    records = sum(p["records"] for p in pull["parts"])
    cursor = pull["max_cursor"] or pull["cursor_from"]
    log(f"{name}: {records:,} record(s) in {len(pull['parts'])} page(s) landed"
        + (f"; cursor now {cursor}" if resource.incremental else " (a full pull)"))  # fmt: skip
    return PullOutcome(
        resource=name,
        pull_id=pull["pull_id"],
        records=records,
        pages=len(pull["parts"]),
        cursor_from=pull["cursor_from"],
        cursor_to=pull["max_cursor"],
        resumed_pages=resumed_pages,
        restarted=restarted,
        new_fields=drift[0],
        type_changes=drift[1],
        declared_changes={
            k: v
            for k, v in drift[1].items()
            if k in {c.source or n for n, c in resource.columns.items()}
        },
        deliveries=deliveries,
    )


def _new_pull(lake: Lake, source: str, name: str, resource: RestResourceConfig) -> dict[str, Any]:
    incremental = resource.incremental
    start = saved_cursor(lake, source, name) if incremental else None
    if incremental and start is None:
        start = incremental.start
    return {
        "pull_id": f"{datetime.now(tz=UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}",
        "dt": datetime.now(tz=UTC).date().isoformat(),
        "started_at": _now(),
        "cursor_from": start,
        "max_cursor": None,
        "parts": [],
        "next": None,
        "parent_index": 0,
        "field_types": {},
    }


def _fetch(
    client: RestClient,
    lake: Lake,
    source_name: str,
    source: RestSourceConfig,
    name: str,
    pull: dict[str, Any],
    checkpoint_path: str,
    log: Log,
) -> None:
    """Fetch every page not yet written: the resource's, or each parent record's."""
    resource = source.resources[name]
    values = _cursor_values(resource, pull["cursor_from"])
    if resource.parent is None:
        start = PageRequest.from_dict(pull["next"]) if pull["next"] else None
        if not pull["parts"] or start is not None:
            start = start or client.request_of(resource, values)
            _pages(client, lake, source_name, name, resource, pull, start, {}, checkpoint_path, log)
        return
    parents = list(_parent_values(client, source, resource))
    for index in range(pull["parent_index"], len(parents)):
        extra = parents[index]
        saved = pull["next"] if pull["parent_index"] == index else None
        start = (
            PageRequest.from_dict(saved)
            if saved
            else client.request_of(resource, {**values, **extra})
        )
        _pages(client, lake, source_name, name, resource, pull, start, extra, checkpoint_path, log)
        pull["parent_index"], pull["next"] = index + 1, None
        lake.write_json(checkpoint_path, pull)


def _pages(
    client: RestClient,
    lake: Lake,
    source_name: str,
    name: str,
    resource: RestResourceConfig,
    pull: dict[str, Any],
    start: PageRequest,
    extra: dict[str, str],
    checkpoint_path: str,
    log: Log,
) -> None:
    """Write each page as a raw part, then checkpoint the next request."""
    request: PageRequest | None = start
    while request is not None:
        page = client.page(resource, request)
        number = len(pull["parts"]) + 1
        raw_path = (
            f"{partition_dir(Zone.RAW, source_name, name, pull['dt'])}/{pull['pull_id']}/"
            f"{PART.format(number)}"
        )
        records = [{**r, **extra} if isinstance(r, dict) else {"value": r, **extra}
                   for r in page.records]  # fmt: skip
        size, digest = _write_part(lake, raw_path, records)
        if resource.incremental:
            field_path = resource.incremental.cursor_field
            values = [dotted(record, field_path) for record in records]
            pull["max_cursor"] = latest(resource.incremental, pull["max_cursor"], values)
        _note_types(pull["field_types"], records)
        pull["parts"].append(
            {"raw_path": raw_path, "records": len(records), "bytes": size, "sha256": digest}
        )
        following = page.next
        incremental = resource.incremental
        pull["query_records"] = pull.get("query_records", 0) + len(records)
        cap = incremental.max_records_per_query if incremental else None
        if following is not None and cap and pull["query_records"] >= cap and incremental:
            # the API stops a query here: go on with a new one from the highest cursor seen
            values = {**extra, CURSOR: render(incremental, pull["max_cursor"], lookback=False)}
            following = client.request_of(resource, values)
            pull["query_records"] = 0
        pull["next"] = following.to_dict() if following else None
        lake.write_json(checkpoint_path, pull)
        request = following
        if number % 10 == 0:
            total = sum(p["records"] for p in pull["parts"])
            log(f"{name}: {number} page(s), {total:,} record(s) so far")


def _write_part(lake: Lake, raw_path: str, records: list[Any]) -> tuple[int, str]:
    with lake.scratch() as scratch:
        staged = Path(scratch) / "part.jsonl.gz"
        with gzip.open(staged, "wt", encoding="utf-8", compresslevel=GZIP_LEVEL) as out:
            for record in records:
                out.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")
        return publish_staged(lake, staged, raw_path)


def _record(lake: Lake, source: str, name: str, pull: dict[str, Any]) -> list[str]:
    """Record every part as a delivery of the pull's day (idempotent: same ids on a replay)."""
    ledger = DeliveryLedger(lake, source, name)
    window = f"{pull['cursor_from'] or ''}..{pull['max_cursor'] or pull['cursor_from'] or ''}"
    ids = []
    for number, part in enumerate(pull["parts"], start=1):
        delivery_id = f"{pull['pull_id']}_{number:05d}"
        ledger.record(
            generated_delivery(
                delivery_id=delivery_id,
                source=source,
                dataset=name,
                dt=pull["dt"],
                raw_path=part["raw_path"],
                size=part["bytes"],
                sha256=part["sha256"],
                lines=part["records"],
                ingested_at=pull["started_at"],
                extra={"window": window, "pull_id": pull["pull_id"], "page": str(number)},
            )
        )
        ids.append(delivery_id)
    return ids


def _cursor_values(resource: RestResourceConfig, cursor: Any) -> dict[str, str]:
    if resource.incremental is None or cursor is None:
        return {}
    return {CURSOR: render(resource.incremental, cursor)}


def _parent_values(
    client: RestClient, source: RestSourceConfig, resource: RestResourceConfig
) -> Iterator[dict[str, str]]:
    """The placeholder values of each record of the parent resource (fetched whole)."""
    assert resource.parent is not None
    parent = source.resources[resource.parent.resource]
    values = _cursor_values(parent, parent.incremental.start if parent.incremental else None)
    for page in client.pages(parent, client.request_of(parent, values)):
        for record in page.records:
            yield {k: str(dotted(record, path)) for k, path in resource.parent.fields.items()}


def _note_types(seen: dict[str, str], records: list[Any]) -> None:
    """Field -> JSON type of a page's records (the first DRIFT_SAMPLE: a page has one shape)."""
    for record in records[:DRIFT_SAMPLE]:
        for key, value in _flat(record):
            if value is not None:
                seen.setdefault(key, _json_type(value))


def _json_type(value: Any) -> str:
    """The JSON type of a value: boolean, number, string, array or object."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def _flat(record: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(record, dict):
        for key, value in record.items():
            if isinstance(value, dict):
                yield from _flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value


def _drift(
    lake: Lake, folder: str, resource: RestResourceConfig, types: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Fields new since the last pull, and fields whose JSON type changed (kept in fields.json)."""
    path = f"{folder}/fields.json"
    known: dict[str, str] = lake.read_json(path) if lake.exists(path) else {}
    declared = {c.source or n for n, c in resource.columns.items()}
    new = sorted(k for k in types if known and k not in known and k not in declared)
    changed = {k: f"{known[k]} -> {t}" for k, t in types.items() if k in known and known[k] != t}
    if types:
        lake.write_json(path, {**known, **types})
    return new, changed


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="microseconds")
