"""Clean assets: typed, deduplicated, PII-hashed Parquet per daily partition."""

from datetime import date, timedelta

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import after_upstream_updates, daily_partitions
from adlake.assets.schema import clean_column_schema
from adlake.config import AdlakeConfig, DatasetConfig
from adlake.lake.deliveries import Delivery, DeliveryLedger, current_deliveries
from adlake.lake.retention import EXPIRED
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix
from adlake.resources.engine import DuckDBEngineResource
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource
from adlake.transform.clean import CleanInput, CleanOutcome, DatasetRef, PartitionOutcome

ROWS_BALANCE = "rows_balance"
NO_CLEAR_PII = "no_clear_pii"


def build_clean_defs(config: AdlakeConfig) -> dg.Definitions:
    """One clean asset per declared dataset, pushed or pulled."""
    pulled = config.pull_sources()
    return dg.Definitions(
        assets=[
            build_clean_asset(s, d, spec, raw_mapping=PULLED_DAYS if s in pulled else None)
            for s, d, spec in config.daily_datasets()
        ]
    )


# a pulled report's raw partitions are day x account; clean day D reads every account's day D
PULLED_DAYS = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def delivery_dates(partition_keys: list[str], lateness_days: int) -> list[str]:
    """Delivery dates whose files can hold rows of these partitions.

    A delivery holds rows from ``lateness_days`` before its date to one day after it (a
    partner's local day straddles two UTC days), so partition D reads deliveries D-1..D+late.
    """
    first = date.fromisoformat(min(partition_keys)) - timedelta(days=1)
    last = date.fromisoformat(max(partition_keys)) + timedelta(days=lateness_days)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def build_clean_asset(
    source: str,
    dataset: str,
    spec: DatasetConfig,
    raw_mapping: dg.PartitionMapping | None = None,
) -> dg.AssetsDefinition:
    """The clean asset of one dataset, partitioned by the rows' own UTC date.

    By default a day reads the deliveries that can hold its rows (the day before through
    ``lateness_days`` after); ``raw_mapping`` replaces that for raw assets partitioned
    otherwise (pulled reports).
    """
    key = dataset_key("clean", source, dataset)
    raw = dataset_key("raw", source, dataset)
    hmac_secrets = sorted({c.pii.secret for c in spec.columns.values() if c.pii and c.pii.secret})

    @dg.asset(
        key=key,
        group_name=source,
        kinds={"spark" if spec.engine == "spark" else "duckdb", "parquet"},
        partitions_def=daily_partitions(spec),
        deps=[
            dg.AssetDep(
                raw,
                partition_mapping=raw_mapping
                or dg.TimeWindowPartitionMapping(
                    start_offset=-1, end_offset=spec.partition.lateness_days
                ),
            )
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=after_upstream_updates(),
        description=f"Typed, deduplicated, PII-hashed {source}/{dataset}. " + spec.description,
        metadata={"dagster/column_schema": clean_column_schema(spec)},
        check_specs=[
            dg.AssetCheckSpec(
                ROWS_BALANCE,
                asset=key,
                description="Rows read = clean rows + duplicates + quarantined rows.",
            ),
            dg.AssetCheckSpec(
                NO_CLEAR_PII,
                asset=key,
                blocking=True,
                description="No string column holds a clear e-mail or phone number.",
            ),
        ],
    )
    def _clean(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        engine: DuckDBEngineResource,
        secrets: SecretsResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        ledger = DeliveryLedger(store, source, dataset)
        lateness = spec.partition.lateness_days
        asked = list(context.partition_keys)
        recorded = ledger.for_dates(delivery_dates(asked, lateness))
        targets, kept = _rebuildable(recorded, asked, lateness)
        for day in kept:
            context.log.warning(
                f"dt={day}: raw deliveries it reads have expired (retention); the clean "
                "partition is kept as it is instead of being rebuilt from what is left"
            )
        if not targets:
            untouched = {"kept_raw_expired": ", ".join(kept)}
            return dg.MaterializeResult(
                metadata=untouched,
                check_results=[
                    dg.AssetCheckResult(check_name=name, passed=True, metadata=untouched)
                    for name in (ROWS_BALANCE, NO_CLEAR_PII)
                ],
            )
        wanted = set(delivery_dates(targets, lateness))
        deliveries = current_deliveries([d for d in recorded if d.dt in wanted])
        keys = {name: secrets.get_bytes(name) for name in hmac_secrets}
        context.log.info(
            f"cleaning {len(targets)} partition(s) {targets[0]}..{targets[-1]} from "
            f"{len(deliveries)} deliver(ies)"
        )
        with store.scratch() as downloads:
            inputs = [
                CleanInput(
                    d.delivery_id,
                    store.localize(d.raw_path, downloads),
                    d.dt,
                    d.origin,
                    d.lines,
                )
                for d in deliveries
            ]
            ref = DatasetRef(source, dataset, spec)
            outcome = engine.clean(store, ref, inputs, targets, keys)
            context.log.info(f"cleaned on {outcome.engine}")
        for problem in outcome.file_problems:
            context.log.error(problem)
        for warning in outcome.warnings:
            context.log.warning(warning)
        leaks: dict[str, int] = {}
        for part in outcome.partitions:
            for column, count in part.clear_pii.items():
                leaks[column] = leaks.get(column, 0) + count
                context.log.error(
                    f"dt={part.dt}: column {column} holds {count} value(s) that look like clear "
                    "e-mails or phone numbers; this partition was NOT published. Fix: declare a "
                    f"pii policy for {column} in adlake.yaml, or pii_scan: false if it holds no "
                    "personal data (an order number, an account id)"
                )
        for part in outcome.partitions:  # a range run's totals are shown, and each day's own
            context.add_asset_metadata(partition_metadata(part), partition_key=part.dt)
        return dg.MaterializeResult(
            metadata={
                **_metadata(outcome, spec),
                **location_metadata(store, outcome, source, dataset),
            },
            check_results=_checks(outcome, leaks),
        )

    return _clean


def _rebuildable(
    recorded: list[Delivery], targets: list[str], lateness: int
) -> tuple[list[str], list[str]]:
    """The partitions clean may rebuild, and those it keeps because raw they read expired."""
    expired = {d.dt for d in recorded if d.status == EXPIRED}
    if not expired:
        return targets, []
    kept = [t for t in targets if expired & set(delivery_dates([t], lateness))]
    return [t for t in targets if t not in kept], kept


def _checks(outcome: CleanOutcome, leaks: dict[str, int]) -> list[dg.AssetCheckResult]:
    unbalanced = [
        p for p in outcome.partitions if p.rows_in != p.rows_out + p.duplicates + p.quarantined
    ]
    return [
        dg.AssetCheckResult(
            check_name=ROWS_BALANCE,
            passed=not unbalanced,
            metadata={
                "rows_in": outcome.total("rows_in"),
                "rows_out": outcome.total("rows_out"),
                "duplicates": outcome.total("duplicates"),
                "quarantined": outcome.total("quarantined"),
                "unbalanced_partitions": ", ".join(p.dt for p in unbalanced) or "none",
            },
        ),
        dg.AssetCheckResult(
            check_name=NO_CLEAR_PII,
            passed=not leaks,
            metadata={
                "columns_with_clear_pii": ", ".join(f"{c} ({n})" for c, n in leaks.items())
                or "none"
            },
        ),
    ]


def location_metadata(
    store: Lake, outcome: CleanOutcome, source: str, dataset: str
) -> dict[str, object]:
    """Where the run's files are: the one file, or the dataset's folder and a file per day.

    Paths come with a copy button in the UI; on S3 the console links are clickable too.
    """
    published = [p for p in outcome.partitions if p.published]
    if len(published) == 1:
        path, link = store.url(published[0].clean_path), store.console_url(published[0].clean_path)
    else:
        folder = f"{dataset_prefix(Zone.CLEAN, source, dataset)}/"
        path, link = store.url(folder), store.console_url(folder)
    metadata: dict[str, object] = {"partition_path": dg.MetadataValue.path(path)}
    if link:
        metadata["partition_url"] = dg.MetadataValue.url(link)
    if len(published) > 1:
        metadata["partition_files"] = dg.MetadataValue.md(
            "| dt | file |\n|---|---|\n"
            + "\n".join(_file_row(store, p.dt, p.clean_path) for p in published[:60])
            + (f"\n\n{len(published) - 60} more days" if len(published) > 60 else "")
        )
    return metadata


def _file_row(store: Lake, dt: str, path: str) -> str:
    link = store.console_url(path)
    shown = f"[{store.url(path)}]({link})" if link else f"`{store.url(path)}`"
    return f"| {dt} | {shown} |"


def partition_metadata(part: PartitionOutcome) -> dict[str, object]:
    """One day's own counts. A run over a range of days reports its totals as ``rows_in``,
    ``rows_out``... on every day; these say what that day holds (``dagster/row_count`` too)."""
    return {
        "partition_rows_in": part.rows_in,
        "partition_rows_out": part.rows_out,
        "partition_duplicates": part.duplicates,
        "partition_quarantined": part.quarantined,
        "dagster/row_count": part.rows_out,
    }


def _metadata(outcome: CleanOutcome, spec: DatasetConfig) -> dict[str, object]:
    parts = outcome.partitions
    return {
        "rows_in": outcome.total("rows_in"),
        "rows_out": outcome.total("rows_out"),
        "duplicates": outcome.total("duplicates"),
        "quarantined": outcome.total("quarantined"),
        "bytes": sum(p.clean_bytes for p in parts),
        "partitions": len(parts),
        "engine": outcome.engine,
        **{f"seconds_{stage}": seconds for stage, seconds in outcome.seconds.items()},
        "dagster/column_schema": clean_column_schema(spec),
        "per_partition": dg.MetadataValue.md(
            "| dt | in | out | duplicates | quarantined |\n|---|---|---|---|---|\n"
            + "\n".join(
                f"| {p.dt} | {p.rows_in:,} | {p.rows_out:,} | {p.duplicates:,} "
                f"| {p.quarantined:,} |"
                for p in parts[:60]
            )
        ),
        "problems": dg.MetadataValue.md(
            "\n".join(f"- {m}" for m in outcome.file_problems + outcome.warnings) or "none"
        ),
        "preview": dg.MetadataValue.md(
            next((p.preview for p in outcome.partitions if p.preview), "") or "no rows"
        ),
    }
