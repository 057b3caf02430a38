"""A last guard on the clean zone: does any string column still hold e-mails or phone numbers?"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from adlake.transform.readers import sql_string

EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PHONE_PATTERN = r"^\s*\+?[0-9][0-9 ().-]{6,18}[0-9]\s*$"
# E.164 numbers have at most 15 digits, and national numbers at least 8: longer or shorter
# runs of digits are ids (an Amazon order id has 17), not phone numbers
PHONE_DIGITS = (8, 15)


def clear_pii_counts(files: Sequence[str], string_columns: Sequence[str]) -> dict[str, int]:
    """Per string column, how many values look like a clear e-mail or phone number."""
    if not files or not string_columns:
        return {}
    listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
    low, high = PHONE_DIGITS
    counts = ", ".join(
        f'count(*) FILTER (WHERE regexp_matches("{c}", {sql_string(EMAIL_PATTERN)}) OR '
        f'(regexp_matches("{c}", {sql_string(PHONE_PATTERN)}) AND '
        f"length(regexp_replace(\"{c}\", '[^0-9]', '', 'g')) BETWEEN {low} AND {high}))"
        for c in string_columns
    )
    with duckdb.connect(":memory:") as con:
        row = con.execute(f"SELECT {counts} FROM read_parquet({listing})").fetchone()
    return {c: int(n) for c, n in zip(string_columns, row, strict=True) if n}
