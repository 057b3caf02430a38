"""Apply batch extracts of a database table to its current-state table.

The state has the same shape as the one change capture builds
(:mod:`adlake.transform.changes_apply`): the clean columns (typed, PII protected), then
``_position`` (here the extract's ordinal) and ``_seq`` (the row's number in its extract file).
A full extract *is* the table, so the state becomes the newest one and rows deleted at the
source disappear. Incremental extracts hold only rows changed since the last watermark (minus
the overlap, which reads some rows again), so they are unioned with the old state and the latest
(position, seq) of each primary key wins: re-read rows never duplicate.

Each extract file is read with its own columns: a declared column missing from it (dropped or
renamed at the source) is NULL, undeclared columns are reported, and values that no longer fit
the declared type are counted per column, so a change at the source shows in the outcome's
problems instead of failing the run or passing silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from adlake.config import ColumnConfig, DatasetConfig
from adlake.transform import pii
from adlake.transform.changes_apply import STATE_COLUMNS, ApplyOutcome, state_columns
from adlake.transform.readers import sql_string
from adlake.transform.types import clean_type, duckdb_type

VIEW = "adlake_extract_rows"


def apply_extracts(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    incremental: bool,
    state_file: str | None,
    extract_files: Sequence[tuple[int, str]],
    out_file: str,
) -> ApplyOutcome:
    """Write the new current state to ``out_file`` (Parquet, zstd) from extracts.

    ``extract_files`` are (ordinal, local path) pairs; a higher ordinal is a later extract.
    Full mode (``incremental`` false) keeps only the newest extract; incremental mode unions
    ``state_file`` (if any) with all of them. Without extracts the old state is kept as is.
    Rows whose key (or a required column) is NULL or does not fit the declared type are
    rejected, counted and described in ``problems``, never applied. ``con`` must hold the
    ``adlake_hmac_keys`` table when a column uses the hmac policy
    (:func:`adlake.transform.clean.load_hmac_keys`).
    """
    outcome = ApplyOutcome()
    columns = state_columns(spec)
    names = [name for name, _ in columns[: -len(STATE_COLUMNS)]]
    files = sorted(extract_files)
    if files and not incremental:
        files = files[-1:]
    selects = [_file_select(con, spec, names, position, path, outcome) for position, path in files]
    if not selects:
        selects = [
            "SELECT NULL::BIGINT AS _position, NULL::INTEGER AS _seq, "
            + ", ".join(f"NULL::{kind} AS {_ident(n)}" for n, kind in columns[: len(names)])
            + ", "
            + ", ".join(f"false AS {_ident('_bad_' + n)}" for n in names)
            + " WHERE false"
        ]
    con.execute(f"CREATE OR REPLACE TEMP VIEW {VIEW} AS " + " UNION ALL ".join(selects))

    keys = spec.primary_key
    required = [n for n in names if spec.columns[n].required and n not in keys]
    invalid = " OR ".join(f"{_ident(n)} IS NULL" for n in keys + required)
    _count(con, spec, names, invalid, outcome)

    selected = ", ".join(_ident(n) for n in names)
    sources = [
        f"SELECT 1 AS _origin, _position, _seq, {selected} FROM {VIEW} WHERE NOT ({invalid})"
    ]
    if state_file and (incremental or not files):
        sources.append(
            f"SELECT 0 AS _origin, _position, _seq, {selected} "
            f"FROM read_parquet({sql_string(state_file)})"
        )
    key_list = ", ".join(_ident(k) for k in keys)
    # the same extract applied again ties with the rows it left in the state: take it again
    order = "_position DESC, _seq DESC, _origin DESC"
    con.execute(
        f"COPY (SELECT {selected}, _position, _seq FROM ("
        f"  SELECT *, row_number() OVER (PARTITION BY {key_list} ORDER BY {order}) AS _rank "
        f"  FROM ({' UNION ALL '.join(sources)})"
        f") WHERE _rank = 1 ORDER BY {key_list}"
        f") TO {sql_string(out_file)} (FORMAT parquet, COMPRESSION zstd)"
    )
    outcome.rows = con.execute(
        f"SELECT count(*) FROM read_parquet({sql_string(out_file)})"
    ).fetchone()[0]
    if state_file and files and not incremental:
        outcome.deletes = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_string(state_file)}) AS old "
            f"ANTI JOIN read_parquet({sql_string(out_file)}) AS new USING ({key_list})"
        ).fetchone()[0]
    return outcome


def _count(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    names: Sequence[str],
    invalid: str,
    outcome: ApplyOutcome,
) -> None:
    """Count the extract rows read and rejected into ``outcome``, with a problem line per
    column whose values no longer fit its type and one naming the rejected rows."""
    bad_counts = ", ".join(f"count(*) FILTER (WHERE {_ident('_bad_' + n)})" for n in names)
    counts = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {invalid}), max(_position), {bad_counts} "
        f"FROM {VIEW}"
    ).fetchone()
    outcome.changes, outcome.rejected, outcome.last_position = counts[:3]
    for name, bad in zip(names, counts[3:], strict=True):
        if bad:
            column = spec.columns[name]
            outcome.problems.append(
                f"column {name}: {bad} value(s) do not fit the declared type "
                f"{column.type} ({duckdb_type(column)}) and were read as NULL. Fix: the column "
                "was retyped at the source? update its type in adlake.yaml"
            )
    if outcome.rejected:
        examples = con.execute(
            f"SELECT _position, _seq FROM {VIEW} WHERE {invalid} ORDER BY 1, 2 LIMIT 20"
        ).fetchall()
        outcome.problems.append(
            f"{outcome.rejected} row(s) with a missing key or required value, or one that does "
            f"not fit the declared type, were not applied (extract, row: "
            f"{', '.join(f'{p}/{s}' for p, s in examples)}). Fix: correct the declared types "
            "in adlake.yaml, or the rows at the source"
        )


def _file_select(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    names: Sequence[str],
    position: int,
    path: str,
    outcome: ApplyOutcome,
) -> str:
    """The SELECT of one extract's rows as clean columns, each with a ``_bad_<name>`` flag
    (a value present in the file that does not fit the declared type).

    Problems with the file's columns (declared but missing, present but undeclared) are added
    to ``outcome`` once each.
    """
    reader = f"read_parquet({sql_string(path)}, file_row_number = true)"
    found = {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    found.pop("file_row_number", None)
    lowered = {name.lower(): name for name in found}
    items, flags, used = [], [], set()
    for name in names:
        column = spec.columns[name]
        wanted = column.source or name
        actual = wanted if wanted in found else lowered.get(wanted.lower())
        if actual is None:
            _problem(
                outcome,
                f"column {name}: column {wanted} is not in the source table (dropped or "
                "renamed?); it is NULL. Fix: remove it from adlake.yaml, or set its source",
            )
            items.append(f"NULL::{clean_type(column)} AS {_ident(name)}")
            flags.append(f"false AS {_ident('_bad_' + name)}")
            continue
        used.add(actual)
        raw = _ident(actual)
        typed = _typed(raw, found[actual], column)
        value = typed
        if column.pii:
            value = pii.hash_sql(f"CAST({typed} AS VARCHAR)", column.pii) or "NULL"
        items.append(f"{value} AS {_ident(name)}")
        flags.append(f"({raw} IS NOT NULL AND {typed} IS NULL) AS {_ident('_bad_' + name)}")
    declared = {(c.source or n).lower() for n, c in spec.columns.items()}
    extra = [n for n in found if n not in used and n.lower() not in declared]
    if extra:
        _problem(
            outcome,
            f"the source table has undeclared column(s) {', '.join(extra)}, not carried. Fix: "
            "declare them under columns in adlake.yaml to carry them",
        )
    return (
        f"SELECT {position}::BIGINT AS _position, file_row_number::INTEGER AS _seq, "
        f"{', '.join(items)}, {', '.join(flags)} FROM {reader}"
    )


def _typed(raw: str, file_type: str, column: ColumnConfig) -> str:
    """``raw`` cast to the declared type; timestamps change time zone in UTC, not in the
    session's zone, so the result does not depend on the engine's settings."""
    target = duckdb_type(column)
    if file_type.startswith("TIMESTAMP") and target in ("TIMESTAMP", "TIMESTAMPTZ"):
        zoned = file_type == "TIMESTAMP WITH TIME ZONE"
        if zoned != (target == "TIMESTAMPTZ"):
            return f"timezone('UTC', {raw})"
    return f"TRY_CAST({raw} AS {target})"


def _ident(name: str) -> str:
    """``name`` as a quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _problem(outcome: ApplyOutcome, text: str) -> None:
    """Add a problem line once, however many extract files show it."""
    if text not in outcome.problems:
        outcome.problems.append(text)
