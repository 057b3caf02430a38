"""Choosing the resources of a profile, once, when Definitions are built.

This is the one place that looks at ``profile``: every asset, sensor and check asks for a lake,
secrets, a catalog, an engine and a notifier, and gets the local or the aws implementation.
"""

from __future__ import annotations

from typing import Any

from adlake.config import AdlakeConfig, AwsConfig, NotificationsConfig
from adlake.resources.catalog import DuckDBCatalogResource, GlueCatalogResource
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LocalLakeResource, S3LakeResource
from adlake.resources.notifier import build_notifier
from adlake.resources.secrets import AwsSecretsResource, LocalSecretsResource


def build_resources(config: AdlakeConfig) -> dict[str, Any]:
    """The resources for the configured profile, keyed as assets and sensors ask for them."""
    shared = {
        "engine": DuckDBEngineResource(
            memory_limit=config.engine.memory_limit,
            threads=config.engine.threads,
            spark_above_mb=config.engine.spark_above_mb,
            spark_conf=config.engine.spark_conf,
        ),
    }
    if config.profile == "aws" and config.aws is not None:
        return {**shared, **_aws_resources(config.aws, config.notifications)}
    return {**shared, **_local_resources(config)}


def _local_resources(config: AdlakeConfig) -> dict[str, Any]:
    secrets_file = config.resolve(config.secrets.file) if config.secrets.file else None
    return {
        "lake": LocalLakeResource(root=str(config.resolve(config.lake.root))),
        "secrets": LocalSecretsResource(
            env_prefix=config.secrets.env_prefix,
            file=str(secrets_file) if secrets_file else None,
        ),
        "catalog": DuckDBCatalogResource(path=str(config.resolve(config.catalog.duckdb_path))),
        "notifier": build_notifier(config.notifications),
    }


def _aws_resources(aws: AwsConfig, notifications: NotificationsConfig) -> dict[str, Any]:
    where = {"region": aws.region, "endpoint_url": aws.endpoint_url}
    return {
        "lake": S3LakeResource(
            bucket=aws.lake.bucket, prefix=aws.lake.prefix, kms_key_id=aws.lake.kms_key_id, **where
        ),
        "secrets": AwsSecretsResource(prefix=aws.secrets_prefix, **where),
        "catalog": GlueCatalogResource(database_prefix=aws.glue_database_prefix, **where),
        "notifier": build_notifier(notifications, aws),
    }
