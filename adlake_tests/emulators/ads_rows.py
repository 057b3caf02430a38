"""Deterministic rows of an emulated Amazon Ads report, typed by the vendored columns.json.

The same (profile, date, row index) always yields the same values, so a test can compare what
the client read with :func:`report_rows`. Entity ids depend on the row index only (campaign 3
is the same campaign every day); metrics depend on the day too. Rows are generated lazily and
written to gzip as a stream: a 200k-row report never sits in memory.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adlake.connectors.amazon_ads.spec import column_type

_STATUSES = ("ENABLED", "PAUSED", "ARCHIVED")
_MATCH_TYPES = ("BROAD", "PHRASE", "EXACT", "TARGETING_EXPRESSION")
_ALPHANUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _mix(seed: int, salt: int) -> int:
    """A cheap, well-spread 31-bit number from two integers."""
    value = (seed * 2654435761 + salt * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    value ^= value >> 15
    value = (value * 2246822519) & 0xFFFFFFFF
    return value ^ (value >> 13)


def _salt(name: str) -> int:
    return zlib.crc32(name.encode())


def _string(column: str, index: int, value: int, currency: str) -> str:
    lowered = column.lower()
    if lowered.endswith("status"):
        return _STATUSES[value % 3]
    if lowered.endswith("currencycode"):
        return currency
    if lowered == "matchtype":
        return _MATCH_TYPES[value % 4]
    if lowered.endswith("asin"):
        return "B0" + "".join(_ALPHANUM[(value >> (3 * k)) % 34] for k in range(8))
    if lowered.endswith("sku"):
        return f"SKU-{index:06d}"
    if lowered.endswith("name"):
        return f"{column[:-4] or column} {index}"
    return f"{column}-{value % 1000}"


def _value(column: str, kind: str, salt: int, index: int, seed: int, currency: str) -> Any:
    value = _mix(seed, salt)
    if kind == "bigint":
        if column.endswith("Id"):
            return 100_000_000_000 + _mix(index, salt) % 900_000_000_000
        lowered = column.lower()
        if "impression" in lowered or "view" in lowered:
            return 1000 + value % 50_000
        return value % (400 if "click" in lowered else 40)
    if kind == "decimal":
        return round((value % 1_000_000) / 100, 2)
    if kind == "double":
        return round((value % 10_000) / 10_000, 4)
    if kind == "boolean":
        return value % 2 == 0
    return _string(column, index, _mix(index, salt), currency)


def report_rows(
    profile_id: str,
    columns: list[str],
    start: date,
    end: date,
    time_unit: str,
    rows_per_day: int,
    currency: str = "USD",
) -> Iterator[dict[str, Any]]:
    """The rows of one report: ``rows_per_day`` per day (DAILY) or in total (SUMMARY)."""
    kinds = [(name, column_type(name), _salt(name)) for name in columns]
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    periods = days if time_unit == "DAILY" else [start]
    for day in periods:
        day_seed = zlib.crc32(f"{profile_id}|{day.isoformat()}".encode())
        for index in range(rows_per_day):
            seed = _mix(day_seed, index)
            row: dict[str, Any] = {}
            for name, kind, salt in kinds:
                if name == "date":
                    row[name] = day.isoformat()
                elif name == "startDate":
                    row[name] = start.isoformat()
                elif name == "endDate":
                    row[name] = end.isoformat()
                else:
                    row[name] = _value(name, kind, salt, index, seed, currency)
            yield row


def write_report(rows: Iterator[dict[str, Any]], path: Path, batch: int = 2000) -> int:
    """Stream rows into a gzip file holding ONE JSON array; returns the number of rows.

    Rows are encoded in small batches, so memory holds at most ``batch`` encoded rows.
    """
    encode = json.JSONEncoder(separators=(",", ":")).encode
    count = 0
    pending: list[str] = []
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"[")
        for row in rows:
            pending.append(encode(row))
            count += 1
            if len(pending) == batch:
                out.write((b"," if count > batch else b"") + ",".join(pending).encode())
                pending.clear()
        if pending:
            out.write((b"," if count > len(pending) else b"") + ",".join(pending).encode())
        out.write(b"]")
    return count
