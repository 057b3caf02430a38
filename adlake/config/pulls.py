"""Models of API-pull sources: Amazon Ads and Selling Partner reports, pulled on a schedule.

A pull source names its credentials (secret names, never values), where the API lives, which
accounts (Ads profiles, SP marketplaces) to pull, the schedule and look-back window, and its
reports. Each report becomes a dataset: its clean columns, primary key and partition column
are derived from the report, so the clean and catalog layers treat it like any other dataset.
Report columns are checked against the API's published report model when the file is loaded,
so a typo is a config error, not a 400 at 3 a.m.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from adlake.config.base import Cron, Name, Ownership, _Model
from adlake.config.datasets import ColumnConfig, DatasetConfig, PartitionConfig, RetentionConfig
from adlake.config.errors import did_you_mean, problem

Region = Literal["NA", "EU", "FE"]
# a pull lands one delivery per account and day, holding exactly that day's rows: the
# delivery's day is the row's day (rows dated outside a requested window are kept on its edge)
PULLED_PARTITIONS = PartitionConfig()


class LwaCredentialsConfig(_Model):
    """Names of the secrets holding the Login with Amazon app credentials (never the values)."""

    client_id: str = Field("amazon_client_id", description="Secret name of the LWA client id.")
    client_secret: str = Field(
        "amazon_client_secret", description="Secret name of the LWA client secret."
    )
    refresh_token: str = Field(
        "amazon_refresh_token", description="Secret name of the LWA refresh token."
    )


class PullScheduleConfig(_Model):
    """When a source is pulled, and how many past days each pull fetches again."""

    cron: Cron = Field("0 6 * * *", description="Cron expression of the pull, e.g. '0 6 * * *'.")
    timezone: str = Field(
        "UTC", description="Time zone of the cron and of 'yesterday', e.g. America/Los_Angeles."
    )
    lookback_days: int = Field(
        14,
        ge=1,
        le=365,
        description="Days up to yesterday pulled again by each scheduled run (restatements).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise problem(
                "not an IANA time zone", "use a name like UTC or America/Los_Angeles", value=value
            ) from None
        return value


class AmazonApiConfig(_Model):
    """Where an Amazon API lives and the names of the LWA secrets that open it."""

    region: Region = Field("NA", description="API region of the accounts: NA, EU or FE.")
    endpoint: str | None = Field(
        None, description="API base URL; default: the region's Amazon host (set for emulators)."
    )
    token_url: str | None = Field(
        None, description="LWA token URL; default: the region's Amazon token URL."
    )
    credentials: LwaCredentialsConfig = Field(
        default_factory=LwaCredentialsConfig, description="Secret names of the LWA credentials."
    )


class _PullSourceConfig(AmazonApiConfig, Ownership):
    """What every Amazon API pull source shares: region, endpoints, credentials, schedule."""

    description: str = Field("", description="Shown in the Dagster UI.")
    schedule: PullScheduleConfig | None = Field(
        default_factory=PullScheduleConfig, description="Scheduled pulls; none: manual only."
    )
    attribution_days: int = Field(
        14,
        ge=0,
        le=90,
        description="Days during which the API may still restate a day; younger partitions are "
        "marked provisional, older ones settled.",
    )
    repull_after_hours: int = Field(
        12,
        ge=0,
        description="A window pulled less than this many hours ago is not requested again "
        "(retries and overlapping runs reuse it).",
    )
    poll_interval_seconds: float = Field(
        10.0, gt=0, le=600, description="First wait between report status checks (it grows)."
    )
    poll_timeout_minutes: int = Field(
        240, ge=1, description="A report not done after this long fails the run (resumable)."
    )
    start_date: str = Field("2026-01-01", description="First daily partition, YYYY-MM-DD.")
    freshness_hours: int | None = Field(
        48, ge=1, description="Catalog tables are stale when not updated for this many hours."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Retention of the pulled datasets."
    )

    @field_validator("start_date")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise problem(
                "not a date as YYYY-MM-DD", "write it like 2026-01-01 (in quotes)", value=value
            ) from None
        return value

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """The clean-side dataset of every report, by report name."""
        raise NotImplementedError

    def scopes(self) -> list[str]:
        """The accounts pulled: Ads profile ids or SP marketplace ids."""
        raise NotImplementedError


def snake_case(name: str) -> str:
    """``campaign_id`` from ``campaignId`` and ``purchase_date`` from ``purchase-date``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text if text and text[0].isalpha() else f"c_{text}"


