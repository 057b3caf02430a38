"""The lake resource of the local profile: a folder on this machine."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from adlake.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """The lake, wherever the profile puts it; assets and sensors ask only for ``lake()``."""

    def lake(self) -> Lake:
        """The lake these settings point at."""
        raise NotImplementedError


class LocalLakeResource(LakeResource):
    """The lake in a local folder (``.adlake/lake`` by default)."""

    root: str = Field(description="Absolute folder of the lake.")

    def lake(self) -> Lake:
        """The lake these settings point at, its folder created if missing."""
        Path(self.root).mkdir(parents=True, exist_ok=True)
        return Lake(self.root)
