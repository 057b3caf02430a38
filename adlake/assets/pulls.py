"""Raw assets of API reports: one per configured report, partitioned by day x account.

A run takes every (day, account) partition it was given, groups each account's days into
windows the API accepts in one request, and pulls each window through the report ledger (a
retry resumes the same remote report). One pool per API keeps backfills within rate limits.
"""

import contextlib
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.catalog.table import JsonTable
from adlake.config import AdlakeConfig, AmcSourceConfig, PullSourceConfig
from adlake.lake.deliveries import DeliveryLedger, current_deliveries
from adlake.lake.storage import Lake
from adlake.pulls import (
    PullError,
    PullSettings,
    ReportApi,
    WindowOutcome,
    pull_window,
)
from adlake.pulls.amazon import report_api
from adlake.pulls.ledger import LEDGER_COLUMNS, LEDGER_TABLE, ledger_prefix
from adlake.resources.catalog import CatalogResource
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource

DATE = "date"
NO_EMPTY_AFTER_ROWS = "no_empty_day_after_rows"
SCOPE_DIMENSION = {"amazon_ads": "profile", "selling_partner": "marketplace", "amc": "tenant"}
SETTLEMENT_TAG = "adlake/settlement"


def pull_partitions(source: PullSourceConfig) -> dg.MultiPartitionsDefinition:
    """Report days (UTC calendar days, through today) x the source's accounts."""
    return dg.MultiPartitionsDefinition(
        {
            DATE: dg.DailyPartitionsDefinition(
                start_date=source.start_date, timezone="UTC", end_offset=1
            ),
            SCOPE_DIMENSION[source.kind]: dg.StaticPartitionsDefinition(source.scopes()),
        }
    )


def build_pull_defs(config: AdlakeConfig) -> dg.Definitions:
    """The raw asset of every report of every pull source."""
    return dg.Definitions(
        assets=[
            build_pull_asset(name, source, report)
            for name, source in config.pull_sources().items()
            for report in source.reports
        ]
    )


def build_pull_asset(
    source_name: str, source: PullSourceConfig, report: str
) -> dg.AssetsDefinition:
    """The raw asset of one report: a run pulls its partitions' windows, once each."""
    key = dataset_key("raw", source_name, report)
    dimension = SCOPE_DIMENSION[source.kind]
    spec = source.reports[report]
    partitions = pull_partitions(source)

    @dg.asset(
        key=key,
        group_name=source_name,
        kinds={source.kind, "json"},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=source.kind,
        description=f"{spec.report_type} reports pulled from {source.kind} per {dimension} and "
        f"day, as delivered plus one JSON-lines delivery per day. {spec.description}".strip(),
        metadata={
            "report_type": spec.report_type,
            "ledger": ledger_prefix(source_name),
            **_scope_metadata(source),
        },
        owners=_owners(source),
        check_specs=[
            dg.AssetCheckSpec(
                NO_EMPTY_AFTER_ROWS,
                asset=key,
                description="No account/day came back with 0 rows when the day before had rows "
                "(a '200 OK, 0 rows' report).",
            )
        ],
    )
    def _pull(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        secrets: SecretsResource,
        catalog: CatalogResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        days_by_scope = _days_by_scope(partitions, context.partition_keys, dimension)
        settings = PullSettings(
            source=source_name,
            dataset=report,
            run_id=context.run.run_id,
            repull_after=timedelta(hours=source.repull_after_hours),
        )
        with contextlib.closing(report_api(source, report, secrets.get, context.log.info)) as api:
            outcomes, failures = _pull_windows(api, store, settings, days_by_scope, context)
        if failures:
            landed = sum(o.entry.rows for o in outcomes)
            raise dg.Failure(
                description=f"{len(failures)} of {len(failures) + len(outcomes)} report "
                f"window(s) failed ({landed:,} rows of the others landed and are kept; a retry "
                "re-requests only the failed windows):\n" + "\n".join(failures),
                metadata={"failed_windows": len(failures), "rows_landed": landed},
            )
        ledger_table = _register_ledger(store, catalog, source_name) if outcomes else "none"
        empty = _empty_after_rows(store, source_name, report, outcomes)
        for scope, day in empty:
            context.log.warning(
                f"{scope} {day}: the report has 0 rows although the day before had rows; check "
                "that the account was active, or re-pull the day later"
            )
        return dg.MaterializeResult(
            metadata={
                **_metadata(outcomes, source.attribution_days),
                "ledger_table": ledger_table,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=NO_EMPTY_AFTER_ROWS,
                    passed=not empty,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"empty_days": ", ".join(f"{s} {d}" for s, d in empty) or "none"},
                )
            ],
            tags={SETTLEMENT_TAG: _settlement(days_by_scope, source.attribution_days)},
        )

    return _pull


def _scope_metadata(source: PullSourceConfig) -> dict[str, object]:
    """What the UI shows of the accounts: for AMC, the tenants' instances and owners."""
    if not isinstance(source, AmcSourceConfig):
        return {}
    rows = "\n".join(
        f"| {name} | {t.instance_id} | {t.entity_id} | {t.marketplace_id} | {t.owner} |"
        for name, t in source.tenants.items()
    )
    table = "| tenant | instance | AMC account | marketplace | owner |\n|---|---|---|---|---|\n"
    return {"tenants": dg.MetadataValue.md(table + rows)}


