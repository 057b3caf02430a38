"""Aggregate assets: one per configured aggregate, a day per partition, registered for queries.

``aggregates/<name>`` depends on the catalog assets of the tables its SQL names, runs after
they change (or on its cron, for yesterday), computes each day of the run, publishes it as a
clean partition and registers ``aggregates.<name>`` in the catalog.
"""

from datetime import UTC, timedelta

import dagster as dg

from adlake.aggregates import AggregateError, compute_day, publish_day
from adlake.assets.keys import dataset_key
from adlake.assets.partitions import after_upstream_updates
from adlake.assets.segments import referenced_datasets
from adlake.catalog.table import CatalogTable
from adlake.config import AdlakeConfig
from adlake.config.aggregates import AggregateConfig
from adlake.config.profile import AGGREGATES
from adlake.lake.zones import Zone, dataset_prefix
from adlake.resources.catalog import CatalogResource
from adlake.resources.lake import LakeResource
from adlake.transform.clean_model import CLEAN_FILE


def build_aggregate_defs(config: AdlakeConfig) -> dg.Definitions:
    """The asset (and schedule, when configured) of every aggregate."""
    datasets = [(s, d) for s, d, _ in config.datasets()]
    assets, schedules = [], []
    for name, aggregate in config.aggregates.items():
        asset = build_aggregate_asset(name, aggregate, datasets)
        assets.append(asset)
        if aggregate.schedule:
            schedules.append(build_aggregate_schedule(name, aggregate, asset))
    return dg.Definitions(assets=assets, schedules=schedules)


def aggregate_key(name: str) -> dg.AssetKey:
    """``aggregates/<name>``."""
    return dg.AssetKey([AGGREGATES, name])


def build_aggregate_asset(
    name: str, aggregate: AggregateConfig, datasets: list[tuple[str, str]]
) -> dg.AssetsDefinition:
    """One aggregate's asset: each day of the run computed, published and registered."""
    inputs = referenced_datasets(aggregate.sql, datasets)

    @dg.asset(
        key=aggregate_key(name),
        group_name=AGGREGATES,
        kinds={"duckdb", "parquet"},
        partitions_def=dg.DailyPartitionsDefinition(
            start_date=aggregate.start_date, timezone="UTC", end_offset=1
        ),
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[dataset_key("catalog", s, d) for s, d in inputs],
        automation_condition=None if aggregate.schedule else after_upstream_updates(),
        description=aggregate.description or f"Daily aggregate {name}.",
    )
    def _aggregate(
        context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
    ) -> dg.MaterializeResult:
        store = lake.lake()
        rows: dict[str, int] = {}
        schema: list[tuple[str, str]] = []
        for day in sorted(context.partition_keys):
            try:
                table, schema = compute_day(store, datasets, name, aggregate, day)
            except AggregateError as exc:
                raise dg.Failure(description=str(exc)) from None
            publish_day(store, name, day, table)
            rows[day] = table.num_rows
        registration = catalog.catalog().register(
            CatalogTable(
                source=AGGREGATES,
                dataset=name,
                description=aggregate.description or f"Daily aggregate {name}.",
                location=store.url(dataset_prefix(Zone.CLEAN, AGGREGATES, name)),
                columns=tuple(schema),
                partitions=tuple(rows),
                file_name=CLEAN_FILE,
            )
        )
        context.log.info(f"aggregate {name}: {sum(rows.values()):,} row(s) over {len(rows)} day(s)")
        return dg.MaterializeResult(
            metadata={
                "rows": sum(rows.values()),
                "days": len(rows),
                "table": registration.table,
                "rows_per_day": dg.MetadataValue.json(rows),
            }
        )

    return _aggregate


def build_aggregate_schedule(
    name: str, aggregate: AggregateConfig, asset: dg.AssetsDefinition
) -> dg.ScheduleDefinition:
    """Compute yesterday's partition on the aggregate's cron."""
    assert aggregate.schedule is not None
    job = dg.define_asset_job(f"aggregate_{name}_job", selection=[asset.key])

    @dg.schedule(
        name=f"aggregate_{name}_schedule",
        job=job,
        cron_schedule=aggregate.schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        moment = context.scheduled_execution_time.astimezone(UTC)
        day = (moment.date() - timedelta(days=1)).isoformat()
        return dg.RunRequest(run_key=f"{name}:{day}", partition_key=day)

    return _schedule
