"""The clean transform on DuckDB: raw deliveries -> typed, PII-hashed, deduplicated Parquet.

A run has two phases. Phase one (:mod:`~adlake.transform.staging`) reads every delivery once in
one streaming query that casts, validates and attributes each row to a daily partition, and
stages the rows by day in scratch. Phase two (:mod:`~adlake.transform.finishing`) finishes the
days in parallel: deduplicated on the primary key, PII-hashed, written as zstd Parquet in
delivery order, so a re-run writes byte-identical files. Rows that fail casting or validation
go to quarantine (:mod:`~adlake.transform.quarantine`) with file, line and reason, their PII
protected there exactly as in the clean zone. Clean and quarantine files are published
atomically, and a clean file holding clear PII is never published.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow.dataset as ds

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, partition_dir
from adlake.transform import pii
from adlake.transform.clean_model import (
    CLEAN_FILE,
    QUARANTINE_FILE,
    CleanInput,
    CleanOutcome,
    DatasetRef,
    DeliveryRead,
    PartitionOutcome,
    clean_schema,
    clean_values,
    output_columns,
)
from adlake.transform.csv_lines import place_quarantined_lines
from adlake.transform.finishing import Finisher
from adlake.transform.pii_scan import clear_pii_counts
from adlake.transform.preview import markdown_preview
from adlake.transform.quarantine import (
    extra_rows,
    problem_row,
    register_extra,
    reject_rows,
    write_quarantine,
)
from adlake.transform.readers import (
    REJECTS_SCAN,
    REJECTS_TABLE,
    FileProblem,
    FileRead,
    file_read,
    sql_string,
)
from adlake.transform.staging import Stager, stage_rows, staged_schema
from adlake.transform.types import clean_type

__all__ = [
    "CLEAN_FILE",
    "QUARANTINE_FILE",
    "CleanInput",
    "CleanOutcome",
    "DatasetRef",
    "PartitionOutcome",
    "clean_partitions",
    "clean_schema",
    "output_columns",
]


def clean_partitions(
    lake: Lake,
    ref: DatasetRef,
    inputs: Sequence[CleanInput],
    targets: Sequence[str],
    hmac_keys: Mapping[str, bytes],
    engine: EngineConfig,
) -> CleanOutcome:
    """Clean the target partitions (YYYY-MM-DD) from these raw deliveries and publish them.

    Each target partition is replaced as a whole, even when no row belongs to it any more, so
    a re-run gives the same clean zone. Only rows attributed to a target are written.
    """
    spec = ref.spec
    days = sorted(set(targets))
    outcome = CleanOutcome(schema=clean_schema(spec))
    with lake.scratch() as scratch, duckdb.connect(":memory:") as con:
        configure_engine(con, scratch, engine)
        load_hmac_keys(con, spec, hmac_keys)
        reads, problems = open_reads(spec, inputs, outcome)
        for folder in ("stage", "out"):
            os.makedirs(f"{scratch}/{folder}", exist_ok=True)
        with outcome.timed("stage"):
            stager, reads, unreadable = _stage(con, scratch, spec, reads, days, inputs, engine)
        for problem in unreadable:
            outcome.file_problems.append(str(problem["reason"]))
        problems += unreadable
        con.execute("SET preserve_insertion_order=true")
        schema = staged_schema(con, spec, stager)
        run = DayRun(con, lake, ref, scratch, inputs, lambda day: stager.scan(day, schema))
        finisher = Finisher(
            spec,
            stager,
            schema,
            clean_values(spec, inputs),
            in_memory_bytes=_bytes(engine.memory_limit) // (4 * engine.threads),
        )
        with outcome.timed("finish"), ThreadPoolExecutor(max_workers=engine.threads) as pool:
            # one cursor per day, made here: a connection is used by one thread at a time
            cleaning = [
                pool.submit(finisher.write, day, run.clean_tmp(day), con.cursor()) for day in days
            ]
            # placing quarantined lines reads the raw files: overlap it with the cleaning
            paths = {item.path: item.delivery_id for _, item, _ in reads}
            placed = place_quarantined_lines(con, spec, paths, stager.invalid_path)
            extra = problems + (reject_rows(con, spec, reads, hmac_keys, placed) if reads else [])
            register_extra(con, extra)
            written = [future.result() for future in cleaning]
        with outcome.timed("publish"):
            for day, counts in zip(days, written, strict=True):
                outcome.partitions.append(publish_day(run, day, *counts))
    return outcome


def open_reads(
    spec: DatasetConfig, inputs: Sequence[CleanInput], outcome: CleanOutcome
) -> tuple[list[DeliveryRead], list[dict[str, object]]]:
    """How to read each delivery, and the quarantine rows of those that cannot be read.

    Header warnings and file problems are added to ``outcome``.
    """
    reads: list[DeliveryRead] = []
    problems: list[dict[str, object]] = []
    for rank, item in enumerate(inputs):
        try:
            read = file_read(item.path, spec, item.display)
        except FileProblem as exc:
            outcome.file_problems.append(str(exc))
            problems.append(problem_row(item, str(exc), spec))
            continue
        outcome.warnings.extend(read.warnings)
        reads.append((rank, item, read))
    return reads, problems


# what DuckDB says when it stops a whole query on one CSV file, and what that means for a user
UNREADABLE_CSV = {
    "CSV Parser state machine reached an invalid state": (
        "the CSV reader cannot follow the file's structure (most often its line endings "
        "switch between \\n and \\r\\n). Fix: ask the partner to re-send it with one kind of "
        "line ending, or convert it (dos2unix) and drop it into landing again"
    ),
    "Invalid unicode (byte sequence mismatch)": (
        "a field holds bytes that are not valid {encoding}. Fix: set csv.encoding to the "
        "file's encoding, or ask the partner to re-send it as {encoding}"
    ),
}


def _unreadable(exc: duckdb.Error) -> str | None:
    """The user's reason for a DuckDB error that stops a whole CSV read, else None."""
    return next((why for marker, why in UNREADABLE_CSV.items() if marker in str(exc)), None)


