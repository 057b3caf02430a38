"""Catalog assets: the clean table registered for queries, then landing files archived."""

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import after_upstream_updates, daily_partitions
from adlake.catalog.table import CatalogTable
from adlake.config import AdlakeConfig, DatasetConfig
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.zones import Zone, dataset_prefix
from adlake.resources.catalog import CatalogResource
from adlake.resources.lake import LakeResource
from adlake.transform.clean import CLEAN_FILE, clean_schema


def build_catalog_defs(config: AdlakeConfig) -> dg.Definitions:
    """One catalog asset per declared dataset."""
    return dg.Definitions(
        assets=[build_catalog_asset(s, d, spec) for s, d, spec in config.daily_datasets()]
    )


def column_notes(spec: DatasetConfig) -> dict[str, str]:
    """Catalog comments that tell a reader which columns hold hashed PII and how."""
    return {
        name: f"PII: {column.pii.policy} of normalized {column.pii.identifier}"
        for name, column in spec.columns.items()
        if column.pii and column.pii.policy != "drop"
    }


def build_catalog_asset(source: str, dataset: str, spec: DatasetConfig) -> dg.AssetsDefinition:
    """The catalog asset of one dataset: a DuckDB view ``<source>.<dataset>``."""

    @dg.asset(
        key=dataset_key("catalog", source, dataset),
        group_name=source,
        kinds={"duckdb", "table"},
        partitions_def=daily_partitions(spec),
        deps=[dataset_key("clean", source, dataset)],
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=after_upstream_updates(),
        description=f"{source}.{dataset} in the catalog; landing files are archived after.",
    )
    def _catalog(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        targets = list(context.partition_keys)
        clean_prefix = dataset_prefix(Zone.CLEAN, source, dataset)
        if not any(f.path.endswith(f"/{CLEAN_FILE}") for f in store.list_files(clean_prefix)):
            clean_key = dataset_key("clean", source, dataset).to_user_string()
            raise dg.Failure(
                description=f"{source}/{dataset} has no clean partition yet, so there is nothing "
                f"to register; materialize {clean_key} first"
            )
        registration = catalog.catalog().register(
            CatalogTable(
                source=source,
                dataset=dataset,
                description=spec.description or f"{source}/{dataset}",
                location=store.url(clean_prefix),
                columns=tuple(clean_schema(spec)),
                partitions=tuple(targets),
                column_notes=column_notes(spec),
                file_name=CLEAN_FILE,
            )
        )
        ledger = DeliveryLedger(store, source, dataset)
        archived = [d.landing_path for d in ledger.for_dates(targets) if ledger.archive(d)]
        if archived:
            context.log.info(f"archived {len(archived)} landing file(s): {', '.join(archived)}")
        return dg.MaterializeResult(
            metadata={
                "table": registration.table,
                "location": registration.location,
                "partitions_in_catalog": len(registration.partitions),
                **(
                    {"rows_in_these_partitions": registration.rows_in_partitions}
                    if registration.rows_in_partitions is not None
                    else {}
                ),
                "landing_files_archived": len(archived),
                "query": dg.MetadataValue.md(
                    f"```sql\nSELECT * FROM {registration.table} "
                    f"WHERE dt = DATE '{targets[-1]}' LIMIT 10\n```"
                ),
            }
        )

    return _catalog
