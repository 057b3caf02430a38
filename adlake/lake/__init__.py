"""The lake: zones, paths, atomic writes, delivery manifests and landing scans (no Dagster here)."""

from adlake.lake.storage import Lake, LakeError
from adlake.lake.zones import Zone

__all__ = ["Lake", "LakeError", "Zone"]