class AdsFilterConfig(_Model):
    """A report filter: rows whose field holds one of the values."""

    field: str = Field(description="Filter field of the report type, e.g. campaignStatus.")
    values: list[str] = Field(min_length=1, description="Accepted values, e.g. [ENABLED].")


class AdsReportConfig(_Model):
    """One Amazon Ads Reporting v3 report, pulled per profile and day."""

    description: str = Field("", description="Shown in the Dagster UI.")
    report_type: str = Field(description="reportTypeId, e.g. spCampaigns.")
    group_by: list[str] = Field(min_length=1, description="groupBy values, e.g. [campaign].")
    columns: list[str] = Field(
        min_length=1, description="Report columns as the API names them; 'date' is required."
    )
    filters: list[AdsFilterConfig] = Field(default_factory=list, description="Report filters.")
    time_unit: Literal["DAILY"] = Field(
        "DAILY", description="DAILY: one row per day, so each day is its own partition."
    )
    primary_key: list[str] | None = Field(
        None,
        description="Columns that identify a row within a profile and day; default: the "
        "columns ending in 'Id'.",
    )

    @model_validator(mode="after")
    def _valid_for_api(self) -> AdsReportConfig:
        from adlake.connectors.amazon_ads import spec

        problems = spec.check_report(
            self.report_type,
            self.columns,
            self.group_by,
            self.time_unit,
            [f.model_dump() for f in self.filters],
        )
        if problems:
            raise problem(
                "; ".join(p.rstrip("?. ") for p in problems),
                "use the names of Amazon Ads Reporting v3 (reporting-v3 columns and report types)",
                key="columns",
            )
        for key in self.key_columns():
            if key not in self.columns:
                raise problem(
                    f"not one of the report's columns{did_you_mean(key, self.columns)}",
                    "name columns listed under columns",
                    key="primary_key",
                    value=key,
                )
        if not self.key_columns():
            raise problem(
                "no column ends in 'Id', so rows cannot be told apart",
                "set primary_key to the columns that identify a row, e.g. [campaignId]",
                key="primary_key",
            )
        return self

    def key_columns(self) -> list[str]:
        """The API columns that identify a row within a profile and day."""
        if self.primary_key is not None:
            return list(self.primary_key)
        return [c for c in self.columns if c.endswith("Id")]


class AmazonAdsSourceConfig(_PullSourceConfig):
    """Amazon Ads Reporting v3 reports, pulled for each advertising profile."""

    kind: Literal["amazon_ads"] = Field(description="amazon_ads: Amazon Ads Reporting v3.")
    profiles: list[str] = Field(
        min_length=1, description="Advertising profile ids to pull (see GET /v2/profiles)."
    )
    reports: dict[Name, AdsReportConfig] = Field(min_length=1, description="Reports by name.")

    @field_validator("profiles")
    @classmethod
    def _numeric_ids(cls, value: list[str]) -> list[str]:
        for profile in value:
            if not str(profile).isdigit():
                raise problem(
                    "not a profile id (profile ids are numbers)",
                    "copy profileId from GET /v2/profiles, in quotes",
                    value=profile,
                )
        if len(set(value)) != len(value):
            raise problem("a profile is listed twice", "list each profile id once")
        return value

    def scopes(self) -> list[str]:
        """The profile ids."""
        return list(self.profiles)

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Each report as a dataset: profile_id + the report's columns typed from the API model."""
        from adlake.connectors.amazon_ads import spec

        datasets: dict[str, DatasetConfig] = {}
        for name, report in self.reports.items():
            # report columns are campaign-level figures and names, never personal data
            columns = {"profile_id": ColumnConfig(type="string", required=True, pii_scan=False)}
            for column in report.columns:
                kind = "date" if column == "date" else spec.column_type(column)
                source = None if snake_case(column) == column else column
                columns[snake_case(column)] = ColumnConfig(
                    type=kind, source=source, required=column == "date", pii_scan=False
                )
            datasets[name] = DatasetConfig(
                description=report.description or f"Amazon Ads {report.report_type} report.",
                format="jsonl",
                columns=columns,
                primary_key=["profile_id", "date", *map(snake_case, report.key_columns())],
                partition=PULLED_PARTITIONS,
                retention=self.retention,
                start_date=self.start_date,
                freshness_hours=self.freshness_hours,
            )
        return datasets


