"""Models of where adlake runs: lake, catalog, secrets, engine limits, sensors, the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from adlake.config.base import Name, _Model
from adlake.config.datasets import DatasetConfig, SourceConfig


class LakeConfig(_Model):
    """Where the zones live."""

    root: str = Field(".adlake/lake", description="Folder of the lake (local profile).")


class CatalogConfig(_Model):
    """Where clean tables are registered."""

    duckdb_path: str = Field(".adlake/catalog.duckdb", description="DuckDB catalog file (local).")


class SecretsConfig(_Model):
    """Where secrets come from on the local profile: environment first, then a JSON file."""

    env_prefix: str = Field("ADLAKE_SECRET_", description="Env var prefix: ADLAKE_SECRET_<NAME>.")
    file: str | None = Field(".adlake/secrets.json", description="JSON file of name -> value.")


class EngineConfig(_Model):
    """Limits for the in-process DuckDB engine."""

    memory_limit: str = Field(
        "768MB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="DuckDB memory_limit for a clean run, e.g. 768MB.",
    )
    threads: int = Field(2, ge=1, le=256, description="DuckDB worker threads.")


class SensorConfig(_Model):
    """How the landing sensors tick."""

    interval_seconds: int = Field(30, ge=5, description="Seconds between landing sensor ticks.")
    max_files_per_tick: int = Field(100, ge=1, description="Bounded work per tick.")


class AdlakeConfig(_Model):
    """The whole of adlake.yaml."""

    profile: Literal["local"] = Field("local", description="Which resources back the lake.")
    lake: LakeConfig = Field(default_factory=LakeConfig, description="Lake location.")
    catalog: CatalogConfig = Field(default_factory=CatalogConfig, description="Catalog location.")
    secrets: SecretsConfig = Field(default_factory=SecretsConfig, description="Secrets lookup.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Engine limits.")
    sensors: SensorConfig = Field(default_factory=SensorConfig, description="Sensor pacing.")
    sources: dict[Name, SourceConfig] = Field(default_factory=dict, description="Sources by name.")
    base_dir: str = Field(
        ".", description="Folder relative paths resolve from (set by the loader)."
    )

    def resolve(self, path: str) -> Path:
        """Return ``path`` made absolute against the folder of the config file."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def datasets(self) -> list[tuple[str, str, DatasetConfig]]:
        """Every (source, dataset, config) in declaration order."""
        return [
            (source_name, dataset_name, dataset)
            for source_name, source in self.sources.items()
            for dataset_name, dataset in source.datasets.items()
        ]
