"""Choosing the resources of a profile, once, when Definitions are built."""

from __future__ import annotations

from typing import Any

from adlake.config import AdlakeConfig
from adlake.resources.catalog import DuckDBCatalogResource
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LocalLakeResource
from adlake.resources.notifier import build_notifier
from adlake.resources.secrets import LocalSecretsResource


def build_resources(config: AdlakeConfig) -> dict[str, Any]:
    """The resources for the configured profile, keyed as assets and sensors ask for them."""
    secrets_file = config.resolve(config.secrets.file) if config.secrets.file else None
    return {
        "lake": LocalLakeResource(root=str(config.resolve(config.lake.root))),
        "secrets": LocalSecretsResource(
            env_prefix=config.secrets.env_prefix,
            file=str(secrets_file) if secrets_file else None,
        ),
        "catalog": DuckDBCatalogResource(path=str(config.resolve(config.catalog.duckdb_path))),
        "engine": DuckDBEngineResource(
            memory_limit=config.engine.memory_limit, threads=config.engine.threads
        ),
        "notifier": build_notifier(config),
    }
