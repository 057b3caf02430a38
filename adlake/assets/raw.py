"""Raw assets: each delivered file copied once, immutably, into raw with a manifest."""

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import daily_partitions
from adlake.config import AdlakeConfig, DatasetConfig, PgpConfig
from adlake.connectors.files.decrypt import pgp_step
from adlake.connectors.pgp import PgpError
from adlake.lake.deliveries import Decrypt, DeliveryLedger, IngestOutcome
from adlake.lake.landing import landing_prefix, scan_landing
from adlake.notify import NotificationError, file_quarantined_event
from adlake.resources.lake import LakeResource
from adlake.resources.notifier import NotifierResource
from adlake.resources.secrets import SecretNotFound, SecretsResource

NO_QUARANTINED_FILES = "no_quarantined_files"


class RawIngestConfig(dg.Config):
    """Which files a raw run takes; empty takes every waiting file of the partition."""

    files: list[str] = Field(
        default_factory=list,
        description="Set by the sensor: lake-relative landing paths (pushed files) or paths on "
        "the server (file sources).",
    )


def build_raw_defs(config: AdlakeConfig) -> dg.Definitions:
    """One raw asset per declared dataset."""
    return dg.Definitions(
        assets=[build_raw_asset(s, d, spec) for s, d, spec in config.push_datasets()]
    )


def build_raw_asset(source: str, dataset: str, spec: DatasetConfig) -> dg.AssetsDefinition:
    """The raw asset of one dataset, partitioned by delivery date."""
    key = dataset_key("raw", source, dataset)

    @dg.asset(
        key=key,
        group_name=source,
        kinds={"file", spec.format},
        partitions_def=daily_partitions(spec),
        description=f"Files delivered for {source}/{dataset}, copied as delivered, once each. "
        + spec.description,
        check_specs=[
            dg.AssetCheckSpec(
                NO_QUARANTINED_FILES,
                asset=key,
                description="No delivered file was unreadable (empty, truncated, corrupt).",
            )
        ],
        metadata={"landing": landing_prefix(source, dataset)},
    )
    def _raw(
        context: dg.AssetExecutionContext,
        config: RawIngestConfig,
        lake: LakeResource,
        notifier: NotifierResource,
        secrets: SecretsResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        ledger = DeliveryLedger(store, source, dataset)
        waiting, _ = scan_landing(store, source, dataset, spec.landing)
        wanted = set(config.files)
        files = [
            f for f in waiting if f.dt == context.partition_key and (not wanted or f.path in wanted)
        ]
        missing = wanted - {f.path for f in files}
        if missing:
            context.log.warning(
                f"{len(missing)} requested file(s) are no longer in landing (already archived "
                f"or moved): {', '.join(sorted(missing))}"
            )
        with decryption(spec.pgp, secrets, f"{source}/{dataset}") as decrypt:
            outcomes = [ledger.ingest(f, spec.format, decrypt) for f in files]
        metadata, check = report_deliveries(context, notifier, key, outcomes)
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    return _raw


@contextlib.contextmanager
def decryption(
    pgp: PgpConfig | None, secrets: SecretsResource, what: str
) -> Iterator[Decrypt | None]:
    """The dataset's PGP step for one run (None without ``pgp``), its keys read from secrets.

    Keys that cannot be read or used fail the run with the reason and the fix: no file could
    be decrypted, so none is touched. A file that fails to decrypt is quarantined instead.
    """
    try:
        step = pgp_step(pgp, secrets.get)
        if step is not None:
            step.__enter__()
    except (PgpError, SecretNotFound) as exc:
        raise dg.Failure(description=f"{what}: the PGP keys cannot be used: {exc}") from None
    try:
        yield step
    finally:
        if step is not None:
            step.__exit__(None, None, None)


def report_deliveries(
    context: dg.AssetExecutionContext,
    notifier: NotifierResource,
    key: dg.AssetKey,
    outcomes: Sequence[IngestOutcome],
) -> tuple[dict[str, Any], dg.AssetCheckResult]:
    """Log and announce what a raw run did with each file; its metadata and quarantine check.

    Shared by every raw asset that takes files (pushed into landing or pulled from a server):
    a quarantined file is logged as an error and announced through the notifier.
    """
    counts = {action: 0 for action in ("ingested", "already_ingested", "duplicate", "quarantined")}
    for outcome in outcomes:
        counts[outcome.action] += 1
        delivery = outcome.delivery
        if outcome.action == "quarantined":
            context.log.error(
                f"{delivery.origin}: {delivery.problem}; the copy is kept at "
                f"{delivery.raw_path} and the reason in the quarantine zone. Fix: "
                f"{_fix(delivery.problem)}"
            )
            _announce_quarantine(context, notifier, key, delivery.origin, delivery.problem)
        elif outcome.action == "duplicate":
            context.log.info(
                f"{delivery.origin} has the same content as delivery "
                f"{delivery.duplicate_of}; not ingested again"
            )
    table = "\n".join(
        f"| {o.delivery.file_name} | {o.action} | {o.delivery.bytes:,} | {o.delivery.lines:,} "
        f"| {o.delivery.sha256[:12]} |"
        for o in outcomes[:200]
    )
    quarantined = [o.delivery for o in outcomes if o.action == "quarantined"]
    metadata: dict[str, Any] = {
        "files_ingested": counts["ingested"],
        "files_duplicate": counts["duplicate"],
        "files_already_ingested": counts["already_ingested"],
        "files_quarantined": counts["quarantined"],
        "bytes": sum(o.delivery.bytes for o in outcomes if o.action == "ingested"),
        "lines": sum(o.delivery.lines for o in outcomes if o.action == "ingested"),
        "deliveries": dg.MetadataValue.md(
            "| file | action | bytes | lines | sha256 |\n|---|---|---|---|---|\n" + table
            if outcomes
            else "No new files for this day."
        ),
    }
    check = dg.AssetCheckResult(
        check_name=NO_QUARANTINED_FILES,
        passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": dg.MetadataValue.md(
                "\n".join(f"- {d.origin}: {d.problem}" for d in quarantined[:100]) or "none"
            )
        },
    )
    return metadata, check


def _fix(problem: str | None) -> str:
    if problem and problem.startswith("PGP:"):
        return (
            "check the PGP keys named under pgp: in adlake.yaml, or ask the partner to "
            "encrypt (and sign) the file again with the keys agreed"
        )
    return "ask the partner to deliver the file again"


def _announce_quarantine(
    context: dg.AssetExecutionContext,
    notifier: NotifierResource,
    key: dg.AssetKey,
    landing_path: str,
    problem: str | None,
) -> None:
    """Send the file_quarantined event; the file is already safe, so a failed send only warns."""
    event = file_quarantined_event(
        run_id=context.run.run_id,
        job=context.run.job_name,
        ui_base_url=notifier.ui_base_url,
        asset_key=key.to_user_string(),
        partition=context.partition_key,
        landing_path=landing_path,
        reason=problem or "unreadable file",
    )
    try:
        notifier.notify(event)
    except NotificationError as exc:
        context.log.warning(f"{landing_path}: quarantine notification not sent: {exc}")
