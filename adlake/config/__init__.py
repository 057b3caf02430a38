"""The pydantic models of ``adlake.yaml`` and the loader that turns mistakes into clear errors.

Configuration is data: sources, datasets, PII policies and the profile are declared in
adlake.yaml and asset factories turn them into definitions. Every model forbids unknown keys
so a typo fails loudly, and :func:`load_config` reports the file, the dotted key, the bad value,
what is allowed and how to fix it. No Dagster here.
"""

from adlake.config.amc import AmcSourceConfig, AmcTenantConfig, AmcWorkflowConfig
from adlake.config.base import NAME_PATTERN, ConfigError, Name
from adlake.config.databases import DatabaseSourceConfig, DbTableConfig
from adlake.config.datasets import (
    ColumnConfig,
    ColumnType,
    CsvOptions,
    DatasetConfig,
    Identifier,
    LandingConfig,
    PartitionConfig,
    PgpConfig,
    PiiConfig,
    PushSourceConfig,
    RetentionConfig,
)
from adlake.config.files import (
    AzureBlobSourceConfig,
    FileDatasetConfig,
    FileSourceConfig,
    GcsSourceConfig,
    RemoteFilesConfig,
    S3SourceConfig,
    SftpSourceConfig,
)
from adlake.config.loader import CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE, config_path, load_config
from adlake.config.profile import (
    PROFILE_ENV_VAR,
    SOURCE_KINDS,
    AdlakeConfig,
    AwsConfig,
    AwsLakeConfig,
    CatalogConfig,
    EngineConfig,
    LakeConfig,
    NotificationsConfig,
    PullSourceConfig,
    SecretsConfig,
    SensorConfig,
    SourceConfig,
)
from adlake.config.pulls import (
    AdsReportConfig,
    AmazonAdsSourceConfig,
    LwaCredentialsConfig,
    PullScheduleConfig,
    SellingPartnerSourceConfig,
    SpReportConfig,
    snake_case,
)
from adlake.config.rest import RestResourceConfig, RestSourceConfig

__all__ = [
    "RestResourceConfig",
    "RestSourceConfig",
    "AmcSourceConfig",
    "AmcTenantConfig",
    "AmcWorkflowConfig",
    "AzureBlobSourceConfig",
    "FileDatasetConfig",
    "FileSourceConfig",
    "GcsSourceConfig",
    "PgpConfig",
    "RemoteFilesConfig",
    "S3SourceConfig",
    "SftpSourceConfig",
    "SOURCE_KINDS",
    "DatabaseSourceConfig",
    "DbTableConfig",
    "AdsReportConfig",
    "AmazonAdsSourceConfig",
    "LwaCredentialsConfig",
    "PullScheduleConfig",
    "PullSourceConfig",
    "PushSourceConfig",
    "SellingPartnerSourceConfig",
    "SpReportConfig",
    "snake_case",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "NAME_PATTERN",
    "PROFILE_ENV_VAR",
    "AdlakeConfig",
    "AwsConfig",
    "AwsLakeConfig",
    "CatalogConfig",
    "ColumnConfig",
    "ColumnType",
    "ConfigError",
    "CsvOptions",
    "DatasetConfig",
    "EngineConfig",
    "Identifier",
    "LakeConfig",
    "LandingConfig",
    "Name",
    "NotificationsConfig",
    "PartitionConfig",
    "PiiConfig",
    "RetentionConfig",
    "SecretsConfig",
    "SensorConfig",
    "SourceConfig",
    "config_path",
    "load_config",
]
