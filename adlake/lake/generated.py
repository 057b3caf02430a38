"""Files adlake writes itself (a report's rows, an API page, a stream batch) published into raw.

Pushed and pulled files go through :class:`adlake.lake.deliveries.DeliveryLedger`'s copy path;
a file the platform generated is staged in scratch, published whole into its raw partition and
recorded with the same manifest, so clean, retention and the catalog treat it like any
delivery. The pull runners decide when to record (a REST pull records its pages only once the
whole pull is in raw), so publishing and the manifest are two steps.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from adlake.connectors.http import file_sha256
from adlake.lake.deliveries import Delivery
from adlake.lake.storage import Lake


def publish_staged(lake: Lake, staged: Path, raw_path: str) -> tuple[int, str]:
    """Publish a staged file to ``raw_path`` (atomically); its size and SHA-256."""
    size, digest = staged.stat().st_size, file_sha256(staged)
    lake.publish(str(staged), raw_path)
    return size, digest


def generated_delivery(
    *,
    delivery_id: str,
    source: str,
    dataset: str,
    dt: str,
    raw_path: str,
    size: int,
    sha256: str,
    lines: int,
    extra: dict[str, str],
    ingested_at: str | None = None,
) -> Delivery:
    """The manifest of a generated file in raw: no landing path; the file name is raw's."""
    return Delivery(
        delivery_id=delivery_id,
        source=source,
        dataset=dataset,
        dt=dt,
        file_name=raw_path.rsplit("/", 1)[-1],
        landing_path="",
        raw_path=raw_path,
        bytes=size,
        sha256=sha256,
        lines=lines,
        ingested_at=ingested_at or datetime.now(tz=UTC).isoformat(timespec="microseconds"),
        extra=extra,
    )
