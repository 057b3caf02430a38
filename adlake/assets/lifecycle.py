"""Retention as an asset: expire partitions past each dataset's policy, daily or on demand.

``lifecycle/retention`` lists, for every daily dataset, the raw partitions older than
``retention.raw_days`` and the clean ones older than ``retention.clean_days`` (none: forever),
deletes them (raw manifests are kept, marked expired), drops the clean ones from the catalog,
and reports every partition it removed. On S3 it also puts the matching bucket lifecycle rules
(Intelligent-Tiering after 30 days, expiration after the retention), so objects adlake never
lists again still go. ``dry_run: true`` lists them and deletes and puts nothing.
"""

from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from adlake.config import AdlakeConfig
from adlake.lake.retention import Expiry, expire, expired_partitions, lifecycle_rules
from adlake.lake.zones import Zone
from adlake.resources.catalog import CatalogResource
from adlake.resources.lake import LakeResource

KEY = dg.AssetKey(["lifecycle", "retention"])


class RetentionRunConfig(dg.Config):
    """What a retention run does."""

    dry_run: bool = Field(False, description="List what would be deleted; delete nothing.")


def build_lifecycle_defs(project: AdlakeConfig) -> dg.Definitions:
    """The retention asset, its job and its daily schedule (03:00 UTC)."""

    @dg.asset(
        key=KEY,
        group_name="lifecycle",
        kinds={"lake"},
        description="Deletes raw and clean partitions past their dataset's retention (dry_run "
        "lists them) and reports each one.",
    )
    def retention(
        context: dg.AssetExecutionContext,
        config: RetentionRunConfig,
        lake: LakeResource,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        today = datetime.now(tz=UTC).date()
        plan: list[Expiry] = []
        for source, dataset, spec in project.daily_datasets():
            keep = spec.retention
            plan += expired_partitions(store, Zone.RAW, source, dataset, keep.raw_days, today)
            if keep.clean_days is not None:
                plan += expired_partitions(
                    store, Zone.CLEAN, source, dataset, keep.clean_days, today
                )
        if not config.dry_run:
            dropped: dict[tuple[str, str], list[str]] = defaultdict(list)
            for expiry in plan:
                expire(store, expiry)
                if expiry.zone == Zone.CLEAN.value:
                    dropped[(expiry.source, expiry.dataset)].append(expiry.dt)
            for (source, dataset), dts in dropped.items():
                catalog.catalog().drop_partitions(source, dataset, dts)
        rules = lifecycle_rules(
            project.aws.lake.prefix if project.aws else "",
            [
                (s, d, spec.retention.raw_days, spec.retention.clean_days)
                for s, d, spec in project.daily_datasets()
            ],
        )
        lifecycle = "dry run: no rules put" if config.dry_run else lake.apply_lifecycle(rules)
        verb = "would delete" if config.dry_run else "deleted"
        context.log.info(f"retention {verb} {len(plan)} partition(s)")
        rows = "\n".join(
            f"| {e.zone} | {e.source}/{e.dataset} | {e.dt} | {e.files} | {e.bytes:,} |"
            for e in plan[:200]
        )
        return dg.MaterializeResult(
            metadata={
                "dry_run": config.dry_run,
                "lifecycle_rules": lifecycle,
                "partitions": len(plan),
                "files": sum(e.files for e in plan),
                "bytes": sum(e.bytes for e in plan),
                "expired": dg.MetadataValue.md(
                    "| zone | dataset | dt | files | bytes |\n|---|---|---|---|---|\n"
                    + (rows or "| | | | | |")
                ),
            }
        )

    job = dg.define_asset_job("retention_job", selection=[KEY], description="Apply retention.")
    schedule = dg.ScheduleDefinition(
        name="retention_schedule",
        job=job,
        cron_schedule="0 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Expires partitions past their retention, every day at 03:00 UTC.",
    )
    return dg.Definitions(assets=[retention], jobs=[job], schedules=[schedule])