def _owners(source: PullSourceConfig) -> list[str] | None:
    """The tenants' owners that are e-mail addresses (Dagster shows them as asset owners)."""
    if not isinstance(source, AmcSourceConfig):
        return None
    found = sorted({t.owner for t in source.tenants.values() if "@" in t.owner})
    return found or None


def _pull_windows(
    api: ReportApi,
    lake: Lake,
    settings: PullSettings,
    days_by_scope: dict[str, list[str]],
    context: dg.AssetExecutionContext,
) -> tuple[list[WindowOutcome], list[str]]:
    """Pull every window of every account; a failed window is reported, the others still land."""
    outcomes: list[WindowOutcome] = []
    failures: list[str] = []
    for scope, days in days_by_scope.items():
        kept = _within_retention(api, days, context)
        for start, end in api.windows(kept):
            try:
                outcomes.append(
                    pull_window(api, lake, settings, scope, start, end, context.log.info)
                )
            except PullError as exc:
                context.log.error(str(exc))
                failures.append(str(exc))
    return outcomes, failures


def _register_ledger(lake: Lake, catalog: CatalogResource, source: str) -> str:
    """Expose the source's report ledger as the catalog table ``<source>.report_ledger``."""
    return catalog.catalog().register_json(
        JsonTable(
            source=source,
            name=LEDGER_TABLE,
            description=f"Every report request of {source}: account, window, remote id, status, "
            "requests, rows, bytes.",
            location=lake.url(ledger_prefix(source)),
            columns=LEDGER_COLUMNS,
        )
    )


def _days_by_scope(
    partitions: dg.MultiPartitionsDefinition, keys: list[str], dimension: str
) -> dict[str, list[str]]:
    """The run's partition keys as account -> days."""
    found: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_dimension = partitions.get_partition_key_from_str(key).keys_by_dimension
        found[by_dimension[dimension]].append(by_dimension[DATE])
    return dict(found)


def _within_retention(
    api: ReportApi, days: list[str], context: dg.AssetExecutionContext
) -> list[str]:
    """Days the API still keeps; older ones are skipped with a warning, not requested."""
    keep = api.retention_days
    if not keep:
        return days
    oldest = (datetime.now(tz=UTC).date() - timedelta(days=keep - 1)).isoformat()
    skipped = [d for d in days if d < oldest]
    if skipped:
        context.log.warning(
            f"{len(skipped)} day(s) before {oldest} are older than the {keep} days the API keeps "
            f"this report ({min(skipped)}..{max(skipped)}); they are not requested"
        )
    return [d for d in days if d >= oldest]


def _empty_after_rows(
    lake: Lake, source: str, report: str, outcomes: list[WindowOutcome]
) -> list[tuple[str, str]]:
    """(account, day) pairs with 0 rows whose previous day had rows (here or landed before)."""
    rows: dict[tuple[str, str], int] = {}
    for outcome in outcomes:
        for day, count in outcome.entry.day_rows.items():
            rows[(outcome.entry.scope, day)] = count
    ledger = DeliveryLedger(lake, source, report)
    empty = []
    for (scope, day), count in sorted(rows.items()):
        if count:
            continue
        before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        previous = rows.get((scope, before))
        if previous is None:
            previous = sum(
                d.lines
                for d in current_deliveries(ledger.for_dates([before]))
                if d.extra.get("scope") == scope
            )
        if previous:
            empty.append((scope, day))
    return empty


def _settlement(days_by_scope: dict[str, list[str]], attribution_days: int) -> str:
    """provisional when any day may still be restated, settled when none can."""
    settled_before = (datetime.now(tz=UTC).date() - timedelta(days=attribution_days)).isoformat()
    days = [d for ds in days_by_scope.values() for d in ds]
    return "settled" if days and max(days) < settled_before else "provisional"


def _metadata(outcomes: list[WindowOutcome], attribution_days: int) -> dict[str, object]:
    settled_before = (datetime.now(tz=UTC).date() - timedelta(days=attribution_days)).isoformat()
    entries = [o.entry for o in outcomes]
    table = "\n".join(
        f"| {e.scope} | {e.start}..{e.end} | {e.report_id} | {o.action} | {e.status} "
        f"| {e.requests} | {e.rows:,} | {e.bytes:,} |"
        for o, e in zip(outcomes, entries, strict=True)
    )
    days = sorted({d for e in entries for d in e.day_rows})
    provisional = [d for d in days if d >= settled_before]
    return {
        "rows": sum(e.rows for e in entries),
        "bytes": sum(e.bytes for e in entries),
        "reports_requested": sum(o.action == "requested" for o in outcomes),
        "reports_resumed": sum(o.action == "resumed" for o in outcomes),
        "reports_reused": sum(o.action == "reused" for o in outcomes),
        "report_ids": ", ".join(e.report_id for e in entries[:20])
        + (f" and {len(entries) - 20} more" if len(entries) > 20 else ""),
        "settled_before": settled_before,
        "provisional_days": f"{provisional[0]}..{provisional[-1]}" if provisional else "none",
        "ledger": dg.MetadataValue.md(
            "| account | window | report id | action | status | requests | rows | bytes |\n"
            "|---|---|---|---|---|---|---|---|\n" + (table or "| | | | | | | | |")
        ),
    }
