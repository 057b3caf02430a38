"""Run a segment's SQL over the clean zone and shape the result into a membership table.

The SQL names catalog tables as ``<source>.<dataset>``; every clean dataset is exposed under that
name as a view over its Parquet through the lake's pyarrow filesystem, so the same SQL runs on a
local folder and on S3 without DuckDB's httpfs extension. The result keeps one row per member:
its identifiers (renamed to adlake's match-field names), one boolean per consent purpose, and
``member``, a SHA-256 over the identifiers that deltas compare.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from adlake.config.segments import SegmentConfig
from adlake.lake import Lake
from adlake.lake.sql import expose_clean

# identifiers the clean zone always holds hashed: a clear value here means the SQL read raw data
HASHED_ONLY = ("email", "phone", "phone_digits", "first_name", "last_name")
CONSENT_PREFIX = "consent__"


class SegmentError(ValueError):
    """The segment's SQL or its result is unusable; the message names the segment and the fix."""


def segment_members(
    lake: Lake, datasets: list[tuple[str, str]], name: str, segment: SegmentConfig
) -> pa.Table:
    """The members of ``segment``: identifiers, consent flags and the ``member`` fingerprint."""
    con = duckdb.connect(":memory:")
    try:
        expose_clean(con, lake, datasets)
        try:
            con.execute(f"CREATE TEMP TABLE _segment AS {segment.sql}")
        except duckdb.Error as exc:
            raise SegmentError(
                f"segment '{name}': its SQL failed: {str(exc).splitlines()[0]}. Fix: correct "
                "segments.{name}.sql; tables are <source>.<dataset> of the clean zone"
            ) from None
        columns = [row[0] for row in con.execute("DESCRIBE _segment").fetchall()]
        _check_columns(name, segment, columns)
        selected = [
            f'CAST("{column}" AS VARCHAR) AS "{field}"'
            for field, column in segment.identifiers.items()
        ]
        selected += [
            f'coalesce(CAST("{column}" AS BOOLEAN), false) AS "{CONSENT_PREFIX}{purpose}"'
            for purpose, column in segment.consent.items()
        ]
        fields = list(segment.identifiers)
        key = " || '|' || ".join(f"coalesce(\"{f}\", '')" for f in fields)
        empty = " AND ".join(f'"{f}" IS NULL' for f in fields)
        table = con.sql(
            f"SELECT sha256({key}) AS member, * FROM (SELECT DISTINCT {', '.join(selected)} "
            f"FROM _segment) WHERE NOT ({empty}) "
            "ORDER BY member"
        ).to_arrow_table()
        _check_hashed(con, name, segment)
    finally:
        con.close()
    return _first_per_member(table)


def _check_columns(name: str, segment: SegmentConfig, columns: list[str]) -> None:
    wanted = {**segment.identifiers, **segment.consent}
    missing = sorted({c for c in wanted.values() if c not in columns})
    if missing:
        raise SegmentError(
            f"segment '{name}': its SQL returns no column {', '.join(missing)} (it returns "
            f"{', '.join(columns)}). Fix: select them, or change segments.{name}.identifiers / "
            "consent"
        )


def _check_hashed(con: duckdb.DuckDBPyConnection, name: str, segment: SegmentConfig) -> None:
    """Refuse clear e-mails, phones and names: a segment only ever holds their hashes."""
    for field in HASHED_ONLY:
        column = segment.identifiers.get(field)  # type: ignore[call-overload]
        if column is None:
            continue
        clear = con.execute(
            f'SELECT count(*) FROM _segment WHERE "{column}" IS NOT NULL AND NOT '
            f"regexp_matches(CAST(\"{column}\" AS VARCHAR), '^[0-9a-f]{{64}}$')"
        ).fetchone()[0]
        if clear:
            raise SegmentError(
                f"segment '{name}': column '{column}' ({field}) holds {clear} value(s) that are "
                "not SHA-256 hex. Fix: select the hashed column of a clean dataset (PII policy "
                "sha256), never raw data"
            )


def _first_per_member(table: pa.Table) -> pa.Table:
    """One row per member fingerprint; a member with consent in any of its rows has it."""
    if table.num_rows == 0:
        return table
    con = duckdb.connect(":memory:")
    try:
        con.register("t", table)
        consent = [c for c in table.column_names if c.startswith(CONSENT_PREFIX)]
        others = [c for c in table.column_names if c != "member" and c not in consent]
        parts = [f'any_value("{c}") AS "{c}"' for c in others]
        parts += [f'bool_or("{c}") AS "{c}"' for c in consent]
        return con.sql(
            f"SELECT member, {', '.join(parts)} FROM t GROUP BY member ORDER BY member"
        ).to_arrow_table()
    finally:
        con.close()
