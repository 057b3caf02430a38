"""Per-file DuckDB read expressions for each delivery format, and the CSV header check.

Every reader yields the same shape: one VARCHAR-or-typed column per declared column (named
``src__<column>`` before casting), ``_record`` (1-based record number) and ``_bad_json`` for
lines that are not JSON. CSV cast and structure errors are captured by DuckDB's rejects table
with their line numbers; other formats cast with TRY_CAST and report failures per row.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gzip
import io
from dataclasses import dataclass

from adlake.config import ColumnConfig, DatasetConfig
from adlake.transform.types import duckdb_type

REJECTS_TABLE = "adlake_rejects"
REJECTS_SCAN = "adlake_reject_scans"
HEADER_PROBE_BYTES = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_ENCODINGS = {"utf-8": "utf-8", "latin-1": "latin-1", "utf-16": "utf-16"}


@dataclass(frozen=True)
class FileRead:
    """How to read one file: the SQL relation, and notes about its header for the user."""

    sql: str
    typed_by_reader: bool
    header: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class FileProblem(ValueError):
    """A whole file cannot be read as declared; the message names the file, line and fix."""


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def source_name(name: str, column: ColumnConfig) -> str:
    """The header name or JSON path a declared column is read from."""
    return column.source or name


def read_header(path: str, spec: DatasetConfig, display: str) -> list[str]:
    """The header fields of a CSV file; FileProblem when there is none or it cannot be decoded."""
    return _probe_header(path, spec, display)[0]


def _probe_header(path: str, spec: DatasetConfig, display: str) -> tuple[list[str], bool]:
    """The header fields, and whether anything but blank lines follows the header."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            head = raw.read(HEADER_PROBE_BYTES)
    except (OSError, EOFError) as exc:
        raise FileProblem(
            f"{display}: cannot be read ({exc}). Fix: ask the partner to re-send it"
        ) from None
    first, _, rest = head.partition(b"\n")
    first = first.rstrip(b"\r")
    has_rows = len(head) == HEADER_PROBE_BYTES or bool(rest.strip(b"\r\n\t \x00"))
    if not first.strip():
        raise FileProblem(
            f"{display} line 1: no header line; the file must start with column names. Fix: "
            "ask the partner to re-send it with a header line"
        )
    encoding = _ENCODINGS[spec.csv.encoding]
    try:
        text = codecs.decode(first, encoding)
    except UnicodeDecodeError as exc:
        raise FileProblem(
            f"{display} line 1: the header is not valid {spec.csv.encoding} (byte {exc.start}). "
            "Fix: set csv.encoding to the file's encoding (utf-8, latin-1 or utf-16)"
        ) from None
    reader = csv.reader(
        io.StringIO(text.lstrip("\ufeff")), delimiter=spec.csv.delimiter, quotechar=spec.csv.quote
    )
    return [field.strip() for field in next(reader, [])], has_rows


def csv_read(path: str, spec: DatasetConfig, display: str) -> FileRead:
    """The read_csv relation for one CSV file, after checking its header against the spec."""
    header, has_rows = _probe_header(path, spec, display)
    wanted = {source_name(name, col): name for name, col in spec.columns.items()}
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise FileProblem(
            f"{display} line 1: the header repeats column(s) {', '.join(duplicates)}. "
            "Fix: ask the partner to fix the header"
        )
    missing = [source for source in wanted if source not in header]
    if missing:
        hint = _delimiter_hint(header, spec.csv.delimiter) or _renamed_hint(missing, header, wanted)
        raise FileProblem(
            f"{display} line 1: the header lacks declared column(s) {', '.join(missing)}; it has "
            f"{len(header)} field(s): {', '.join(header)[:200]}. Fix: "
            + (
                hint
                or "ask the partner to add them, or remove them from this dataset's columns "
                "in adlake.yaml"
            )
        )
    extra = [h for h in header if h not in wanted]
    columns = ", ".join(
        f"{sql_string(h)}: "
        + (sql_string(duckdb_type(spec.columns[wanted[h]])) if h in wanted else "'VARCHAR'")
        for h in header
    )
    options = (
        f"header=true, delim={sql_string(spec.csv.delimiter)}, quote={sql_string(spec.csv.quote)}, "
        f"escape={sql_string(spec.csv.quote)}, columns={{{columns}}}, "
        f"encoding={sql_string(spec.csv.encoding)}, strict_mode=true, store_rejects=true, "
        f"rejects_table='{REJECTS_TABLE}', rejects_scan='{REJECTS_SCAN}', auto_detect=false"
    )
    projection = ", ".join(f'"{source}" AS "src__{name}"' for source, name in wanted.items())
    sql = (
        f"SELECT {projection}, ordinality AS _record, false AS _bad_json "
        f"FROM read_csv({sql_string(path)}, {options}) WITH ORDINALITY"
    )
    warnings: tuple[str, ...] = ()
    if extra:
        warnings += (
            f"{display}: extra column(s) {', '.join(extra)} not in adlake.yaml were ignored; "
            "declare them under this dataset's columns to keep them",
        )
    if not has_rows:
        warnings += (
            f"{display}: the file has a header but no rows; nothing was read from it. If rows "
            "were expected, ask the partner to re-send it",
        )
    return FileRead(sql, typed_by_reader=True, header=tuple(header), warnings=warnings)


