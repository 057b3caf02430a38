"""Audience destinations: one module per platform behind one interface (:mod:`.base`).

No Dagster here: a destination takes its config and a function that reads a secret by name,
and is driven by the export runner in :mod:`adlake.segments.export`.
"""

from __future__ import annotations

from collections.abc import Callable

from adlake.destinations.base import (
    AudienceSpec,
    BatchInfo,
    BatchResult,
    Destination,
    DestinationError,
    FinishResult,
    Member,
)

__all__ = [
    "AudienceSpec",
    "BatchInfo",
    "BatchResult",
    "Destination",
    "DestinationError",
    "FinishResult",
    "Member",
    "open_destination",
]


def open_destination(config, secret: Callable[[str], str]) -> Destination:  # noqa: ANN001
    """The destination client of a ``destinations:`` entry; ``secret(name)`` reads a secret."""
    kind = config.kind
    if kind == "meta":
        from adlake.destinations.meta import MetaDestination

        return MetaDestination(config, secret)
    if kind == "google_ads":
        from adlake.destinations.google_ads import GoogleAdsDestination

        return GoogleAdsDestination(config, secret)
    if kind == "amazon_ads":
        from adlake.destinations.amazon_ads import AmazonAudienceDestination

        return AmazonAudienceDestination(config, secret)
    if kind == "file_drop":
        from adlake.destinations.file_drop import FileDropDestination

        return FileDropDestination(config, secret)
    raise ValueError(f"unknown destination kind {kind!r}")
