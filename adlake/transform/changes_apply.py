"""Apply captured changes to a current-state table: upsert by primary key, deletes removed.

The state is a Parquet file of clean rows (typed, PII protected) with ``_position`` and
``_seq`` of the change that produced each row. Applying change batches unions the state with
the batches' changes (cast from their text row images with the dataset's declared types, PII
protected exactly as in clean), keeps for each key the change with the highest
(position, seq), and drops keys whose latest change is a delete. Because only the order of
positions matters, batches applied twice, or out of order, give the same state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb

from adlake.config import DatasetConfig
from adlake.transform import pii
from adlake.transform.readers import sql_string
from adlake.transform.types import clean_type, duckdb_type

STATE_COLUMNS = (("_position", "BIGINT"), ("_seq", "INTEGER"))


@dataclass
class ApplyOutcome:
    """What one apply did: rows in the new state, changes read, rejected, last position."""

    rows: int = 0
    changes: int = 0
    deletes: int = 0
    rejected: int = 0
    last_position: int | None = None
    problems: list[str] = field(default_factory=list)


def state_columns(spec: DatasetConfig) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the state table: clean columns, then the change's position."""
    columns = [
        (name, clean_type(column))
        for name, column in spec.columns.items()
        if not (column.pii and column.pii.policy == "drop")
    ]
    return columns + list(STATE_COLUMNS)


def apply_changes(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    table: str,
    state_file: str | None,
    change_files: Sequence[str],
    out_file: str,
) -> ApplyOutcome:
    """Write the new state of ``table`` to ``out_file`` from the old state and change batches.

    ``con`` must hold the ``adlake_hmac_keys`` table when a column uses the hmac policy
    (:func:`adlake.transform.clean.load_hmac_keys`). A
    change whose key or a required column cannot be cast is rejected (counted, named by
    position in ``problems``, never applied) so one bad row cannot corrupt the state.
    """
    outcome = ApplyOutcome()
    columns = state_columns(spec)
    names = [name for name, _ in columns[: -len(STATE_COLUMNS)]]
    if change_files:
        listing = "[" + ", ".join(sql_string(f) for f in change_files) + "]"
        source = f"read_parquet({listing}) WHERE table_name = {sql_string(table)}"
        # an update that changed the primary key also deletes the row under the old key
        old_keys = ", ".join(
            _typed_value(spec, name, "key") if name in spec.primary_key else f'NULL AS "{name}"'
            for name in names
        )
        present = ", ".join(f'json_exists(row, {_path(spec, n)}) AS "_has_{n}"' for n in names)
        always = ", ".join(f'true AS "_has_{n}"' for n in names)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW adlake_changes AS "
            f"SELECT false AS derived, op, position, seq, {_typed_values(spec, names)}, "
            f"{present} FROM {source} UNION ALL SELECT true, 'delete', position, seq, "
            f"{old_keys}, {always} FROM {source} AND key IS NOT NULL"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW adlake_changes AS SELECT false AS derived, "
            "NULL::VARCHAR AS op, "
            "NULL::BIGINT AS position, NULL::INTEGER AS seq, "
            + ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in columns[: len(names)])
            + ", "
            + ", ".join(f'true AS "_has_{n}"' for n in names)
            + " WHERE false"
        )
    keys = spec.primary_key
    invalid = " OR ".join(f'"{k}" IS NULL' for k in keys)
    required = [n for n in names if spec.columns[n].required and n not in keys]
    if required:
        invalid += " OR (op <> 'delete' AND (" + " OR ".join(f'"{n}" IS NULL' for n in required)
        invalid += "))"
    counts = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE op = 'delete'), "
        f"count(*) FILTER (WHERE {invalid}), max(position) FROM adlake_changes "
        "WHERE NOT derived"
    ).fetchone()
    outcome.changes, outcome.deletes, outcome.rejected, outcome.last_position = counts
    if outcome.rejected:
        rejected = con.execute(
            f"SELECT position, seq FROM adlake_changes WHERE {invalid} ORDER BY 1, 2 LIMIT 20"
        ).fetchall()
        outcome.problems.append(
            f"{table}: {outcome.rejected} change(s) with a missing key or required value, or a "
            f"value that does not fit the declared type, were not applied (position, seq: "
            f"{', '.join(f'{p}/{s}' for p, s in rejected)}). Fix: correct the declared types "
            "in adlake.yaml"
        )
    if change_files and outcome.changes:
        outcome.problems.extend(_shape_problems(con, spec, table, names, source))
    selected = ", ".join(f'"{n}"' for n in names)
    always = ", ".join(f'true AS "_has_{n}"' for n in names)
    old = (
        f"SELECT 'upsert' AS op, _position AS position, _seq AS seq, {selected}, {always} "
        f"FROM read_parquet({sql_string(state_file)})"
        if state_file
        else "SELECT * FROM adlake_changes WHERE false"
    )
    key_list = ", ".join(f'"{k}"' for k in keys)
    order = "ORDER BY position DESC, seq DESC, op = 'upsert'"
    window = f"PARTITION BY {key_list} {order}"
    # a column an update left out (PostgreSQL's unchanged TOAST values) keeps its last value
    latest = ", ".join(
        f'"{n}"'
        if n in keys
        else f'(first_value(CASE WHEN "_has_{n}" THEN {{\'v\': "{n}"}} END IGNORE NULLS) '
        f"OVER (PARTITION BY {key_list} {order} ROWS BETWEEN UNBOUNDED PRECEDING AND "
        f'UNBOUNDED FOLLOWING)).v AS "{n}"'
        for n in names
    )
    con.execute(
        f"COPY (SELECT {selected}, position AS _position, seq AS _seq FROM ("
        f"  SELECT op, position, seq, {latest}, row_number() OVER ({window}) AS _rank FROM ("
        f"    {old} UNION ALL BY NAME SELECT * FROM adlake_changes WHERE NOT ({invalid})"
        f"  )) WHERE _rank = 1 AND op <> 'delete' ORDER BY {key_list}"
        f") TO {sql_string(out_file)} (FORMAT parquet, COMPRESSION zstd)"
    )
    outcome.rows = con.execute(
        f"SELECT count(*) FROM read_parquet({sql_string(out_file)})"
    ).fetchone()[0]
    return outcome