def _stage(
    con: duckdb.DuckDBPyConnection,
    scratch: str,
    spec: DatasetConfig,
    reads: list[DeliveryRead],
    days: Sequence[str],
    inputs: Sequence[CleanInput],
    engine: EngineConfig,
) -> tuple[Stager, list[DeliveryRead], list[dict[str, object]]]:
    """Stage the rows of every readable delivery; the reads staged, the quarantine rows of the
    files that could not be read.

    DuckDB's strict CSV reader stops a whole query on some files (line endings that switch
    between \\n and \\r\\n inside the file, invalid UTF-8 inside a field). Then each CSV is
    tried alone, those that cannot be read become file problems (quarantined whole, with the
    fix), and staging starts over from nothing without them, so no row is staged or rejected
    twice.
    """
    unparsed: list[dict[str, object]] = []
    for attempt in range(2):
        stager = Stager(f"{scratch}/stage/{attempt}")
        os.makedirs(stager.folder, exist_ok=True)
        try:
            with stager:
                if reads and days:
                    stage_rows(con, stager, spec, reads, days, inputs, _bytes(engine.memory_limit))
            return stager, reads, unparsed
        except duckdb.InvalidInputException as exc:
            if attempt or _unreadable(exc) is None:
                raise
        kept = []
        for read in reads:
            why = _why_unreadable(con, read[2])
            if why is None:
                kept.append(read)
                continue
            reason = why.format(encoding=spec.csv.encoding)
            unparsed.append(problem_row(read[1], f"{read[1].display}: {reason}", spec))
        reads = kept
        con.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}")
        con.execute(f"DROP TABLE IF EXISTS {REJECTS_SCAN}")
    raise AssertionError("unreachable")  # pragma: no cover


def _why_unreadable(con: duckdb.DuckDBPyConnection, read: FileRead) -> str | None:
    """Why DuckDB cannot read the file through to its end, or None when it can."""
    try:
        for _ in con.sql(f"SELECT * FROM ({read.sql})").to_arrow_reader(100_000):
            pass  # every value is built: a count alone would skip the values that fail
    except duckdb.InvalidInputException as exc:
        if (why := _unreadable(exc)) is not None:
            return why
        raise
    return None


@dataclass(frozen=True)
class DayRun:
    """What publishing the days of one clean run needs, whichever engine cleaned them.

    ``con`` holds the run's HMAC keys, rejected lines (``adlake_quarantine_extra``) and record
    lines; ``staged(day)`` gives a day's staged rows, of which the invalid go to quarantine.
    """

    con: duckdb.DuckDBPyConnection
    lake: Lake
    ref: DatasetRef
    scratch: str
    labels: Sequence[CleanInput]
    staged: Callable[[str], ds.Dataset]

    def clean_tmp(self, day: str) -> str:
        """Where phase two writes a day's clean file, in scratch."""
        return f"{self.scratch}/out/{day}.parquet"


