"""Incremental cursors of REST resources: read from records, compared, written into requests.

A cursor value is kept as the record held it (an ISO timestamp, epoch seconds or milliseconds,
or any string). Comparisons parse it by the resource's ``format``; a request gets it rendered
the same way, less the lookback.
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


def _moment(value: Any, fmt: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if fmt == "epoch_ms":
            return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        if fmt == "epoch_s":
            return datetime.fromtimestamp(float(value), tz=UTC)
        text = str(value).strip().replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def later(config: IncrementalConfig, a: Any, b: Any) -> Any:
    """The later of two cursor values (None when both are missing)."""
    if a is None or b is None:
        return b if a is None else a
    if config.format == "raw":
        return max(str(a), str(b))
    ma, mb = _moment(a, config.format), _moment(b, config.format)
    if ma is None or mb is None:
        return b if ma is None else a
    return b if mb > ma else a


def render(config: IncrementalConfig, value: Any, *, lookback: bool = True) -> str:
    """The cursor as a request takes it: ``value`` less the lookback, in the resource's format."""
    if config.format == "raw":
        return str(value)
    moment = _moment(value, config.format) or _moment(value, "iso")
    if moment is None:
        raise ValueError(f"cursor value {value!r} is not a {config.format} time")
    if lookback:
        moment -= timedelta(seconds=config.lookback_seconds)
    if config.format == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if config.format == "epoch_s":
        return str(int(moment.timestamp()))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