def _shape_problems(
    con: duckdb.DuckDBPyConnection,
    spec: DatasetConfig,
    table: str,
    names: Sequence[str],
    source: str,
) -> list[str]:
    """How the source's rows stopped matching the declaration: retyped, added, dropped columns.

    A value present in a row image that does not cast to the declared type means the column
    was retyped (it is applied as NULL); a key no declared column reads means a column was
    added; a declared column missing from every inserted row means it was dropped or renamed.
    """
    problems = []
    failed = ", ".join(
        f"count(*) FILTER (WHERE json_extract_string(row, {_path(spec, n)}) IS NOT NULL AND "
        f"TRY_CAST(json_extract_string(row, {_path(spec, n)}) AS "
        f"{duckdb_type(spec.columns[n])}) IS NULL)"
        for n in names
    )
    present = ", ".join(
        f"coalesce(bool_or(op = 'insert' AND json_exists(row, {_path(spec, n)})), false)"
        for n in names
    )
    counts = con.execute(
        f"SELECT {failed}, count(*) FILTER (WHERE op = 'insert'), {present} "
        f"FROM {source} AND op <> 'delete'"
    ).fetchone()
    fails, inserts, seen = counts[: len(names)], counts[len(names)], counts[len(names) + 1 :]
    for name, count in zip(names, fails, strict=True):
        if count:
            kind = duckdb_type(spec.columns[name])
            problems.append(
                f"{table}.{name}: {count:,} value(s) do not fit the declared type {kind} and "
                "were applied as NULL. Fix: the column was retyped at the source? update its "
                "type in adlake.yaml (the state is then rebuilt from raw)"
            )
    if inserts:
        dropped = [n for n, found in zip(names, seen, strict=True) if not found]
        if dropped:
            problems.append(
                f"{table}: declared column(s) {', '.join(dropped)} are in none of the "
                f"{inserts:,} inserted row(s): dropped or renamed at the source? Fix: remove "
                "or rename them in adlake.yaml"
            )
    declared = {spec.columns[n].source or n for n in spec.columns}
    keys = con.execute(
        f"SELECT DISTINCT unnest(json_keys(row)) FROM {source} AND op <> 'delete'"
    ).fetchall()
    added = sorted(k for (k,) in keys if k not in declared)
    if added:
        problems.append(
            f"{table}: the source has column(s) {', '.join(added)} that adlake.yaml does not "
            "declare, so clean does not carry them. Fix: declare them under columns (the state "
            "is then rebuilt from raw, which kept every row image)"
        )
    return problems


def _typed_values(spec: DatasetConfig, names: Sequence[str]) -> str:
    """Select items casting each row image value (text) to its declared type, PII protected."""
    return ", ".join(_typed_value(spec, name, "row") for name in names)


def _path(spec: DatasetConfig, name: str) -> str:
    """The JSON path (SQL literal) of a column in a row image."""
    return sql_string("$." + (spec.columns[name].source or name).replace('"', ""))


def _typed_value(spec: DatasetConfig, name: str, image: str) -> str:
    """One column read from a JSON image (``row`` or ``key``), cast and PII protected."""
    column = spec.columns[name]
    value = f"TRY_CAST(json_extract_string({image}, {_path(spec, name)}) AS {duckdb_type(column)})"
    if column.pii:
        value = pii.hash_sql(f"CAST({value} AS VARCHAR)", column.pii) or "NULL"
    return f'{value} AS "{name}"'
