"""Assets of relational sources: raw change batches or extracts, current-state clean, catalog.

A CDC source is one capture step (its tables share one replication slot or binlog stream, so
they are one multi-asset ``raw/<source>/<table>``); a batch source has one extract asset per
table. Either way each table then gets ``clean/<source>/<table>`` (the current-state table)
and ``catalog/<source>/<table>``. None is partitioned in Dagster's sense: every run moves
the table forward from where the state zone says it is.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from adlake.assets.catalog import column_notes
from adlake.assets.keys import dataset_key
from adlake.assets.schema import clean_column_schema
from adlake.catalog.table import CatalogTable
from adlake.config import (
    AdlakeConfig,
    DatabaseSourceConfig,
    DatasetConfig,
    DbTableConfig,
)
from adlake.databases.batch import extract_table
from adlake.databases.capture import CaptureOutcome, CaptureState, capture
from adlake.databases.connection import DatabaseUrl, parse_database_url
from adlake.databases.current_state import (
    StateOutcome,
    refresh_current_state,
    refresh_extracted_state,
)
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix
from adlake.resources.catalog import CatalogResource
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource
from adlake.transform.clean import CLEAN_FILE, clean_schema

CDC_LAG = "cdc_lag"
NO_CLEAR_PII = "no_clear_pii"
ALL_CHANGES_APPLIED = "all_changes_applied"


def build_database_defs(config: AdlakeConfig) -> dg.Definitions:
    """Raw, clean and catalog assets of every database source."""
    assets: list[dg.AssetsDefinition] = []
    for name, source in config.database_sources().items():
        if source.mode == "cdc":
            assets.append(build_capture_asset(name, source))
        else:
            assets.extend(build_extract_asset(name, source, t) for t in source.tables)
        for table in source.tables:
            assets.append(build_state_asset(name, source, table))
            assets.append(build_database_catalog_asset(name, source, table))
    return dg.Definitions(assets=assets)


def connection_url(source: DatabaseSourceConfig, secrets: SecretsResource) -> DatabaseUrl:
    """The source's connection URL, read from its secret (never logged: see DatabaseUrl)."""
    try:
        return parse_database_url(secrets.get(source.connection), source.kind, source.connection)
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None


def source_table_name(table: DbTableConfig) -> str:
    """The table's own name in the source, as its change records carry it."""
    assert table.table is not None
    return table.table.rpartition(".")[2]


def build_capture_asset(name: str, source: DatabaseSourceConfig) -> dg.AssetsDefinition:
    """One CDC micro-batch of every table of the source (see adlake.databases.capture)."""
    keys = {table: dataset_key("raw", name, table) for table in source.tables}
    engine = (
        "PostgreSQL logical replication (pgoutput)"
        if source.kind == "postgres"
        else ("the MySQL/MariaDB row binlog")
    )

    @dg.multi_asset(
        name=f"{name}_capture",
        group_name=name,
        specs=[
            dg.AssetSpec(
                key,
                kinds={source.kind, "parquet"},
                description=f"Change batches of {source.tables[table].table} captured from "
                f"{engine}: operation, position, commit time and row image. "
                + source.tables[table].description,
                metadata={"table": source.tables[table].table},
            )
            for table, key in keys.items()
        ],
        check_specs=[
            dg.AssetCheckSpec(
                CDC_LAG,
                asset=key,
                description=f"Captured changes are at most {source.max_lag_seconds} s behind "
                "the source (max_lag_seconds).",
            )
            for key in keys.values()
        ],
        pool=f"cdc_{name}",
    )
    def _capture(
        context: dg.AssetExecutionContext, lake: LakeResource, secrets: SecretsResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        url = connection_url(source, secrets)
        try:
            outcome = capture(lake.lake(), name, source, url, log=context.log.info)
        except Exception as error:  # driver errors carry no password; name the source
            raise dg.Failure(
                description=f"change capture of {name} ({url.masked}) failed: {error}. "
                "Nothing was acknowledged past the last durable batch; the next run resumes "
                "there."
            ) from error
        for table, key in keys.items():
            yield dg.MaterializeResult(asset_key=key, metadata=_capture_metadata(outcome, table))
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name=CDC_LAG,
                passed=outcome.lag_seconds <= source.max_lag_seconds,
                metadata={
                    "lag_seconds": round(outcome.lag_seconds, 1),
                    "lag_bytes": outcome.lag_bytes,
                    "max_lag_seconds": source.max_lag_seconds,
                    "caught_up": outcome.caught_up,
                },
                description=None
                if outcome.lag_seconds <= source.max_lag_seconds
                else f"{outcome.lag_seconds:,.0f} s behind: raise max_changes_per_run or run "
                "micro-batches more often (interval_seconds)",
            )

    return _capture


