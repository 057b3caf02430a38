"""A few rows of a Parquet file as a Markdown table, for the asset's metadata in the UI."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from adlake.transform.readers import sql_string

CELL_CHARS = 16


def markdown_preview(files: Sequence[str], limit: int = 5) -> str:
    """The first rows of these files, long values (hashes) shortened; '' when there are none."""
    if not files:
        return ""
    listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
    with duckdb.connect(":memory:") as con:
        cursor = con.execute(f"SELECT * FROM read_parquet({listing}) LIMIT {int(limit)}")
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    if not rows:
        return ""
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = [_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
