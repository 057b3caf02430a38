"""MySQL/MariaDB values in their text form, identical whether read by SELECT or from the binlog.

A snapshot reads rows with PyMySQL and the stream decodes them from binlog row events; the two
give different Python objects for some types (BIT is bytes from SELECT and a bit string from
the binlog, SET is a string from SELECT and a Python set from the binlog, JSON is text from
MariaDB and a decoded object from MySQL 8). Both sides go through :func:`to_text` so one row
has one text form, the form MySQL prints, except:

- binary strings (BINARY, VARBINARY, BLOB) are **lowercase hex** (DuckDB's ``unhex`` reads it);
- BIT is the unsigned integer in decimal (``b'101'`` is ``"5"``), as ``SELECT bit_col + 0``;
- TIMESTAMP is UTC (the snapshot session runs with ``time_zone = '+00:00'``, and the binlog
  stores seconds since the epoch);
- FLOAT (single precision) read from the binlog shows its full binary value
  (``1.100000023841858``), where SELECT rounds it to ``1.1``.

SQL NULL stays ``None`` (JSON null in a change batch).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pymysql.constants import FIELD_TYPE


def _time_text(value: timedelta) -> str:
    """A TIME value as MySQL prints it: ``[-]H:MM:SS[.ffffff]``, hours beyond 24 allowed."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{fraction:06d}" if fraction else text


def _plain_json(value: Any) -> Any:
    """A decoded MySQL JSON value with bytes (keys or strings) turned into text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {_plain_json(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


def to_text(value: Any) -> str | None:
    """The text form of one value PyMySQL or mysql-replication produced (None for NULL)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _time_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return ",".join(sorted(str(v) for v in value))
    if isinstance(value, dict | list):
        return json.dumps(_plain_json(value), ensure_ascii=False)
    return str(value)


def bit_text(value: Any) -> str | None:
    """A BIT value as its unsigned integer: bytes from SELECT, a '0'/'1' string from the binlog."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return str(int.from_bytes(value, "big"))
    return str(int(str(value), 2))


def set_text(value: Any, members: Iterable[str] | None) -> str | None:
    """A SET value as MySQL prints it: members in their declared order, comma separated."""
    if value is None or isinstance(value, str):
        return value
    if members:
        return ",".join(m for m in members if m in value)
    return to_text(value)


def binlog_row_text(row: dict[str, Any], columns: list[Any]) -> dict[str, str | None]:
    """A binlog row image (name -> value) in text form, using the event's column metadata."""
    types = {column.name: column for column in columns}
    text: dict[str, str | None] = {}
    for name, value in row.items():
        column = types.get(name)
        kind = getattr(column, "type", None)
        if kind == FIELD_TYPE.BIT:
            text[name] = bit_text(value)
        elif kind == FIELD_TYPE.SET:
            text[name] = set_text(value, getattr(column, "set_values", None))
        else:
            text[name] = to_text(value)
    return text


def select_row_text(row: tuple[Any, ...], description: Any) -> dict[str, str | None]:
    """A row of a PyMySQL result in text form, using the cursor's description for BIT."""
    text: dict[str, str | None] = {}
    for value, column in zip(row, description, strict=True):
        name, kind = column[0], column[1]
        text[name] = bit_text(value) if kind == FIELD_TYPE.BIT else to_text(value)
    return text
