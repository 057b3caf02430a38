"""Retention: what expires, what is never touched, dry runs, clean kept, Glue partitions dropped."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from adlake.config import AdlakeConfig
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.retention import EXPIRED, expire, expired_partitions, lifecycle_rules
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone
from adlake.resources.lake import S3LakeResource
from adlake_tests.conftest import SAMPLE_DAYS, AwsTestAccount
from adlake_tests.test_aws_glue import catalog, contacts, partitions, write_parquet
from adlake_tests.test_dagster_flow import clean_and_catalog, ingest_sample_days, layer, materialize

TODAY = date(2026, 12, 2)


def fingerprint(root: Path) -> dict[str, str]:
    """Every file under root and the SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_only_partitions_at_least_keep_days_old_expire_and_nothing_younger_is_touched(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    days = [(TODAY - timedelta(days=n)).isoformat() for n in range(45)]
    for day in days:
        lake.write_bytes(f"raw/shop/orders/dt={day}/d1/orders.csv", f"rows of {day}\n".encode())
    lake.write_bytes("raw/shop/orders/reports/keep-me.json", b"{}")  # not a dt partition
    found = expired_partitions(lake, Zone.RAW, "shop", "orders", 30, TODAY)
    assert [e.dt for e in found] == sorted(days[30:])  # 30..44 days old; 0..29 kept
    younger = {f"dt={d}" for d in days[:30]}
    before = {
        path: digest
        for path, digest in fingerprint(tmp_path / "lake").items()
        if path.split("/")[3] in younger or "/reports/" in path
    }
    for expiry in found:
        expire(lake, expiry)
    after = fingerprint(tmp_path / "lake")
    assert after == before  # what is inside retention is byte for byte what it was


def test_the_retention_asset_dry_runs_then_deletes_and_clean_keeps_expired_days(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    clean_and_catalog(adlake_defs, instance)
    lake_root = project.resolve(project.lake.root)
    clean_before = fingerprint(lake_root / "clean")
    retention = ["lifecycle/retention"]

    dry = dg.materialize(
        list(adlake_defs.assets),
        selection=retention,
        resources=adlake_defs.resources,
        instance=instance,
        run_config={"ops": {"lifecycle__retention": {"config": {"dry_run": True}}}},
    )
    metadata = dry.asset_materializations_for_node("lifecycle__retention")[0].metadata
    raw_days = set(SAMPLE_DAYS)  # months old, past raw_days 30 / 90
    assert metadata["dry_run"].value is True and metadata["partitions"].value >= len(raw_days)
    assert all(d in metadata["expired"].value for d in raw_days)
    assert (
        lake_root / "raw" / "retail_partner" / "pos_transactions" / f"dt={SAMPLE_DAYS[0]}"
    ).exists()

    done = materialize(adlake_defs, retention, instance)
    deleted = done.asset_materializations_for_node("lifecycle__retention")[0].metadata
    assert deleted["partitions"].value == metadata["partitions"].value
    assert not (
        lake_root / "raw" / "retail_partner" / "pos_transactions" / f"dt={SAMPLE_DAYS[0]}"
    ).exists()
    ledger = DeliveryLedger(Lake(lake_root), "retail_partner", "pos_transactions")
    assert {d.status for d in ledger.for_dates(list(SAMPLE_DAYS))} == {EXPIRED}
    assert fingerprint(lake_root / "clean") == clean_before  # clean keeps forever by default

    again = materialize(adlake_defs, [layer("clean")], instance, partition=SAMPLE_DAYS[1])
    kept = again.asset_materializations_for_node("clean__retail_partner__pos_transactions")
    assert SAMPLE_DAYS[1] in kept[0].metadata["kept_raw_expired"].value
    assert fingerprint(lake_root / "clean") == clean_before  # not rebuilt from nothing


def test_expired_clean_partitions_leave_the_glue_catalog(aws: AwsTestAccount) -> None:
    source = f"crm_{datetime.now(tz=UTC):%H%M%S%f}"
    days = ("2026-01-01", "2026-01-02", "2026-06-01")
    table = contacts(aws, source, days)
    for day in days:
        write_parquet(aws, table, day)
    glue = catalog(aws)
    glue.register(table)
    assert glue.drop_partitions(source, "contacts", ["2026-01-01", "2026-01-02", "2025-12-31"]) == 2
    assert [p["Values"] for p in partitions(aws, source, "contacts")] == [["2026-06-01"]]
    assert glue.drop_partitions(source, "nothing_here", ["2026-01-01"]) == 0


def test_on_s3_matching_lifecycle_rules_replace_adlake_s_and_keep_the_others(
    aws: AwsTestAccount,
) -> None:
    s3 = aws.client("s3")
    theirs = {"ID": "logs-expire", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
              "Expiration": {"Days": 7}}  # fmt: skip
    s3.put_bucket_lifecycle_configuration(
        Bucket=aws.bucket, LifecycleConfiguration={"Rules": [theirs]}
    )
    resource = S3LakeResource(
        bucket=aws.bucket, prefix="adlake", kms_key_id=aws.kms_key_id,
        region=aws.region, endpoint_url=aws.endpoint_url,
    )  # fmt: skip
    rules = lifecycle_rules("adlake", [("crm", "contacts", 30, None), ("ads", "imps", 10, 400)])
    for _ in range(2):  # applying twice changes nothing
        said = resource.apply_lifecycle(rules)
    assert said == f"s3://{aws.bucket}: 4 adlake rule(s) put, 1 other(s) kept"
    held = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=aws.bucket)["Rules"]}
    assert set(held) == {
        "logs-expire",
        "adlake-retention-raw-crm-contacts",
        "adlake-retention-clean-crm-contacts",
        "adlake-retention-raw-ads-imps",
        "adlake-retention-clean-ads-imps",
    }
    raw = held["adlake-retention-raw-crm-contacts"]
    assert raw["Filter"]["Prefix"] == "adlake/raw/crm/contacts/"
    assert raw["Expiration"]["Days"] == 31  # never before adlake's own 30 days
    assert "Expiration" not in held["adlake-retention-clean-crm-contacts"]  # clean: forever
    assert held["adlake-retention-raw-ads-imps"]["Expiration"]["Days"] == 11
    assert held["adlake-retention-clean-ads-imps"]["Transitions"][0]["StorageClass"] == (
        "INTELLIGENT_TIERING"
    )