def _capture_metadata(outcome: CaptureOutcome, table: str) -> dict[str, object]:
    files = [f for f in outcome.files if f"/{table}/" in f]
    return {
        "changes": outcome.changes.get(table, 0),
        "snapshot": outcome.snapshot,
        "files": len(files),
        "last_file": files[-1] if files else "none",
        "position": outcome.position,
        "start_position": outcome.start_position,
        "replayed_changes_skipped": outcome.skipped_replayed,
        "caught_up": outcome.caught_up,
        "cdc_lag_seconds": round(outcome.lag_seconds, 1),
        "cdc_lag_bytes": outcome.lag_bytes,
        "last_commit_time": outcome.last_commit_time.isoformat()
        if outcome.last_commit_time
        else "none",
    }


def build_extract_asset(name: str, source: DatabaseSourceConfig, table: str) -> dg.AssetsDefinition:
    """The raw asset of one table of a batch source: one full or incremental extract per run."""
    spec = source.tables[table]
    what = spec.table or "a query"
    how = (
        f"incremental on {spec.incremental_column}" if spec.incremental_column else "full extracts"
    )

    @dg.asset(
        key=dataset_key("raw", name, table),
        group_name=name,
        kinds={source.kind, "parquet"},
        pool=f"db_{name}",
        description=f"Extracts of {what} ({how}) as Parquet. {spec.description}".strip(),
    )
    def _extract(
        context: dg.AssetExecutionContext, lake: LakeResource, secrets: SecretsResource
    ) -> dg.MaterializeResult:
        url = connection_url(source, secrets)
        outcome = extract_table(lake.lake(), name, table, spec, url, datetime.now(UTC))
        context.log.info(f"{table}: {outcome.rows:,} row(s) extracted ({outcome.mode})")
        return dg.MaterializeResult(
            metadata={
                "rows": outcome.rows,
                "bytes": outcome.bytes,
                "mode": outcome.mode,
                "since": outcome.since or "none",
                "watermark": outcome.watermark or "none",
                "path": outcome.path,
            }
        )

    return _extract


