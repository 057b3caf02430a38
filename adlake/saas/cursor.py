"""Incremental cursors of REST resources: read from records, compared, written into requests.

A cursor value is kept as the record held it (an ISO timestamp, epoch seconds or milliseconds,
or any string with ``format: raw``). Comparisons read it as a time whatever its form; a request
gets it rendered in the resource's ``format``, less the lookback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from adlake.config.rest import IncrementalConfig


def dotted(record: Any, path: str) -> Any:
    """The value at a dotted path of a record (``properties.lastmodifieddate``), or None."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def moment(value: Any) -> datetime | None:
    """The time a cursor value stands for: epoch seconds or milliseconds, or ISO 8601."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or str(value).strip().lstrip("-").isdigit():
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if abs(number) > 1e11 else number, tz=UTC)
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def later(config: IncrementalConfig, a: Any, b: Any) -> Any:
    """The later of two cursor values (None when both are missing)."""
    if a is None or b is None:
        return b if a is None else a
    if config.format == "raw":
        return max(str(a), str(b))
    ma, mb = moment(a), moment(b)
    if ma is None or mb is None:
        return b if ma is None else a
    return b if mb > ma else a


def latest(config: IncrementalConfig, current: Any, values: list[Any]) -> Any:
    """The latest of ``current`` and a page's cursor values (each parsed once)."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return current
    if config.format == "raw":
        best = max(present, key=str)
    else:
        parsed = [(m, v) for v in present if (m := moment(v)) is not None]
        if not parsed:
            return current
        best = max(parsed, key=lambda pair: pair[0])[1]
    return later(config, current, best)


def render(config: IncrementalConfig, value: Any, *, lookback: bool = True) -> str:
    """The cursor as a request takes it: ``value`` less the lookback, in the resource's format."""
    if config.format == "raw":
        return str(value)
    at = moment(value)
    if at is None:
        raise ValueError(f"cursor value {value!r} is not a time (epoch or ISO 8601)")
    if lookback:
        at -= timedelta(seconds=config.lookback_seconds)
    if config.format == "epoch_ms":
        return str(int(at.timestamp() * 1000))
    if config.format == "epoch_s":
        return str(int(at.timestamp()))
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
