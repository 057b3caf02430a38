"""One micro-batch of a stream into raw: read after the checkpoints, land, then checkpoint.

Checkpoints (``state/<source>/stream/<dataset>/checkpoints.json``) hold, per shard, the last
sequence number landed and whether the shard ended. A batch reads the shards that may be read
(open ones, and children whose parents ended, so a key's events stay in order across a split
or merge), up to the dataset's record and time budget, writes every record as one JSON line
of a gzip delivery in raw, records the delivery, and only then advances the checkpoints. A
crash in between replays the batch (at-least-once into raw); the event id, the dataset's
primary key, makes it exactly-once in clean.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adlake.config.streams import StreamDatasetConfig
from adlake.connectors.streams import Shard, ShardBatch, Stream, StreamRecord
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.generated import generated_delivery, publish_staged
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir

Log = Callable[[str], None]
FILE_NAME = "events.jsonl.gz"
READ_PASSES = 4  # a batch goes round the shards again when children became readable


@dataclass
class BatchOutcome:
    """What one micro-batch did."""

    batch_id: str
    records: int
    shards_read: dict[str, int] = field(default_factory=dict)
    shards_ended: list[str] = field(default_factory=list)
    delivery: str | None = None


def checkpoint_path(source: str, dataset: str) -> str:
    """Where a stream dataset's per-shard checkpoints live."""
    return f"{Zone.STATE.value}/{source}/stream/{dataset}/checkpoints.json"


def load_checkpoints(lake: Lake, source: str, dataset: str) -> dict[str, dict[str, Any]]:
    """shard id -> {"after": last sequence landed, "ended": bool}."""
    path = checkpoint_path(source, dataset)
    return lake.read_json(path)["shards"] if lake.exists(path) else {}


def readable(shards: list[Shard], checkpoints: dict[str, dict[str, Any]]) -> list[Shard]:
    """Shards not yet ended whose parents (those the stream still lists) have ended."""
    listed = {s.shard_id for s in shards}

    def done(shard_id: str) -> bool:
        return shard_id not in listed or bool(checkpoints.get(shard_id, {}).get("ended"))

    return [s for s in shards if not done(s.shard_id) and all(done(p) for p in s.parents)]


def waiting(stream: Stream, checkpoints: dict[str, dict[str, Any]]) -> bool:
    """Whether any readable shard holds a record after its checkpoint (or just ended)."""
    for shard in readable(stream.shards(), checkpoints):
        batch = stream.read(shard, checkpoints.get(shard.shard_id, {}).get("after"), 1)
        if batch.records or batch.ended:
            return True
    return False


def consume_batch(
    stream: Stream,
    lake: Lake,
    source: str,
    dataset: str,
    spec: StreamDatasetConfig,
    log: Log,
    clock: Callable[[], float] = time.monotonic,
) -> BatchOutcome:
    """Land one micro-batch of the stream (see the module docstring)."""
    checkpoints = load_checkpoints(lake, source, dataset)
    batch_id = f"{datetime.now(tz=UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
    budget, deadline = spec.max_records_per_batch, clock() + spec.max_seconds_per_batch
    read: dict[str, ShardBatch] = {}
    for _ in range(READ_PASSES):
        progress = False
        for shard in readable(stream.shards(), {**checkpoints, **_pending(read)}):
            if budget <= 0 or clock() >= deadline:
                break
            after = _last(read.get(shard.shard_id)) or checkpoints.get(shard.shard_id, {}).get(
                "after"
            )
            batch = stream.read(shard, after, budget)
            earlier = read.get(shard.shard_id)
            records = (earlier.records if earlier else []) + batch.records
            read[shard.shard_id] = ShardBatch(records, batch.ended)
            budget -= len(batch.records)
            progress = progress or bool(batch.records) or batch.ended
        if not progress or budget <= 0 or clock() >= deadline:
            break
    outcome = BatchOutcome(batch_id, sum(len(b.records) for b in read.values()))
    outcome.shards_read = {s: len(b.records) for s, b in read.items() if b.records}
    outcome.shards_ended = sorted(s for s, b in read.items() if b.ended)
    if outcome.records:
        outcome.delivery = _land(lake, source, dataset, batch_id, read)
    for shard_id, batch in read.items():
        state = checkpoints.setdefault(shard_id, {"after": None, "ended": False})
        state["after"] = _last(batch) or state["after"]
        state["ended"] = state["ended"] or batch.ended
    if read:
        lake.write_json(
            checkpoint_path(source, dataset),
            {"shards": checkpoints, "batch_id": batch_id, "at": _now()},
        )
    log(
        f"{dataset}: {outcome.records:,} record(s) from {len(outcome.shards_read)} shard(s)"
        + (f"; shard(s) {', '.join(outcome.shards_ended)} ended" if outcome.shards_ended else "")
    )
    return outcome


def _pending(read: dict[str, ShardBatch]) -> dict[str, dict[str, Any]]:
    return {s: {"ended": True} for s, b in read.items() if b.ended}


def _last(batch: ShardBatch | None) -> str | None:
    return batch.records[-1].sequence if batch and batch.records else None


def _land(lake: Lake, source: str, dataset: str, batch_id: str, read: dict[str, ShardBatch]) -> str:
    """Write the batch's records as one gzip JSON-lines delivery of today and record it."""
    day = datetime.now(tz=UTC).date().isoformat()
    raw_path = f"{partition_dir(Zone.RAW, source, dataset, day)}/{batch_id}/{FILE_NAME}"
    records: list[StreamRecord] = [r for b in read.values() for r in b.records]
    with lake.scratch() as scratch:
        staged = Path(scratch) / FILE_NAME
        with gzip.open(staged, "wb", compresslevel=5) as out:
            # one write: per-record writes cost more than compressing (502k vs 833k lines/s)
            out.write(b"".join(record.data.rstrip(b"\n") + b"\n" for record in records))
        size, digest = publish_staged(lake, staged, raw_path)
    positions = {s: _last(b) for s, b in read.items() if b.records}
    DeliveryLedger(lake, source, dataset).record(
        generated_delivery(
            delivery_id=batch_id,
            source=source,
            dataset=dataset,
            dt=day,
            raw_path=raw_path,
            size=size,
            sha256=digest,
            lines=len(records),
            extra={"stream_positions": json.dumps(positions, sort_keys=True)},
        )
    )
    return batch_id


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="microseconds")
