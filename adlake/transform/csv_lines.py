"""The physical line a CSV record starts on, so quarantine names the line a person sees.

DuckDB numbers the lines it rejects by record (a quoted field that holds line breaks counts as
one line) and the rows it accepts by ordinal (blank and rejected lines not counted). Neither is
the line number an editor shows once a field holds a newline or the file has blank lines. This
reads the file once, only as far as the last record asked for: whole blocks at a time while no
field can span lines (counted and checked by bytes methods and RE2, never line by line in
Python), with the ``csv`` module from the first block where one might.
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import zlib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from adlake.config import DatasetConfig
from adlake.transform.readers import REJECTS_SCAN, REJECTS_TABLE, sql_string

BLOCK_BYTES = 4 * 1024 * 1024
_ALL_BYTES = bytes(range(256))


@dataclass
class RecordLines:
    """Where records start: by DuckDB reject line, and by accepted-row ordinal."""

    rejected: dict[int, int] = field(default_factory=dict)
    accepted: dict[int, int] = field(default_factory=dict)


@dataclass
class _Scan:
    """Progress through a file: the next record's DuckDB line and physical line, rows accepted."""

    rejected: list[int]  # every line DuckDB rejected in this file, sorted
    want_rejected: list[int]  # sorted
    want_accepted: deque[int]  # ordinals still to place, sorted
    found: RecordLines
    record: int = 1  # DuckDB's line number of the next record (header = 1, blank lines count)
    physical: int = 1  # the physical line the next record starts on
    accepted: int = 0  # rows accepted before the next record

    def done(self) -> bool:
        """Whether every record asked for has been placed."""
        return not self.want_accepted and len(self.found.rejected) == len(self.want_rejected)

    def take(self, blank: bool) -> None:
        """Account for the record (or blank line) that starts on ``self.physical``."""
        record = self.record
        self.record += 1
        if record == 1 or blank:
            return
        index = bisect.bisect_left(self.want_rejected, record)
        if index < len(self.want_rejected) and self.want_rejected[index] == record:
            self.found.rejected[record] = self.physical
        index = bisect.bisect_left(self.rejected, record)
        if index < len(self.rejected) and self.rejected[index] == record:
            return
        self.accepted += 1
        if self.want_accepted and self.want_accepted[0] == self.accepted:
            self.found.accepted[self.want_accepted.popleft()] = self.physical

    def take_simple_block(self, lines: int) -> None:
        """Account for ``lines`` lines that are each one whole, non-blank record."""
        first, last = self.record, self.record + lines - 1
        shift = self.physical - first
        start = bisect.bisect_left(self.want_rejected, first)
        for record in self.want_rejected[start : bisect.bisect_right(self.want_rejected, last)]:
            self.found.rejected[record] = record + shift
        lo = bisect.bisect_left(self.rejected, first)
        hi = bisect.bisect_right(self.rejected, last)
        header = 1 if first == 1 else 0
        accepted_here = lines - header - (hi - lo)
        while self.want_accepted and self.want_accepted[0] <= self.accepted + accepted_here:
            ordinal = self.want_accepted.popleft()
            # the smallest record with (ordinal - accepted) accepted rows up to it
            base = first + header + ordinal - self.accepted - 1
            record = base
            while True:
                moved = base + bisect.bisect_right(self.rejected, record, lo, hi) - lo
                if moved == record:
                    break
                record = moved
            self.found.accepted[ordinal] = record + shift
        self.accepted += accepted_here
        self.record += lines
        self.physical += lines


def record_lines(
    path: str,
    spec: DatasetConfig,
    rejected: Iterable[int],
    want_rejected: Iterable[int] = (),
    want_accepted: Iterable[int] = (),
) -> RecordLines:
    """Physical start lines of some records of a delivered CSV file.

    ``rejected`` holds every line DuckDB rejected in the file (to skip them when counting
    accepted rows); ``want_rejected`` the rejected lines and ``want_accepted`` the accepted-row
    ordinals to place. Records that cannot be placed (a file that changed or cannot be read)
    are left out, and callers keep DuckDB's numbers for them.
    """
    scan = _Scan(
        rejected=sorted(set(rejected)),
        want_rejected=sorted(set(want_rejected)),
        want_accepted=deque(sorted(set(want_accepted))),
        found=RecordLines(),
    )
    if scan.done():
        return scan.found
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            offset = _simple_blocks(raw, spec, scan)
            if offset is not None and not scan.done():
                raw.seek(offset)
                _parse_rest(raw, spec, scan)
    except (OSError, EOFError, zlib.error, csv.Error, UnicodeError):
        pass
    return scan.found


