"""Models of where adlake runs: lake, catalog, secrets, engine limits, sensors, the profile."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from adlake.config.aggregates import AggregateConfig
from adlake.config.amc import AmcSourceConfig
from adlake.config.amc_files import load_workflows
from adlake.config.base import Name, _Model
from adlake.config.databases import DatabaseSourceConfig
from adlake.config.datasets import DatasetConfig, PushSourceConfig
from adlake.config.errors import did_you_mean, problem
from adlake.config.files import (
    FILE_SOURCE_KINDS,
    AzureBlobSourceConfig,
    FileSourceConfig,
    GcsSourceConfig,
    S3SourceConfig,
    SftpSourceConfig,
)
from adlake.config.pulls import AmazonAdsSourceConfig, SellingPartnerSourceConfig
from adlake.config.rest import RestSourceConfig
from adlake.config.segments import DestinationConfig, SegmentConfig
from adlake.config.streams import KinesisSourceConfig

PROFILE_ENV_VAR = "ADLAKE_PROFILE"
AGGREGATES = "aggregates"  # the catalog schema (and clean-zone source) of the aggregates
SourceConfig = Annotated[
    PushSourceConfig
    | AmazonAdsSourceConfig
    | SellingPartnerSourceConfig
    | AmcSourceConfig
    | RestSourceConfig
    | KinesisSourceConfig
    | DatabaseSourceConfig
    | SftpSourceConfig
    | GcsSourceConfig
    | AzureBlobSourceConfig
    | S3SourceConfig,
    Field(discriminator="kind"),
]
SOURCE_KINDS = (
    "push",
    "amazon_ads",
    "selling_partner",
    "amc",
    "rest",
    "kinesis",
    "postgres",
    "mysql",
    *FILE_SOURCE_KINDS,
)
PullSourceConfig = AmazonAdsSourceConfig | SellingPartnerSourceConfig | AmcSourceConfig


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
    """Limits of the clean engines: in-process DuckDB, and when Spark takes over."""

    memory_limit: str = Field(
        "768MB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="DuckDB memory_limit for a clean run, e.g. 768MB.",
    )
    threads: int = Field(2, ge=1, le=256, description="DuckDB worker threads.")
    spark_above_mb: int | None = Field(
        None,
        ge=1,
        description="Datasets with engine auto are cleaned on Spark when a run's raw input "
        "is larger than this many MB; none: auto always means DuckDB.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Spark settings of the clean engine's session (spark.master, "
        "spark.executor.memory...). Without spark.master, Spark runs in local mode on "
        "`threads` cores.",
    )


class SensorConfig(_Model):
    """How the landing sensors tick."""

    interval_seconds: int = Field(30, ge=5, description="Seconds between landing sensor ticks.")
    max_files_per_tick: int = Field(100, ge=1, description="Bounded work per tick.")


class NotificationsConfig(_Model):
    """Where pipeline run outcomes and quarantine events are announced (both profiles)."""

    webhook_url: str | None = Field(
        None, description="Optional HTTP(S) URL that receives each event as a JSON POST."
    )
    ui_base_url: str = Field(
        "http://127.0.0.1:3000", description="Base URL of the Dagster UI, for links to runs."
    )


class AwsLakeConfig(_Model):
    """The lake on S3: one bucket and prefix holding every zone, every object SSE-KMS encrypted."""

    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="S3 bucket of the lake."
    )
    prefix: str = Field(
        "adlake", pattern=r"^[A-Za-z0-9._/-]*$", description="Key prefix under which zones live."
    )
    kms_key_id: str = Field(
        min_length=1, description="KMS key id, ARN or alias used for SSE-KMS on every write."
    )


class AwsConfig(_Model):
    """The aws profile: S3 lake, Glue catalog, Secrets Manager secrets, SNS notifications."""

    region: str = Field("us-east-1", description="AWS region of every service.")
    endpoint_url: str | None = Field(
        None, description="Custom endpoint for every AWS service (a moto server in tests)."
    )
    lake: AwsLakeConfig = Field(description="Where the lake lives on S3.")
    glue_database_prefix: str = Field(
        "", pattern=r"^[a-z0-9_]*$", description="Glue database of a source: prefix + source."
    )
    secrets_prefix: str = Field(
        "adlake/", description="Secrets Manager id of a secret: prefix + secret name."
    )
    sns_topic_arn: str | None = Field(
        None, description="SNS topic that receives run outcomes and quarantine events."
    )


class AdlakeConfig(_Model):
    """The whole of adlake.yaml."""

    profile: Literal["local", "aws"] = Field(
        "local",
        description=f"Which resources back the project; ${PROFILE_ENV_VAR} overrides it.",
    )
    aws: AwsConfig | None = Field(None, description="Settings of the aws profile.")
    notifications: NotificationsConfig = Field(
        default_factory=NotificationsConfig, description="Run and quarantine notifications."
    )
    lake: LakeConfig = Field(default_factory=LakeConfig, description="Lake location.")
    catalog: CatalogConfig = Field(default_factory=CatalogConfig, description="Catalog location.")
    secrets: SecretsConfig = Field(default_factory=SecretsConfig, description="Secrets lookup.")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Engine limits.")
    sensors: SensorConfig = Field(default_factory=SensorConfig, description="Sensor pacing.")
    sources: dict[Name, SourceConfig] = Field(default_factory=dict, description="Sources by name.")
    destinations: dict[Name, DestinationConfig] = Field(
        default_factory=dict, description="Audience destinations (ad platforms, file drops)."
    )
    segments: dict[Name, SegmentConfig] = Field(
        default_factory=dict, description="Audience segments in SQL over the catalog."
    )
    aggregates: dict[Name, AggregateConfig] = Field(
        default_factory=dict, description="Daily tables computed in SQL from clean datasets."
    )
    base_dir: str = Field(
        ".", description="Folder relative paths resolve from (set by the loader)."
    )

    @model_validator(mode="before")
    @classmethod
    def _read_workflow_files(cls, data: object) -> object:
        """Fill each amc source's workflows from the .sql files of its workflows_dir."""
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            return data
        base = Path(str(data.get("base_dir") or "."))
        sources = dict(data["sources"])
        for name, source in sources.items():
            if not isinstance(source, dict) or source.get("kind") != "amc":
                continue
            folder = Path(str(source.get("workflows_dir") or "amc")).expanduser()
            files = load_workflows(folder if folder.is_absolute() else base / folder)
            sources[name] = {**source, "workflows": {**files, **(source.get("workflows") or {})}}
        return {**data, "sources": sources}

    @model_validator(mode="after")
    def _aws_needs_settings(self) -> AdlakeConfig:
        if self.profile == "aws" and self.aws is None:
            raise problem(
                "profile 'aws' needs an 'aws' section (region, lake.bucket, lake.kms_key_id)",
                "add it; the README's 'aws profile' section has a complete example",
                key="aws",
            )
        return self

    @model_validator(mode="after")
    def _aggregates_have_their_schema(self) -> AdlakeConfig:
        if self.aggregates and AGGREGATES in self.sources:
            raise problem(
                f"a source is named '{AGGREGATES}', the catalog schema of the aggregates",
                "rename the source",
                key=f"sources.{AGGREGATES}",
            )
        return self

    @model_validator(mode="after")
    def _exports_name_destinations(self) -> AdlakeConfig:
        for name, segment in self.segments.items():
            for index, export in enumerate(segment.exports):
                if export.destination not in self.destinations:
                    known = ", ".join(sorted(self.destinations)) or "none declared"
                    raise problem(
                        f"no destination '{export.destination}' (destinations: {known})"
                        + did_you_mean(export.destination, list(self.destinations)),
                        "declare it under `destinations:` or correct the name",
                        key=f"segments.{name}.exports.{index}.destination",
                        value=export.destination,
                    )
        return self

    def resolve(self, path: str) -> Path:
        """Return ``path`` made absolute against the folder of the config file."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    def datasets(self) -> list[tuple[str, str, DatasetConfig]]:
        """Every (source, dataset, config) in declaration order."""
        return [
            (source_name, dataset_name, dataset)
            for source_name, source in self.sources.items()
            for dataset_name, dataset in source.dataset_configs().items()
        ]

    def hmac_secret_names(self) -> set[str]:
        """Names of the HMAC keys the datasets' PII policies read."""
        return {
            column.pii.secret
            for _, _, spec in self.datasets()
            for column in spec.columns.values()
            if column.pii and column.pii.secret
        }

    def credential_secret_names(self) -> set[str]:
        """Names of the API credentials and database connection URLs the sources read."""
        names = {
            name
            for source in self.pull_sources().values()
            for name in source.credentials.model_dump().values()
        }
        names |= {source.connection for source in self.database_sources().values()}
        for source in self.file_sources().values():
            names |= source.secret_names()
        for source in self.sources.values():
            if isinstance(source, RestSourceConfig):
                names |= source.secret_names()
        for destination in self.destinations.values():
            names |= destination.secret_names()
        return names | self.pgp_secret_names()

    def pgp_secret_names(self) -> set[str]:
        """Names of the PGP keys and passphrases the datasets' decryption steps read."""
        return {
            name for _, _, spec in self.datasets() if spec.pgp for name in spec.pgp.secret_names()
        }

    def daily_datasets(self) -> list[tuple[str, str, DatasetConfig]]:
        """Datasets cleaned into daily partitions: pushed files and pulled reports."""
        return [d for d in self.datasets() if d[0] not in self.database_sources()]

    def push_datasets(self) -> list[tuple[str, str, DatasetConfig]]:
        """Every (source, dataset, config) of the sources that push files into landing."""
        return [d for d in self.datasets() if self.sources[d[0]].kind == "push"]

    def pull_sources(self) -> dict[str, PullSourceConfig]:
        """The sources adlake pulls reports from an API, by name."""
        return {
            name: source
            for name, source in self.sources.items()
            if isinstance(
                source, (AmazonAdsSourceConfig, SellingPartnerSourceConfig, AmcSourceConfig)
            )
        }

    def file_sources(self) -> dict[str, FileSourceConfig]:
        """The SFTP servers and object stores adlake pulls files from, by name."""
        return {
            name: source
            for name, source in self.sources.items()
            if isinstance(
                source, (SftpSourceConfig, GcsSourceConfig, AzureBlobSourceConfig, S3SourceConfig)
            )
        }

    def database_sources(self) -> dict[str, DatabaseSourceConfig]:
        """The PostgreSQL and MySQL/MariaDB sources, by name."""
        return {
            name: source
            for name, source in self.sources.items()
            if isinstance(source, DatabaseSourceConfig)
        }
