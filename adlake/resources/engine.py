"""The engine resource: which engine runs the clean transform, and its limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
from pydantic import Field

from adlake.config import EngineConfig
from adlake.lake import Lake
from adlake.transform.clean import CleanInput, CleanOutcome, DatasetRef, clean_partitions


class DuckDBEngineResource(dg.ConfigurableResource):
    """Runs the clean transform in-process on DuckDB under a memory limit."""

    memory_limit: str = Field(default="768MB", description="DuckDB memory_limit for one run.")
    threads: int = Field(default=2, description="DuckDB worker threads.")

    def clean(
        self,
        lake: Lake,
        ref: DatasetRef,
        inputs: Sequence[CleanInput],
        targets: Sequence[str],
        hmac_keys: Mapping[str, bytes],
    ) -> CleanOutcome:
        """Clean the target partitions from the given raw deliveries."""
        return clean_partitions(lake, ref, inputs, targets, hmac_keys, self.limits())

    def limits(self) -> EngineConfig:
        """The memory and thread limits every DuckDB run of this resource works within."""
        return EngineConfig(memory_limit=self.memory_limit, threads=self.threads)
