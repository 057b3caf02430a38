"""A database table's current state: change batches applied, then published as clean Parquet.

The state of record is ``state/<source>/<table>/current.parquet`` (clean columns plus the
``_position``/``_seq`` of the change that wrote each row) and ``applied.json`` (the last
position applied, the snapshot it started from, a fingerprint of the declared columns). Each
refresh applies the raw change batches past that position and republishes the clean table:
``clean/<source>/<table>/dt=<date of partition_column>/data.parquet``, or one
``clean/<source>/<table>/data.parquet`` without a partition column.

It starts over from the newest snapshot batch when there is one it has not started from (a
first run, a re-snapshot), and from every batch when the declared columns changed (a column
added in adlake.yaml is then filled from the row images raw kept). Publishing goes clean
first, then the state, then ``applied.json``: a crash in between repeats the same apply, which
gives the same result (latest position wins, replays are harmless).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import duckdb

from adlake.config import DatasetConfig, EngineConfig
from adlake.databases.layout import ChangeFile, change_files, extract_files, table_state_prefix
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix, partition_dir
from adlake.transform.changes_apply import STATE_COLUMNS, ApplyOutcome, apply_changes
from adlake.transform.clean import (
    CLEAN_FILE,
    configure_engine,
    load_hmac_keys,
    unprotected_strings,
)
from adlake.transform.extracts_apply import apply_extracts
from adlake.transform.pii_scan import clear_pii_counts
from adlake.transform.preview import markdown_preview
from adlake.transform.readers import sql_string

NO_DATE = "1970-01-01"  # the partition of rows whose partition column is NULL


@dataclass
class StateOutcome:
    """What one refresh did, for the asset's metadata and checks."""

    apply: ApplyOutcome = field(default_factory=ApplyOutcome)
    files_applied: int = 0
    started_over: str = ""  # why the state was rebuilt, '' when it was updated in place
    position: int | None = None
    rows: int = 0
    published: bool = False
    partitions: list[str] = field(default_factory=list)
    removed_partitions: list[str] = field(default_factory=list)
    clean_paths: list[str] = field(default_factory=list)
    clear_pii: dict[str, int] = field(default_factory=dict)
    preview: str = ""
    problems: list[str] = field(default_factory=list)