def unprotected_strings(spec: DatasetConfig) -> list[str]:
    """Clean string columns without a PII policy: where clear PII could slip through.

    Columns declared ``pii_scan: false`` (known not to be personal data) are left out.
    """
    return [
        name
        for name in output_columns(spec)
        if spec.columns[name].pii is None
        and spec.columns[name].pii_scan
        and clean_type(spec.columns[name]) == "VARCHAR"
    ]


def configure_engine(con: duckdb.DuckDBPyConnection, scratch: str, engine: EngineConfig) -> None:
    """UTC, memory and thread limits, spilling into ``scratch``: every DuckDB run's setup."""
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET memory_limit={sql_string(engine.memory_limit)}")
    con.execute(f"SET threads={engine.threads}")
    con.execute(f"SET temp_directory={sql_string(scratch + '/spill')}")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")


def load_hmac_keys(
    con: duckdb.DuckDBPyConnection, spec: DatasetConfig, keys: Mapping[str, bytes]
) -> None:
    """Bind the dataset's HMAC keys into ``adlake_hmac_keys`` (never into SQL text).

    A plain table of the in-memory database: the per-partition cursors must see it.
    """
    con.execute("CREATE TABLE adlake_hmac_keys (name VARCHAR, ipad BLOB, opad BLOB)")
    needed = {c.pii.secret for c in spec.columns.values() if c.pii and c.pii.policy == "hmac"}
    for name in sorted(n for n in needed if n):
        if name not in keys:
            raise KeyError(f"HMAC key '{name}' was not provided to the clean run")
        ipad, opad = pii.hmac_pads(keys[name])
        con.execute("INSERT INTO adlake_hmac_keys VALUES (?, ?, ?)", [name, ipad, opad])


def _bytes(size: str) -> int:
    """Bytes of a size written like EngineConfig.memory_limit (768MB, 1.5GiB)."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMG]i?B)", size.strip()).groups()
    power = "KMG".index(unit[0]) + 1
    return int(float(number) * (1024 if "i" in unit else 1000) ** power)


def publish_day(run: DayRun, day: str, valid: int, distinct: int, invalid: int) -> PartitionOutcome:
    """Write one day's quarantine file, if it has any row, and publish it with the clean file.

    The day's clean file is ``run.clean_tmp(day)``; ``valid``, ``distinct`` and ``invalid``
    count its staged rows, distinct keys among the valid and the invalid rows.
    """
    ref, lake, con = run.ref, run.lake, run.con
    quarantined = invalid + extra_rows(con, day)
    clean_tmp = run.clean_tmp(day)
    local_clean = clean_tmp
    metadata = f"parquet_file_metadata({sql_string(local_clean)})"
    rows_out = con.execute(f"SELECT coalesce(sum(num_rows), 0) FROM {metadata}").fetchall()[0][0]
    clean_path = f"{partition_dir(Zone.CLEAN, ref.source, ref.dataset, day)}/{CLEAN_FILE}"
    clean_bytes = os.path.getsize(local_clean)
    # the last guard before the clean zone: a partition with clear PII is never published.
    # Hashed columns are hex digests by construction; the unprotected strings are the risk.
    leaks = clear_pii_counts([local_clean], unprotected_strings(ref.spec))
    preview = "" if leaks or not rows_out else markdown_preview([local_clean])
    if not leaks:
        lake.publish(clean_tmp, clean_path)
    quarantine_dir = partition_dir(Zone.QUARANTINE, ref.source, ref.dataset, day)
    quarantine_path = f"{quarantine_dir}/{QUARANTINE_FILE}"
    if quarantined:
        quarantine_tmp = f"{run.scratch}/out/{day}.quarantine.parquet"
        write_quarantine(con, ref.spec, run.labels, run.staged(day), day, quarantine_tmp)
        lake.publish(quarantine_tmp, quarantine_path)
    else:
        lake.delete(quarantine_path)
    return PartitionOutcome(
        dt=day,
        rows_in=valid + quarantined,
        rows_out=int(rows_out),
        duplicates=valid - distinct,
        quarantined=quarantined,
        clean_path=clean_path,
        clean_bytes=clean_bytes,
        quarantine_path=quarantine_path if quarantined else None,
        clear_pii=leaks,
        preview=preview,
    )