def _delimiter_hint(header: list[str], delimiter: str) -> str | None:
    if len(header) != 1:
        return None
    for candidate in _DELIMITERS:
        if candidate != delimiter and candidate in header[0]:
            shown = "\\t" if candidate == "\t" else candidate
            return (
                f"the file looks '{shown}'-delimited, not '{delimiter}'; set csv.delimiter: "
                f"'{shown}' for this dataset or ask the partner for '{delimiter}'"
            )
    return None


def _renamed_hint(missing: list[str], header: list[str], wanted: dict[str, str]) -> str | None:
    """Suggest ``source:`` for declared columns whose header field is spelled differently."""
    pairs = []
    for source in missing:
        folded = [h for h in header if h.casefold() == source.casefold()]
        close = folded or difflib.get_close_matches(source, header, n=1, cutoff=0.8)
        if close:
            pairs.append(f"{wanted[source]}: source: {close[0]}")
    if not pairs:
        return None
    return (
        "the header spells them differently; set each column's source in adlake.yaml ("
        + "; ".join(pairs)
        + ") or ask the partner for the declared names"
    )


_REJECT_FIXES = {
    "CAST": "correct the value, or declare the column with a type that holds it",
    "MISSING COLUMNS": "the line has fewer fields than the header; ask the partner to fix the "
    "line (a field with the delimiter or a line break must be quoted)",
    "TOO MANY COLUMNS": "the line has more fields than the header; ask the partner to quote "
    "fields that contain the delimiter",
    "UNQUOTED VALUE": "a quoted field is not closed properly, so the lines after it may have "
    "been read into this one; ask the partner to fix the quoting (a quote inside a quoted field "
    "is written twice)",
    "LINE SIZE OVER MAXIMUM": "the line is longer than DuckDB reads (2 MB); ask the partner to "
    "check it",
    "INVALID ENCODING": "set csv.encoding to the encoding the partner writes (utf-8, latin-1 or "
    "utf-16), or ask the partner for {encoding}",
}


def reject_fix(kind: str, column: ColumnConfig | None, spec: DatasetConfig) -> str:
    """What to do about one line the CSV reader rejected, by DuckDB's error type."""
    if kind == "CAST" and column is not None:
        examples = {
            "date": "2026-03-10",
            "timestamp": "2026-03-10 14:30:00",
            "timestamp_tz": "2026-03-10T14:30:00Z",
            "decimal": "1234.56 (a point, no thousands separator)",
            "double": "1234.56",
            "integer": "42",
            "bigint": "42",
            "boolean": "true or false",
        }
        if column.type in examples:
            return (
                f"write {column.type} values like {examples[column.type]}, or declare the column "
                "as type string"
            )
    fix = _REJECT_FIXES.get(kind, "ask the partner to correct the line")
    return fix.format(encoding=spec.csv.encoding)


def jsonl_read(path: str, spec: DatasetConfig) -> FileRead:
    """Newline-delimited JSON read line by line, so a bad line is reported with its number."""
    doc = "CASE WHEN json_valid(_line) THEN _line END"
    projection = ", ".join(
        f'({doc}) ->> {sql_string("$." + source_name(name, col))} AS "src__{name}"'
        for name, col in spec.columns.items()
    )
    options = (
        "header=false, columns={'_line': 'VARCHAR'}, delim=chr(30), quote='', escape='', "
        f"store_rejects=true, rejects_table='{REJECTS_TABLE}', rejects_scan='{REJECTS_SCAN}', "
        "auto_detect=false"
    )
    sql = (
        f"SELECT {projection}, ordinality AS _record, NOT coalesce(json_valid(_line), false) "
        f"AS _bad_json FROM read_csv({sql_string(path)}, {options}) WITH ORDINALITY "
        "WHERE _line IS NOT NULL AND trim(_line) <> ''"
    )
    return FileRead(sql, typed_by_reader=False)


def parquet_read(path: str, spec: DatasetConfig) -> FileRead:
    """A Parquet delivery; columns are matched by name and cast like JSON values."""
    projection = ", ".join(
        f'"{source_name(name, col)}" AS "src__{name}"' for name, col in spec.columns.items()
    )
    sql = (
        f"SELECT {projection}, ordinality AS _record, false AS _bad_json "
        f"FROM read_parquet({sql_string(path)}) WITH ORDINALITY"
    )
    return FileRead(sql, typed_by_reader=False)


def file_read(path: str, spec: DatasetConfig, display: str) -> FileRead:
    """The read relation for one delivered file in the dataset's format."""
    if spec.format == "csv":
        return csv_read(path, spec, display)
    if spec.format == "jsonl":
        return jsonl_read(path, spec)
    return parquet_read(path, spec)