def fingerprint(spec: DatasetConfig) -> str:
    """A digest of what shapes the state: declared columns, their types and PII, the key."""
    shape = {
        "columns": {name: column.model_dump() for name, column in spec.columns.items()},
        "primary_key": spec.primary_key,
        "partition": spec.partition.column,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


def _plan(
    files: list[ChangeFile], applied: dict | None, shape: str
) -> tuple[list[ChangeFile], bool, str]:
    """(batches to apply, whether the old state is kept, why it is not)."""
    snapshots = [f for f in files if f.snapshot]
    newest_snapshot = snapshots[-1].last if snapshots else None
    if applied is None:
        why = "first apply"
    elif applied["fingerprint"] != shape:
        why = "the declared columns changed: rebuilt from the raw change batches"
    elif newest_snapshot is not None and newest_snapshot > applied["snapshot"]:
        why = f"a new snapshot at position {newest_snapshot}"
    else:
        return [f for f in files if f.last > applied["position"]], True, ""
    start = newest_snapshot if newest_snapshot is not None else -1
    return [f for f in files if f.last >= start], False, why


def refresh_current_state(
    store: Lake,
    source: str,
    dataset: str,
    table_name: str,
    spec: DatasetConfig,
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
    *,
    up_to: int | None = None,
) -> StateOutcome:
    """Apply the table's new change batches (those ending at or before ``up_to``) and publish.

    ``table_name`` is the table's name in the source (as change records carry it).
    """
    files = [f for f in change_files(store, source, dataset) if up_to is None or f.last <= up_to]

    def apply(con: duckdb.DuckDBPyConnection, old: str | None, todo: list, out: str):
        return apply_changes(con, spec, table_name, old, [path for _, path in todo], out)

    return _refresh(store, source, dataset, spec, hmac_keys, engine, files, apply)


def refresh_extracted_state(
    store: Lake,
    source: str,
    dataset: str,
    incremental: bool,
    spec: DatasetConfig,
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
) -> StateOutcome:
    """Apply the table's new batch extracts and publish.

    A full extract is the whole table (like a snapshot: the state starts over from the newest
    one, so rows deleted at the source disappear); incremental extracts are upserted into it.
    """

    def apply(con: duckdb.DuckDBPyConnection, old: str | None, todo: list, out: str):
        return apply_extracts(con, spec, incremental, old, todo, out)

    files = extract_files(store, source, dataset)
    return _refresh(store, source, dataset, spec, hmac_keys, engine, files, apply)


Applier = Callable[
    [duckdb.DuckDBPyConnection, str | None, list[tuple[int, str]], str], ApplyOutcome
]


def _refresh(
    store: Lake,
    source: str,
    dataset: str,
    spec: DatasetConfig,
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
    files: list[ChangeFile],
    apply: Applier,
) -> StateOutcome:
    """Plan, apply (old state + new files, in scratch), guard, publish clean, then the state."""
    outcome = StateOutcome()
    state_dir = table_state_prefix(source, dataset)
    applied_path, current_path = f"{state_dir}/applied.json", f"{state_dir}/current.parquet"
    applied = store.read_json(applied_path) if store.exists(applied_path) else None
    shape = fingerprint(spec)
    todo, keep, outcome.started_over = _plan(files, applied, shape)
    outcome.position = applied["position"] if applied else None
    if keep and not todo:
        outcome.rows = applied["rows"] if applied else 0
        return outcome
    with store.scratch() as scratch:
        local = [(f.last, store.localize(f.path, scratch)) for f in todo]
        old = store.localize(current_path, scratch) if keep else None
        out = os.path.join(scratch, "current.parquet")
        with duckdb.connect(":memory:") as con:
            configure_engine(con, scratch, engine)
            load_hmac_keys(con, spec, hmac_keys)
            outcome.apply = apply(con, old, local, out)
            outcome.problems.extend(outcome.apply.problems)
            outcome.rows = outcome.apply.rows
            outcome.files_applied = len(todo)
            outcome.clear_pii = clear_pii_counts([out], unprotected_strings(spec))
            if outcome.clear_pii:
                return outcome  # the state and clean stay as they were; the check fails
            _publish_clean(con, store, source, dataset, spec, out, scratch, outcome)
        outcome.preview = markdown_preview([out])
        store.publish(out, current_path)
    position = max([f.last for f in todo] + ([applied["position"]] if keep and applied else []))
    snapshot = max([f.last for f in todo if f.snapshot], default=None)
    if snapshot is None:
        snapshot = applied["snapshot"] if keep and applied else -1
    store.write_json(
        applied_path,
        {"position": position, "snapshot": snapshot, "fingerprint": shape, "rows": outcome.rows},
    )
    outcome.position = position
    return outcome


def _publish_clean(
    con: duckdb.DuckDBPyConnection,
    store: Lake,
    source: str,
    dataset: str,
    spec: DatasetConfig,
    state_file: str,
    scratch: str,
    outcome: StateOutcome,
) -> None:
    """Write the clean table from the state file: per-day files, or one unpartitioned file."""
    hidden = ", ".join(name for name, _ in STATE_COLUMNS)
    rows = f"SELECT * EXCLUDE ({hidden}) FROM read_parquet({sql_string(state_file)})"
    prefix = dataset_prefix(Zone.CLEAN, source, dataset)
    column = spec.partition.column
    if column is None:
        staged = os.path.join(scratch, CLEAN_FILE)
        con.execute(f"COPY ({rows}) TO {sql_string(staged)} (FORMAT parquet, COMPRESSION zstd)")
        path = f"{prefix}/{CLEAN_FILE}"
        store.publish(staged, path)
        outcome.clean_paths.append(path)
        outcome.published = True
        return
    day = f"coalesce(CAST(\"{column}\" AS DATE), DATE '{NO_DATE}')"
    missing = con.execute(
        f'SELECT count(*) FROM read_parquet({sql_string(state_file)}) WHERE "{column}" IS NULL'
    ).fetchone()[0]
    if missing:
        outcome.problems.append(
            f"{missing:,} row(s) have no {column}; they are in partition dt={NO_DATE}"
        )
    folder = os.path.join(scratch, "clean")
    con.execute(
        f"COPY (SELECT *, {day} AS dt FROM ({rows})) TO {sql_string(folder)} "
        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt), FILENAME_PATTERN 'data')"
    )
    days = sorted(name.removeprefix("dt=") for name in os.listdir(folder))
    for dt in days:
        path = f"{partition_dir(Zone.CLEAN, source, dataset, dt)}/{CLEAN_FILE}"
        store.publish(os.path.join(folder, f"dt={dt}", "data0.parquet"), path)
        outcome.clean_paths.append(path)
    for stored in store.list_files(prefix):
        dt = stored.path.removeprefix(prefix + "/").split("/", 1)[0].removeprefix("dt=")
        if stored.path.endswith(f"/{CLEAN_FILE}") and dt not in days:
            store.delete(stored.path)  # every row of that day is gone (deleted or moved)
            outcome.removed_partitions.append(dt)
    outcome.partitions = days
    outcome.published = True
