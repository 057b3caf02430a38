"""Asset factories of audiences: ``segments/<name>`` and ``exports/<segment>/<destination>``.

A segment asset runs the segment's SQL over the clean zone and writes its membership snapshot
(hashed identifiers only) to the state zone; an export asset delivers that snapshot to one
destination through :func:`adlake.segments.export.run_export`, which plans the delta, applies the
guards and resumes an interrupted delivery. Both are eager by default, or run on the cron the
config gives.
"""

import re

import dagster as dg
import pyarrow.compute as pc
from pydantic import Field

from adlake.assets.keys import dataset_key, export_key, segment_key
from adlake.assets.partitions import after_upstream_updates
from adlake.config import AdlakeConfig
from adlake.config.segments import ExportConfig, SegmentConfig
from adlake.destinations import open_destination
from adlake.lake.zones import Zone
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource
from adlake.segments.export import ExportRefused, read_parquet, run_export, write_parquet
from adlake.segments.members import SegmentError, segment_members


class ExportRunConfig(dg.Config):
    """Run options of an export, set in the launchpad."""

    dry_run: bool = Field(False, description="Report what would be sent; send nothing.")
    full_refresh: bool = Field(False, description="Replace the whole remote audience.")
    allow_shrink: bool = Field(
        False, description="Allow removing more than the export's max_shrink share."
    )


def snapshot_path(segment: str) -> str:
    """Lake path of a segment's current membership snapshot."""
    return f"{Zone.STATE.value}/segments/{segment}/members.parquet"


def build_segment_defs(config: AdlakeConfig) -> dg.Definitions:
    """A segment asset per segment, an export asset per export, and schedules where configured."""
    datasets = [(source, dataset) for source, dataset, _ in config.datasets()]
    assets: list[dg.AssetsDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for name, segment in config.segments.items():
        assets.append(build_segment_asset(name, segment, datasets))
        if segment.schedule:
            schedules.append(_schedule(f"segment_{name}", segment_key(name), segment.schedule))
        for export in segment.exports:
            kind = config.destinations[export.destination].kind
            assets.append(build_export_asset(name, export, kind, config))
            if export.schedule:
                key = export_key(name, export.destination)
                schedules.append(
                    _schedule(f"export_{name}__{export.destination}", key, export.schedule)
                )
    return dg.Definitions(assets=assets, schedules=schedules)


def referenced_datasets(sql: str, datasets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``<source>.<dataset>`` tables a segment's SQL names, for its lineage."""
    text = sql.lower()
    return [(s, d) for s, d in datasets if re.search(rf'\b"?{s}"?\s*\.\s*"?{d}"?\b', text)]


def build_segment_asset(
    name: str, segment: SegmentConfig, datasets: list[tuple[str, str]]
) -> dg.AssetsDefinition:
    """The asset that refreshes one segment's membership snapshot."""
    inputs = referenced_datasets(segment.sql, datasets)

    @dg.asset(
        key=segment_key(name),
        group_name="audiences",
        kinds={"duckdb", "parquet"},
        deps=[dataset_key("catalog", s, d) for s, d in inputs],
        automation_condition=None if segment.schedule else after_upstream_updates(),
        description=segment.description or f"Audience segment {name}.",
    )
    def _segment(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        store = lake.lake()
        try:
            members = segment_members(store, datasets, name, segment)
        except SegmentError as exc:
            raise dg.Failure(description=str(exc)) from None
        write_parquet(store, snapshot_path(name), members)
        coverage = {
            f"with_{field}": members.num_rows - members.column(field).null_count
            for field in segment.identifiers
        }
        consent = {
            f"consent_{purpose}": int(pc.sum(members.column(f"consent__{purpose}")).as_py() or 0)
            for purpose in segment.consent
        }
        context.log.info(f"segment {name}: {members.num_rows:,} members")
        return dg.MaterializeResult(
            metadata={
                "members": members.num_rows,
                **coverage,
                **consent,
                "snapshot": dg.MetadataValue.path(store.url(snapshot_path(name))),
            }
        )

    return _segment


def build_export_asset(
    name: str, export: ExportConfig, kind: str, config: AdlakeConfig
) -> dg.AssetsDefinition:
    """The asset that delivers one segment to one destination."""
    destination_name = export.destination
    destination_config = config.destinations[destination_name]

    @dg.asset(
        key=export_key(name, destination_name),
        group_name="audiences",
        kinds={kind},
        deps=[segment_key(name)],
        automation_condition=None if export.schedule else after_upstream_updates(),
        description=f"Segment {name} delivered to {destination_name} ({kind}).",
        tags={"adlake/destination": destination_name},
    )
    def _export(
        context: dg.AssetExecutionContext,
        config: ExportRunConfig,
        lake: LakeResource,
        secrets: SecretsResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        path = snapshot_path(name)
        if not store.exists(path):
            raise dg.Failure(
                description=f"segment {name} has no snapshot yet; materialize "
                f"{segment_key(name).to_user_string()} first"
            )
        members = read_parquet(store, path)
        destination = open_destination(destination_config, secrets.get)
        try:
            report = run_export(
                store,
                name,
                destination_name,
                members,
                export,
                destination,
                full_refresh=config.full_refresh,
                allow_shrink=config.allow_shrink,
                dry_run=config.dry_run,
                progress=context.log.info,
            )
        except ExportRefused as exc:
            raise dg.Failure(description=f"export {name} -> {destination_name}: {exc}") from None
        finally:
            destination.close()
        metadata: dict[str, object] = {
            "mode": report.mode,
            "dry_run": report.dry_run,
            "members": report.target,
            "added": report.added,
            "removed": report.removed,
            "rejected": report.rejected,
            "excluded_no_consent": report.excluded_no_consent,
            "resumed_batches": report.resumed_batches,
        }
        if report.audience_id:
            metadata["audience_id"] = report.audience_id
        if report.match_rate:
            metadata["match_rate"] = report.match_rate
        for field, count in report.skipped_fields.items():
            metadata[f"skipped_{field}"] = count
        metadata.update({k: str(v) for k, v in report.details.items()})
        return dg.MaterializeResult(metadata=metadata)

    return _export


def _schedule(name: str, key: dg.AssetKey, cron: str) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(f"{name}_job", selection=[key])
    return dg.ScheduleDefinition(name=f"{name}_schedule", job=job, cron_schedule=cron)
