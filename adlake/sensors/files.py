"""File-source sensors: look at an SFTP server or object store and ask for runs of new files.

Each tick lists the dataset's folder, keeps the files that have no delivery manifest yet (and
those still to delete or move), and asks for one run per delivery date of at most
``max_files_per_run`` files. While a run of the dataset is queued or going the tick does
nothing, so two runs never copy the same file and a run that failed is retried by the next
tick (no run key: the manifest, not Dagster's run-key memory, says what is done). A server
that cannot be reached fails the tick with the error and its fix, visible in the UI.
"""

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from adlake.assets.files import (
    FILE_SOURCE_TAG,
    files_to_copy,
    list_store,
    open_store,
)
from adlake.assets.keys import dataset_key, op_name
from adlake.assets.raw import RawIngestConfig
from adlake.config import AdlakeConfig, FileDatasetConfig, FileSourceConfig
from adlake.connectors.files.connect import file_rules
from adlake.connectors.files.remote import RemoteFile
from adlake.lake.deliveries import DeliveryLedger
from adlake.resources.lake import LakeResource
from adlake.resources.secrets import SecretsResource
from adlake.schedules.databases import ACTIVE


def build_file_sensors(config: AdlakeConfig) -> dg.Definitions:
    """A sensor per dataset of every file source, running by default."""
    return dg.Definitions(
        sensors=[
            build_file_sensor(
                name, dataset, spec, source, config.resolve, config.sensors.max_files_per_tick
            )
            for name, source in config.file_sources().items()
            for dataset, spec in source.datasets.items()
        ]
    )


def file_sensor_name(source: str, dataset: str) -> str:
    """The sensor's name for a file-source dataset."""
    return f"files_{source}__{dataset}_sensor"


def build_file_sensor(
    source_name: str,
    dataset: str,
    spec: FileDatasetConfig,
    source: FileSourceConfig,
    resolve: Callable[[str], Path],
    max_files_per_tick: int,
) -> dg.SensorDefinition:
    """The sensor of one file-source dataset."""
    raw_key = dataset_key("raw", source_name, dataset)
    rules = file_rules(source, spec)
    tag = f"{source_name}.{dataset}"

    @dg.sensor(
        name=file_sensor_name(source_name, dataset),
        asset_selection=[raw_key],
        minimum_interval_seconds=source.poll_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Every {source.poll_interval_seconds} s, asks for runs of the new files in "
        f"{rules.root} ({source.kind}).",
    )
    def _files_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource, secrets: SecretsResource
    ) -> dg.SensorResult | dg.SkipReason:
        running = context.instance.get_run_records(
            filters=dg.RunsFilter(tags={FILE_SOURCE_TAG: tag}, statuses=ACTIVE), limit=1
        )
        if running:
            return dg.SkipReason(f"run {running[0].dagster_run.run_id} of {tag} is going")
        remote = open_store(source, secrets, resolve)
        listed, unplaced = list_store(remote, rules)
        for file in unplaced[:20]:
            context.log.warning(f"{file.url}: {file.reason}")
        ledger = DeliveryLedger(lake.lake(), source_name, dataset)
        listed_by_day: dict[str, list[RemoteFile]] = defaultdict(list)
        for file in listed:
            listed_by_day[file.dt].append(file)
        by_day: dict[str, list[str]] = {}
        budget = max_files_per_tick
        for day in sorted(listed_by_day):
            chosen = files_to_copy(listed_by_day[day], ledger, day, [], spec)[:budget]
            if chosen:
                by_day[day] = [file.stat.path for file in chosen]
            budget -= len(chosen)
            if budget <= 0:
                break
        if not by_day:
            return dg.SkipReason(f"no new files in {remote.url(rules.root)} ({len(listed)} listed)")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    partition_key=day,
                    asset_selection=[raw_key],
                    run_config=dg.RunConfig(ops={op_name(raw_key): RawIngestConfig(files=paths)}),
                    tags={FILE_SOURCE_TAG: tag},
                )
                for day, paths in sorted(by_day.items())
            ]
        )

    return _files_sensor