class SpReportConfig(_Model):
    """One Selling Partner report, pulled per marketplace for windows of days."""

    description: str = Field("", description="Shown in the Dagster UI.")
    report_type: str = Field(description="SP-API reportType, e.g. GET_SALES_AND_TRAFFIC_REPORT.")
    options: dict[str, str] = Field(
        default_factory=dict, description="reportOptions, e.g. {dateGranularity: DAY}."
    )
    record_path: str | None = Field(
        None, description="JSON/XML documents: the list of records, e.g. salesAndTrafficByDate."
    )
    window_days: int = Field(
        30, ge=1, le=90, description="Days per report request (larger windows, fewer requests)."
    )
    columns: dict[Name, ColumnConfig] = Field(
        min_length=1, description="Declared columns; 'source' is the report's field name."
    )
    primary_key: list[str] = Field(
        min_length=1, description="Columns that identify a row within a marketplace."
    )
    partition_column: str = Field(
        description="Date or timestamp column whose UTC date is the row's day."
    )

    @model_validator(mode="after")
    def _valid_for_api(self) -> SpReportConfig:
        from adlake.connectors.selling_partner import spec

        try:
            fmt = spec.report_format(self.report_type)
        except spec.UnknownReportType:
            known = list(spec.report_index())
            raise problem(
                f"unknown report type{did_you_mean(self.report_type, known)}",
                "use a reportType of the Selling Partner Reports API, e.g. "
                "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL",
                key="report_type",
                value=self.report_type,
            ) from None
        if fmt in ("json", "xml") and not self.record_path:
            raise problem(
                f"{self.report_type} is a {fmt.upper()} document; record_path names its list of "
                "records",
                "set record_path, e.g. salesAndTrafficByDate",
                key="record_path",
            )
        for key in self.primary_key:
            if key not in self.columns:
                raise problem(
                    f"not a declared column{did_you_mean(key, list(self.columns))}",
                    f"name declared columns, or declare '{key}' under columns",
                    key="primary_key",
                    value=key,
                )
        column = self.columns.get(self.partition_column)
        if column is None or column.type not in ("date", "timestamp", "timestamp_tz"):
            dated = [n for n, c in self.columns.items() if c.type in ("date", "timestamp_tz")]
            raise problem(
                "not a declared date or timestamp column"
                f"{did_you_mean(self.partition_column, dated)}",
                f"name one of: {', '.join(dated) or '(declare a date column)'}",
                key="partition_column",
                value=self.partition_column,
            )
        return self

    def date_field(self) -> str:
        """The report field that places a record on a day."""
        return self.columns[self.partition_column].source or self.partition_column


class SellingPartnerSourceConfig(_PullSourceConfig):
    """Selling Partner API reports (Reports API 2021-06-30), pulled for each marketplace."""

    kind: Literal["selling_partner"] = Field(description="selling_partner: SP-API reports.")
    marketplaces: list[str] = Field(
        min_length=1, description="Marketplace ids, e.g. ATVPDKIKX0DER (US)."
    )
    reports: dict[Name, SpReportConfig] = Field(min_length=1, description="Reports by name.")
    attribution_days: int = Field(
        7,
        ge=0,
        le=90,
        description="Days during which orders may still change; younger partitions are "
        "provisional.",
    )

    @field_validator("marketplaces")
    @classmethod
    def _known_marketplaces(cls, value: list[str]) -> list[str]:
        from adlake.connectors.selling_partner import MARKETPLACES

        for marketplace in value:
            if marketplace not in MARKETPLACES:
                raise problem(
                    f"not a marketplace id{did_you_mean(marketplace, list(MARKETPLACES))}",
                    "use the marketplace id, e.g. ATVPDKIKX0DER for amazon.com",
                    value=marketplace,
                )
        return value

    @model_validator(mode="after")
    def _marketplaces_in_region(self) -> SellingPartnerSourceConfig:
        from adlake.connectors.selling_partner import MARKETPLACES

        for marketplace in self.marketplaces:
            country, region = MARKETPLACES[marketplace]
            if region != self.region:
                raise problem(
                    f"{marketplace} ({country}) is served by the {region} endpoint, but this "
                    f"source's region is {self.region}",
                    f"put it in a source with region: {region} (one source per region)",
                    key="marketplaces",
                    value=marketplace,
                )
        return self

    def scopes(self) -> list[str]:
        """The marketplace ids."""
        return list(self.marketplaces)

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Each report as a dataset: marketplace_id + the declared columns."""
        return {
            name: DatasetConfig(
                description=report.description or f"Selling Partner {report.report_type} report.",
                format="jsonl",
                columns={
                    "marketplace_id": ColumnConfig(type="string", required=True, pii_scan=False),
                    **report.columns,
                },
                primary_key=["marketplace_id", *report.primary_key],
                partition=PULLED_PARTITIONS,
                retention=self.retention,
                start_date=self.start_date,
                freshness_hours=self.freshness_hours,
            )
            for name, report in self.reports.items()
        }
