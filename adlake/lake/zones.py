"""The zones of the lake and the one place that knows their path layout."""

from __future__ import annotations

from enum import StrEnum


class Zone(StrEnum):
    """Top-level folders (or S3 prefixes) of the lake, in the order data flows through them."""

    LANDING = "landing"
    RAW = "raw"
    CLEAN = "clean"
    ARCHIVE = "archive"
    QUARANTINE = "quarantine"
    STATE = "state"
    TMP = "_tmp"


def dataset_prefix(zone: Zone, source: str, dataset: str) -> str:
    """``<zone>/<source>/<dataset>``: where one dataset lives inside a zone."""
    return f"{zone.value}/{source}/{dataset}"


def partition_dir(zone: Zone, source: str, dataset: str, dt: str) -> str:
    """``<zone>/<source>/<dataset>/dt=YYYY-MM-DD``: one Hive-style daily partition."""
    return f"{dataset_prefix(zone, source, dataset)}/dt={dt}"
