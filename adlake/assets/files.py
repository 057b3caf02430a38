"""Raw assets of file sources: new files on an SFTP server or object store copied into raw.

A run of partition D copies the dataset's new files whose delivery date is D (those the sensor
named, or every new one when started by hand), at most ``max_files_per_run``, each recorded in
the delivery manifest once it is durable. From raw on, the files are cleaned and catalogued
exactly like pushed ones.
"""

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.partitions import daily_partitions
from adlake.assets.raw import (
    NO_QUARANTINED_FILES,
    RawIngestConfig,
    decryption,
    report_deliveries,
)
from adlake.config import AdlakeConfig, FileDatasetConfig, FileSourceConfig
from adlake.connectors.files.connect import base_url, connect, file_rules, move_target
from adlake.connectors.files.errors import RemoteConnectError
from adlake.connectors.files.remote import FileRules, RemoteFile, RemoteStore, Unplaced
from adlake.connectors.files.transfer import FileResult, TransferSettings, pull_files
from adlake.lake.deliveries import DeliveryLedger
from adlake.resources.lake import LakeResource
from adlake.resources.notifier import NotifierResource
from adlake.resources.secrets import SecretNotFound, SecretsResource

ALL_FILES_COPIED = "all_files_copied"
FILE_SOURCE_TAG = "adlake/file_source"


def build_file_defs(config: AdlakeConfig) -> dg.Definitions:
    """One raw asset per dataset of every SFTP / object-store source."""
    return dg.Definitions(
        assets=[
            build_file_asset(name, dataset, spec, source, config.resolve)
            for name, source in config.file_sources().items()
            for dataset, spec in source.datasets.items()
        ]
    )


def build_file_asset(
    source_name: str,
    dataset: str,
    spec: FileDatasetConfig,
    source: FileSourceConfig,
    resolve: Callable[[str], Path],
) -> dg.AssetsDefinition:
    """The raw asset of one file-source dataset, partitioned by delivery date.

    ``resolve`` makes paths of the configuration (a known_hosts file) absolute.
    """
    key = dataset_key("raw", source_name, dataset)
    rules = file_rules(source, spec)
    settings = TransferSettings(
        fmt=spec.format, after=spec.remote.after, move_to=move_target(source, spec)
    )

    @dg.asset(
        key=key,
        group_name=source_name,
        kinds={source.kind, spec.format},
        partitions_def=daily_partitions(spec),
        pool=f"files_{source_name}",
        description=f"Files of {source_name}/{dataset} copied from {source.kind} into raw, once "
        "each. " + spec.description,
        check_specs=[
            dg.AssetCheckSpec(
                NO_QUARANTINED_FILES,
                asset=key,
                description="No file was unreadable (empty, truncated, corrupt, not decryptable).",
            ),
            dg.AssetCheckSpec(
                ALL_FILES_COPIED,
                asset=key,
                description="Every file the run was to copy is in raw (none left changing, "
                "gone or unreachable).",
            ),
        ],
        metadata={"remote": f"{base_url(source)}/{rules.root.lstrip('/')}"},
    )
    def _raw(
        context: dg.AssetExecutionContext,
        config: RawIngestConfig,
        lake: LakeResource,
        secrets: SecretsResource,
        notifier: NotifierResource,
    ) -> dg.MaterializeResult:
        store = lake.lake()
        ledger = DeliveryLedger(store, source_name, dataset)
        remote = open_store(source, secrets, resolve)
        listed, unplaced = list_store(remote, rules)
        for file in unplaced:
            context.log.warning(f"{file.url}: {file.reason}")
        chosen = files_to_copy(listed, ledger, context.partition_key, config.files, spec)
        context.log.info(
            f"{len(chosen)} file(s) of {remote.url(rules.root)} to copy for "
            f"{context.partition_key} ({len(listed)} listed)"
        )
        with decryption(spec.pgp, secrets, f"{source_name}/{dataset}") as decrypt:
            results = pull_files(remote, ledger, chosen, rules, settings, decrypt, context.log.info)
        metadata, check = report_deliveries(
            context, notifier, key, [r.outcome for r in results if r.outcome]
        )
        return dg.MaterializeResult(
            metadata={**metadata, **_transfer_metadata(results)},
            check_results=[check, _copied_check(results)],
        )

    return _raw


def files_to_copy(
    listed: list[RemoteFile],
    ledger: DeliveryLedger,
    partition: str,
    wanted: list[str],
    spec: FileDatasetConfig,
) -> list[RemoteFile]:
    """The partition's files a run takes: not yet in raw, or in raw but still to clean up.

    With ``wanted`` (set by the sensor) only those paths; at most ``max_files_per_run``. The
    day's manifests are listed once, so a tick over thousands of files costs one listing per
    day, not one read per file.
    """
    names = set(wanted)
    recorded = ledger.recorded(partition)
    chosen = []
    for file in listed:
        if file.dt != partition or (names and file.stat.path not in names):
            continue
        if file.delivery_id not in recorded:
            chosen.append(file)
        elif spec.remote.after != "keep":  # recorded but still on the server: clean up
            known = ledger.get(file.dt, file.delivery_id)
            if known is not None and known.status != "quarantined":
                chosen.append(file)
    return chosen[: spec.remote.max_files_per_run]


def open_store(
    source: FileSourceConfig, secrets: SecretsResource, resolve: Callable[[str], Path]
) -> RemoteStore:
    """The source's store, its secrets read; a missing secret or a refused connection fails
    the run or tick with the message that says what to fix (no stack trace to read through)."""
    try:
        return connect(source, secrets.get, resolve)
    except (SecretNotFound, RemoteConnectError) as exc:
        raise dg.Failure(description=f"{source.kind} source: {exc}") from None


def list_store(remote: RemoteStore, rules: FileRules) -> tuple[list[RemoteFile], list[Unplaced]]:
    """The dataset's files on the store; an unreachable store fails with the fix."""
    try:
        return remote.list(rules)
    except RemoteConnectError as exc:
        raise dg.Failure(description=str(exc)) from None


def _transfer_metadata(results: list[FileResult]) -> dict[str, object]:
    failed = [r for r in results if r.problem]
    cleaned = [r for r in results if r.cleanup]
    return {
        "files_failed": len(failed),
        "remote_cleanup": dg.MetadataValue.md(
            "\n".join(f"- {r.file.url}: {r.cleanup}" for r in cleaned[:100]) or "none"
        ),
    }


def _copied_check(results: list[FileResult]) -> dg.AssetCheckResult:
    failed = [r for r in results if r.problem]
    return dg.AssetCheckResult(
        check_name=ALL_FILES_COPIED,
        passed=not failed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "not_copied": dg.MetadataValue.md(
                "\n".join(f"- {r.file.url}: {r.problem}" for r in failed[:100]) or "none"
            )
        },
    )