def _simple_blocks(raw: io.BufferedIOBase, spec: DatasetConfig, scan: _Scan) -> int | None:
    """Count whole blocks in which every line is one record; the offset where that stops.

    Returns None at the end of the file (or when done), else the byte offset of the first
    block with a blank line or a line with an odd number of quotes (a field may span lines).
    """
    if spec.csv.encoding == "utf-16":
        return 0
    quote = spec.csv.quote.encode("latin-1")
    offset, carry = 0, b""
    while not scan.done():
        chunk = raw.read(BLOCK_BYTES)
        block = carry + chunk
        cut = block.rfind(b"\n") + 1 if chunk else len(block)
        if not block:
            return None
        if cut == 0:
            carry = block
            continue
        whole = block[:cut]
        if _blank_line(whole) or (quote in whole and _odd_quotes_line(whole, quote)):
            return offset
        scan.take_simple_block(whole.count(b"\n") + (not whole.endswith(b"\n")))
        offset += cut
        carry = block[cut:]
        if not chunk:
            return None
    return None


def _blank_line(lines: bytes) -> bool:
    """Whether any of these lines is empty (RE2 finds one ten times faster than ``in`` does)."""
    if lines.startswith((b"\n", b"\r\n")):
        return True
    return pc.match_substring_regex(pa.array([lines], pa.binary()), r"\n\r?\n")[0].as_py()


def _odd_quotes_line(lines: bytes, quote: bytes) -> bool:
    """Whether any of these lines holds an odd number of quote characters.

    Keeping only quotes and line breaks leaves one run of quotes per line; removing pairs of
    quotes leaves a quote only where a run, and so a line, was odd. All of it runs in C.
    """
    kept = lines.translate(None, _ALL_BYTES.translate(None, quote + b"\n"))
    return quote in kept.replace(quote + quote, b"")


def _parse_rest(raw: io.BufferedIOBase, spec: DatasetConfig, scan: _Scan) -> None:
    """Parse the rest with the csv module, tracking the physical line each record starts on."""
    text = io.TextIOWrapper(raw, encoding=spec.csv.encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=spec.csv.delimiter, quotechar=spec.csv.quote)
    first = scan.physical
    for fields in reader:
        scan.take(blank=not fields)
        scan.physical = first + reader.line_num
        if scan.done():
            return


def place_quarantined_lines(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    deliveries: Mapping[str, str],
    staged: str | None,
) -> dict[str, RecordLines]:
    """Physical lines of every rejected and invalid CSV record of a clean run, by file path.

    Reads DuckDB's rejects table and the invalid rows of the staged Parquet (``staged``, a glob,
    None when nothing was staged), places them with :func:`record_lines`, and fills the
    ``adlake_record_lines(delivery_id, record, line)`` table with the lines of invalid rows.
    ``deliveries`` maps each read file's path to its delivery id.
    """
    con.execute(
        "CREATE OR REPLACE TABLE adlake_record_lines "
        "(delivery_id VARCHAR, record BIGINT, line BIGINT)"
    )
    if spec.format != "csv" or not deliveries:
        return {}
    rejected: dict[str, list[int]] = {}
    for path, line in con.execute(
        f"SELECT DISTINCT s.file_path, e.line FROM {REJECTS_TABLE} e JOIN {REJECTS_SCAN} s "
        "USING (scan_id, file_id) WHERE e.line IS NOT NULL"
    ).fetchall():
        rejected.setdefault(path, []).append(int(line))
    invalid: dict[str, list[int]] = {}
    if staged is not None:
        for delivery_id, record in con.execute(
            f"SELECT _delivery_id, _record FROM read_parquet({sql_string(staged)}) "
            "WHERE _error IS NOT NULL"
        ).fetchall():
            invalid.setdefault(delivery_id, []).append(int(record))
    placed: dict[str, RecordLines] = {}
    rows = []
    for path, delivery_id in deliveries.items():
        lines_rejected, records = rejected.get(path, []), invalid.get(delivery_id, [])
        if lines_rejected or records:
            placed[path] = record_lines(path, spec, lines_rejected, lines_rejected, records)
            rows += [(delivery_id, r, line) for r, line in placed[path].accepted.items()]
    if rows:
        delivery_ids, records, lines = zip(*rows, strict=True)
        table = pa.table({"delivery_id": delivery_ids, "record": records, "line": lines})
        con.register("adlake_record_lines_rows", table)
        con.execute("INSERT INTO adlake_record_lines SELECT * FROM adlake_record_lines_rows")
        con.unregister("adlake_record_lines_rows")
    return placed
