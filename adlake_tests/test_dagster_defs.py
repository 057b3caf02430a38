"""Factory tests: the Definitions built from adlake.yaml, and a snapshot of the asset graph.

The snapshot lives in ``snapshots/asset_graph.json``; after an intended change rewrite it with
``ADLAKE_UPDATE_SNAPSHOTS=1 uv run pytest adlake_tests/test_dagster_defs.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

import adlake.definitions
from adlake.config import AdlakeConfig
from adlake.resources import SecretNotFound

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE_VARIABLE = "ADLAKE_UPDATE_SNAPSHOTS"
DATASETS = [
    ("retail_partner", "pos_transactions"),
    ("crm", "contacts"),
    *[("ad_server", d) for d in ("bids", "impressions", "clicks")],
]
AGGREGATES = ("yield_hourly", "revenue_daily", "floor_suggestions")
REST = [
    ("salesforce", "contacts"),
    ("hubspot", "contacts"),
    ("hubspot", "campaigns"),
    ("hubspot", "campaign_metrics"),
]
PULLED = [
    ("amazon_ads", "sp_campaigns", "profile"),
    ("seller", "orders", "marketplace"),
    *[("amc", w, "tenant") for w in ("campaign_daily", "reach_weekly", "sponsored_ads_daily")],
]
ALL = DATASETS + [(s, d) for s, d, _ in PULLED] + REST
LAYERS = ("raw", "clean", "catalog")


def key(layer: str, source: str, dataset: str) -> dg.AssetKey:
    """An asset key as the user types it in the UI: layer/source/dataset."""
    return dg.AssetKey([layer, source, dataset])


def specs_by_key(defs: dg.Definitions) -> dict[dg.AssetKey, dg.AssetSpec]:
    """Every asset spec of the Definitions, by key."""
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_asset_keys_are_raw_clean_catalog_for_every_dataset(adlake_defs: dg.Definitions) -> None:
    expected = {key(layer, s, d) for layer in LAYERS for s, d in ALL}
    expected.add(dg.AssetKey(["segments", "opted_in_contacts"]))
    expected.add(dg.AssetKey(["exports", "opted_in_contacts", "amazon_dsp"]))
    expected.add(dg.AssetKey(["lifecycle", "retention"]))
    expected |= {dg.AssetKey(["aggregates", name]) for name in AGGREGATES}
    assert set(adlake_defs.resolve_all_asset_keys()) == expected


def test_the_sample_segment_follows_the_catalog_table_it_reads(
    adlake_defs: dg.Definitions,
) -> None:
    spec = specs_by_key(adlake_defs)[dg.AssetKey(["segments", "opted_in_contacts"])]
    assert {dep.asset_key for dep in spec.deps} == {key("catalog", "crm", "contacts")}
    assert spec.group_name == "audiences"


def test_each_layer_depends_on_the_one_before(adlake_defs: dg.Definitions) -> None:
    specs = specs_by_key(adlake_defs)
    for source, dataset in ALL:
        deps = {
            layer: {dep.asset_key for dep in specs[key(layer, source, dataset)].deps}
            for layer in LAYERS
        }
        parent = {key("raw", "hubspot", "campaigns")} if dataset == "campaign_metrics" else set()
        assert deps == {
            "raw": parent,  # a child resource runs after its parent
            "clean": {key("raw", source, dataset)},
            "catalog": {key("clean", source, dataset)},
        }


def test_assets_are_grouped_by_source(adlake_defs: dg.Definitions) -> None:
    groups = {spec.key: spec.group_name for spec in adlake_defs.resolve_all_asset_specs()}
    assert groups.pop(dg.AssetKey(["segments", "opted_in_contacts"])) == "audiences"
    assert groups.pop(dg.AssetKey(["exports", "opted_in_contacts", "amazon_dsp"])) == "audiences"
    assert groups.pop(dg.AssetKey(["lifecycle", "retention"])) == "lifecycle"
    for name in AGGREGATES:
        assert groups.pop(dg.AssetKey(["aggregates", name])) == "aggregates"
    assert groups == {key(layer, s, d): s for layer in LAYERS for s, d in ALL}


def test_assets_carry_their_layer_and_their_source_owners_and_tags(
    adlake_defs: dg.Definitions,
) -> None:
    specs = specs_by_key(adlake_defs)
    for layer in LAYERS:
        spec = specs[key(layer, "crm", "contacts")]
        assert spec.owners == ["team:crm", "crm-admins@example.com"]
        assert spec.tags["domain"] == "customers" and spec.tags["layer"] == layer
        assert spec.kinds  # the declared tags do not replace the kinds
    for spec in specs.values():
        assert spec.tags["layer"] == spec.key.path[0]
    assert specs[key("clean", "amazon_ads", "sp_campaigns")].owners == []


def test_clean_assets_show_their_columns_and_which_hold_hashed_pii_before_any_run(
    adlake_defs: dg.Definitions,
) -> None:
    spec = specs_by_key(adlake_defs)[key("clean", "retail_partner", "pos_transactions")]
    columns = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
    assert columns["email"].tags == {"pii": "sha256", "pii_identifier": "email"}
    assert columns["email"].description == "PII: sha256 of normalized email"
    assert columns["amount"].type == "DECIMAL(12,2)" and not columns["amount"].tags
    assert list(columns)[-1] == "_delivery_id"


def test_every_asset_has_daily_utc_partitions_through_today(
    adlake_defs: dg.Definitions,
) -> None:
    today = datetime.now(tz=UTC).date().isoformat()
    for spec in adlake_defs.resolve_all_asset_specs():
        if spec.key.path[0] in ("segments", "exports", "lifecycle"):  # not per day
            assert spec.partitions_def is None
            continue
        partitions = spec.partitions_def
        if isinstance(partitions, dg.MultiPartitionsDefinition):  # pulled: day x account
            partitions = partitions.get_partitions_def_for_dimension("date")
        assert isinstance(partitions, dg.DailyPartitionsDefinition), spec.key
        assert partitions.start.date().isoformat() == "2026-01-01"
        assert partitions.timezone == "UTC"
        assert partitions.get_first_partition_key() == "2026-01-01"
        assert partitions.get_last_partition_key() == today, "today's delivery has no partition"


def test_clean_reads_the_raw_deliveries_that_can_hold_its_rows(
    adlake_defs: dg.Definitions, project: AdlakeConfig
) -> None:
    specs = specs_by_key(adlake_defs)
    for source, dataset, spec in project.push_datasets():
        (dep,) = specs[key("clean", source, dataset)].deps
        mapping = dep.partition_mapping
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        assert (mapping.start_offset, mapping.end_offset) == (-1, spec.partition.lateness_days)


def test_check_specs(adlake_defs: dg.Definitions) -> None:
    checks = {
        (check.asset_key, check.name): check.blocking
        for assets_def in adlake_defs.assets
        for check in assets_def.check_specs
    }
    expected = {}
    for source, dataset in DATASETS:
        expected[(key("raw", source, dataset), "no_quarantined_files")] = False
        expected[(key("clean", source, dataset), "rows_balance")] = False
        expected[(key("clean", source, dataset), "no_clear_pii")] = True
    for source, dataset, _ in PULLED:
        expected[(key("raw", source, dataset), "no_empty_day_after_rows")] = False
        expected[(key("clean", source, dataset), "rows_balance")] = False
        expected[(key("clean", source, dataset), "no_clear_pii")] = True
    for source, dataset in REST:
        expected[(key("raw", source, dataset), "no_type_changes")] = False
        expected[(key("clean", source, dataset), "rows_balance")] = False
        expected[(key("clean", source, dataset), "no_clear_pii")] = True
    assert checks == expected


def test_pulled_reports_are_day_x_account_in_one_pool_per_api(
    adlake_defs: dg.Definitions, project: AdlakeConfig
) -> None:
    specs = specs_by_key(adlake_defs)
    for source, dataset, dimension in PULLED:
        raw = next(a for a in adlake_defs.assets if a.key == key("raw", source, dataset))
        partitions = specs[raw.key].partitions_def
        assert isinstance(partitions, dg.MultiPartitionsDefinition)
        accounts = partitions.get_partitions_def_for_dimension(dimension)
        assert accounts.get_partition_keys() == project.sources[source].scopes()
        assert raw.op.pool == project.sources[source].kind
        (dep,) = specs[key("clean", source, dataset)].deps
        assert isinstance(dep.partition_mapping, dg.MultiToSingleDimensionPartitionMapping)
        assert dep.partition_mapping.partition_dimension_name == "date"


def test_each_pull_source_has_a_job_and_a_running_schedule(
    adlake_defs: dg.Definitions, project: AdlakeConfig
) -> None:
    for source in ("amazon_ads", "seller"):
        schedule = adlake_defs.resolve_schedule_def(f"{source}_pull_schedule")
        settings = project.sources[source].schedule
        assert (schedule.cron_schedule, schedule.execution_timezone) == (
            settings.cron,
            settings.timezone,
        )
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
        assert schedule.job_name == f"{source}_pull_job"


def test_sensors_run_by_default(adlake_defs: dg.Definitions, project: AdlakeConfig) -> None:
    landing = {f"landing_{s}__{d}_sensor": {key("raw", s, d)} for s, d in DATASETS}
    automation = {
        f"{layer}_automation_sensor": {key(layer, s, d) for s, d in ALL}
        for layer in ("clean", "catalog")
    }
    # the sample aggregates have no schedule: they follow their inputs
    automation["aggregates_automation_sensor"] = {
        dg.AssetKey(["aggregates", name]) for name in AGGREGATES
    }
    notifications = {"run_success_notification_sensor", "run_failure_notification_sensor"}
    sensors = {sensor.name: sensor for sensor in adlake_defs.sensors}
    assert set(sensors) == set(landing) | set(automation) | notifications
    for name in notifications:
        assert sensors[name].default_status == dg.DefaultSensorStatus.RUNNING, name
    for name, targets in {**landing, **automation}.items():
        sensor = sensors[name]
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING, name
        assert sensor.asset_selection is not None
        assert sensor.asset_selection.resolve(list(adlake_defs.assets)) == targets, name
    for name in landing:
        assert sensors[name].minimum_interval_seconds == project.sensors.interval_seconds


def test_a_dataset_added_in_yaml_gets_its_assets_and_sensor(project: AdlakeConfig) -> None:
    config_file = Path(os.environ["ADLAKE_CONFIG"])
    document = yaml.safe_load(config_file.read_text())
    contacts = document["sources"]["crm"]["datasets"]["contacts"]
    document["sources"]["crm"]["datasets"]["leads"] = contacts
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))

    defs = adlake.definitions.defs()

    assert {key(layer, "crm", "leads") for layer in LAYERS} <= set(defs.resolve_all_asset_keys())
    assert "landing_crm__leads_sensor" in {sensor.name for sensor in defs.sensors}


def test_definitions_build_without_secrets(
    project: AdlakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADLAKE_SECRET_CRM_HMAC_KEY")
    secrets_file = project.resolve(project.secrets.file or "secrets.json")
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    secrets_file.write_text("{ this is not json")

    defs = adlake.definitions.defs()
    dg.Definitions.validate_loadable(defs)

    with pytest.raises(SecretNotFound, match="not valid JSON"):
        defs.resources["secrets"].get("crm_hmac_key")


def test_definitions_build_without_network(
    project: AdlakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError("network call while building Definitions")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)

    defs = adlake.definitions.defs()
    dg.Definitions.validate_loadable(defs)

    assert calls == []


def graph_snapshot(defs: dg.Definitions) -> list[dict[str, Any]]:
    """A deterministic description of every asset: what an accidental change would alter."""
    specs = specs_by_key(defs)
    assets_defs = {assets_def.key: assets_def for assets_def in defs.assets}
    rows = []
    for asset_key in sorted(specs, key=lambda k: k.to_user_string()):
        spec = specs[asset_key]
        policy = assets_defs[asset_key].backfill_policy
        condition = spec.automation_condition
        rows.append(
            {
                "key": asset_key.to_user_string(),
                "group": spec.group_name,
                "kinds": sorted(spec.kinds),
                "deps": [
                    {
                        "key": dep.asset_key.to_user_string(),
                        "partition_mapping": _mapping(dep.partition_mapping),
                    }
                    for dep in sorted(spec.deps, key=lambda d: d.asset_key.to_user_string())
                ],
                "partitions": _partitions(spec.partitions_def),
                "checks": sorted(
                    (
                        {"name": check.name, "blocking": check.blocking}
                        for check in assets_defs[asset_key].check_specs
                    ),
                    key=lambda c: str(c["name"]),
                ),
                "automation_condition": condition.get_label() if condition else None,
                "freshness": _freshness(spec.freshness_policy),
                "backfill_policy": (
                    {
                        "type": policy.policy_type.value,
                        "max_partitions_per_run": policy.max_partitions_per_run,
                    }
                    if policy
                    else None
                ),
            }
        )
    return rows


def _mapping(mapping: dg.PartitionMapping | None) -> dict[str, Any] | None:
    if mapping is None:
        return None
    if isinstance(mapping, dg.TimeWindowPartitionMapping):
        return {
            "type": "time_window",
            "start_offset": mapping.start_offset,
            "end_offset": mapping.end_offset,
        }
    if isinstance(mapping, dg.MultiToSingleDimensionPartitionMapping):
        return {"type": "multi_to_single", "dimension": mapping.partition_dimension_name}
    return {"type": type(mapping).__name__}


def _freshness(policy: dg.FreshnessPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    windows = {
        f"{name}_hours": window.to_timedelta().total_seconds() / 3600
        for name in ("fail_window", "warn_window")
        if (window := getattr(policy, name, None)) is not None
    }
    return {"type": type(policy).__name__, **windows}


def _partitions(partitions: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if partitions is None:
        return None
    if isinstance(partitions, dg.DailyPartitionsDefinition):
        return {
            "type": "daily",
            "start": partitions.start.date().isoformat(),
            "timezone": partitions.timezone,
            "end_offset": partitions.end_offset,
        }
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        return {
            "type": "multi",
            "dimensions": {
                d.name: _partitions(d.partitions_def)
                if isinstance(d.partitions_def, dg.DailyPartitionsDefinition)
                else {"type": "static", "keys": d.partitions_def.get_partition_keys()}
                for d in partitions.partitions_defs
            },
        }
    return {"type": type(partitions).__name__}


def test_asset_graph_matches_snapshot(adlake_defs: dg.Definitions) -> None:
    current = json.dumps(graph_snapshot(adlake_defs), indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
    how = f"If the change is intended, run {UPDATE_VARIABLE}=1 uv run pytest {__file__}"
    assert SNAPSHOT.is_file(), f"{SNAPSHOT} is missing. {how}"
    stored = SNAPSHOT.read_text()
    diff = "".join(
        difflib.unified_diff(
            stored.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "snapshot",
            "definitions",
        )
    )
    assert not diff, f"The asset graph changed:\n{diff}\n{how}"