def build_state_asset(name: str, source: DatabaseSourceConfig, table: str) -> dg.AssetsDefinition:
    """The clean current-state table of one database table."""
    key = dataset_key("clean", name, table)
    spec = source.tables[table].dataset()
    hmac_secrets = sorted({c.pii.secret for c in spec.columns.values() if c.pii and c.pii.secret})
    layout = (
        f"partitioned dt=<UTC date of {spec.partition.column}>"
        if spec.partition.column
        else "one unpartitioned file"
    )

    @dg.asset(
        key=key,
        group_name=name,
        kinds={"duckdb", "parquet"},
        deps=[dataset_key("raw", name, table)],
        description=f"Current state of {source.tables[table].table or table}: typed, "
        f"PII-hashed, one row per primary key, {layout}.",
        metadata={"dagster/column_schema": clean_column_schema(spec)},
        check_specs=[
            dg.AssetCheckSpec(
                NO_CLEAR_PII,
                asset=key,
                blocking=True,
                description="No string column holds a clear e-mail or phone number.",
            ),
            dg.AssetCheckSpec(
                ALL_CHANGES_APPLIED,
                asset=key,
                description="Every captured change or extracted row could be applied (none "
                "rejected for a missing key or a value that does not fit its declared type).",
            ),
        ],
    )
    def _state(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        engine: DuckDBEngineResource,
        secrets: SecretsResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        keys = {secret: secrets.get_bytes(secret) for secret in hmac_secrets}
        limits = engine.limits()
        if source.mode == "cdc":
            captured = CaptureState.load(store, name)
            if captured is None:
                raise dg.Failure(
                    description=f"{name} has not captured anything yet: materialize "
                    f"{dataset_key('raw', name, table).to_user_string()} first"
                )
            outcome = refresh_current_state(
                store,
                name,
                table,
                source_table_name(source.tables[table]),
                spec,
                keys,
                limits,
                up_to=captured.position,
            )
        else:
            incremental = source.tables[table].incremental_column is not None
            outcome = refresh_extracted_state(store, name, table, incremental, spec, keys, limits)
        for problem in outcome.problems:
            context.log.warning(problem)
        if outcome.clear_pii:
            context.log.error(
                "columns "
                + ", ".join(f"{c} ({n})" for c, n in outcome.clear_pii.items())
                + " hold values that look like clear e-mails or phone numbers; the table was "
                "NOT published. Fix: declare a pii policy for them in adlake.yaml, or "
                "pii_scan: false if they hold no personal data"
            )
        return dg.MaterializeResult(
            metadata=_state_metadata(
                outcome, spec, store, f"{dataset_prefix(Zone.CLEAN, name, table)}/"
            ),
            check_results=[
                dg.AssetCheckResult(
                    check_name=NO_CLEAR_PII,
                    passed=not outcome.clear_pii,
                    metadata={
                        "columns_with_clear_pii": ", ".join(
                            f"{c} ({n})" for c, n in outcome.clear_pii.items()
                        )
                        or "none"
                    },
                ),
                dg.AssetCheckResult(
                    check_name=ALL_CHANGES_APPLIED,
                    passed=outcome.apply.rejected == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rejected": outcome.apply.rejected},
                    description="; ".join(outcome.apply.problems) or None,
                ),
            ],
        )

    return _state


def _state_metadata(
    outcome: StateOutcome, spec: DatasetConfig, store: Lake, folder: str
) -> dict[str, object]:
    link = store.console_url(folder)
    return {
        "rows": outcome.rows,
        "dagster/row_count": outcome.rows,
        "changes_applied": outcome.apply.changes,
        "deletes": outcome.apply.deletes,
        "rejected": outcome.apply.rejected,
        "files_applied": outcome.files_applied,
        "applied_position": outcome.position if outcome.position is not None else "none",
        "started_over": outcome.started_over or "no",
        "partitions": len(outcome.partitions),
        "partitions_removed": ", ".join(outcome.removed_partitions) or "none",
        "location": dg.MetadataValue.path(store.url(folder)),
        **({"location_url": dg.MetadataValue.url(link)} if link else {}),
        "dagster/column_schema": clean_column_schema(spec),
        "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in outcome.problems) or "none"),
        "preview": dg.MetadataValue.md(outcome.preview or "no rows"),
    }


def build_database_catalog_asset(
    name: str, source: DatabaseSourceConfig, table: str
) -> dg.AssetsDefinition:
    """The catalog asset of one database table: its current state registered for queries."""
    spec = source.tables[table].dataset()
    partitioned = spec.partition.column is not None

    @dg.asset(
        key=dataset_key("catalog", name, table),
        group_name=name,
        kinds={"duckdb", "table"},
        deps=[dataset_key("clean", name, table)],
        description=f"{name}.{table} in the catalog.",
    )
    def _catalog(
        context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
    ) -> dg.MaterializeResult:
        store = lake.lake()
        prefix = dataset_prefix(Zone.CLEAN, name, table)
        files = [f.path for f in store.list_files(prefix) if f.path.endswith(f"/{CLEAN_FILE}")]
        if not files:
            raise dg.Failure(
                description=f"{name}/{table} has no clean table yet; materialize "
                f"{dataset_key('clean', name, table).to_user_string()} first"
            )
        days = (
            sorted({p.removeprefix(prefix + "/").split("/")[0].removeprefix("dt=") for p in files})
            if partitioned
            else []
        )
        registration = catalog.catalog().register(
            CatalogTable(
                source=name,
                dataset=table,
                description=spec.description or f"{name}/{table}: current state",
                location=store.url(prefix),
                columns=tuple(clean_schema(spec)),
                partitions=tuple(days),
                column_notes=column_notes(spec),
                file_name=CLEAN_FILE,
                partitioned=partitioned,
            )
        )
        return dg.MaterializeResult(
            metadata={
                "table": registration.table,
                "location": registration.location,
                "partitions_in_catalog": len(registration.partitions),
                "query": dg.MetadataValue.md(
                    f"```sql\nSELECT * FROM {registration.table} LIMIT 10\n```"
                ),
            }
        )

    return _catalog
