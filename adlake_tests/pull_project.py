"""A project whose adlake.yaml pulls Amazon Ads and Selling Partner reports from the emulators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from adlake.config import AdlakeConfig, load_config
from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN

ADS_COLUMNS = ["date", "campaignId", "campaignName", "impressions", "clicks", "cost", "sales7d"]
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def today() -> date:
    """Today in UTC (the APIs' retention windows are counted from it)."""
    return datetime.now(tz=UTC).date()


def days_ago(count: int) -> str:
    """The ISO date ``count`` days before today."""
    return (today() - timedelta(days=count)).isoformat()


@dataclass
class PullProject:
    """The config file, its parsed model, and the emulator endpoints it points at."""

    path: Path
    config: AdlakeConfig

    def defs(self) -> dg.Definitions:
        """Definitions as ``dagster dev`` builds them from this project."""
        import adlake.definitions

        return adlake.definitions.defs()

    def lake_root(self) -> Path:
        """The local lake folder."""
        return self.config.resolve(self.config.lake.root)


def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LWA test credentials as the local profile's secret variables."""
    monkeypatch.setenv("ADLAKE_SECRET_AMAZON_CLIENT_ID", TEST_CLIENT_ID)
    monkeypatch.setenv("ADLAKE_SECRET_AMAZON_CLIENT_SECRET", TEST_CLIENT_SECRET)
    monkeypatch.setenv("ADLAKE_SECRET_AMAZON_REFRESH_TOKEN", TEST_REFRESH_TOKEN)


def ads_source(endpoint: str, token_url: str, profiles: list[str], **extra: Any) -> dict:
    """An amazon_ads source of one spCampaigns report, polling fast."""
    return {
        "kind": "amazon_ads",
        "endpoint": endpoint,
        "token_url": token_url,
        "profiles": profiles,
        "poll_interval_seconds": 0.02,
        "start_date": days_ago(120),
        "schedule": {"cron": "0 6 * * *", "timezone": "America/Los_Angeles"},
        "reports": {
            "sp_campaigns": {
                "report_type": "spCampaigns",
                "group_by": ["campaign"],
                "columns": ADS_COLUMNS,
            }
        },
        **extra,
    }


def write_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: dict[str, dict]
) -> PullProject:
    """Write adlake.yaml with these sources into tmp_path and point ADLAKE_CONFIG at it."""
    path = tmp_path / "adlake.yaml"
    document = {
        "lake": {"root": str(tmp_path / "lake")},
        "catalog": {"duckdb_path": str(tmp_path / "catalog.duckdb")},
        "secrets": {"file": None},
        "sources": sources,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("ADLAKE_CONFIG", str(path))
    secrets_env(monkeypatch)
    return PullProject(path, load_config(path))


def key(day: str, scope: str, dimension: str = "profile") -> str:
    """The (day, account) partition key of a pulled report."""
    return str(dg.MultiPartitionKey({"date": day, dimension: scope}))


def materialize(
    defs: dg.Definitions,
    selection: list[str],
    instance: dg.DagsterInstance,
    first: str,
    last: str,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """One run over the partition range first..last (each a key string)."""
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        resources=defs.resources,
        instance=instance,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        raise_on_error=raise_on_error,
    )
