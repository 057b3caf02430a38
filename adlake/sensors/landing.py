"""Landing sensors: one per dataset, turning each newly delivered file into one raw run.

The cursor is a high-water mark of (modification time, path), so each tick looks only at files
newer than the last one it handled and handles at most ``max_files_per_tick`` of them. Each
run key is the file's path, size and modification time, so a file is requested once even if
the cursor is reset, and a changed file (new size or time) is requested again.
"""


import json

import dagster as dg

from adlake.assets.keys import dataset_key, op_name
from adlake.assets.raw import RawIngestConfig
from adlake.config import AdlakeConfig, DatasetConfig
from adlake.lake.landing import LandingFile, landing_prefix, scan_landing
from adlake.resources.lake import LocalLakeResource


def build_landing_sensors(config: AdlakeConfig) -> dg.Definitions:
    """A landing sensor for every declared dataset, running by default."""
    return dg.Definitions(
        sensors=[
            build_landing_sensor(s, d, spec, config.sensors.interval_seconds,
                                 config.sensors.max_files_per_tick)
            for s, d, spec in config.datasets()
        ]
    )


def sensor_name(source: str, dataset: str) -> str:
    """The landing sensor's name for a dataset."""
    return f"landing_{source}__{dataset}_sensor"


def newer_than(files: list[LandingFile], cursor: str | None) -> list[LandingFile]:
    """Files after the cursor's (mtime, path) high-water mark, oldest first."""
    if not cursor:
        return files
    mark = json.loads(cursor)
    last = (int(mark["mtime_ns"]), str(mark["path"]))
    return [f for f in files if (f.mtime_ns, f.path) > last]


def build_landing_sensor(
    source: str, dataset: str, spec: DatasetConfig, interval: int, max_files: int
) -> dg.SensorDefinition:
    """The landing sensor of one dataset."""
    raw_key = dataset_key("raw", source, dataset)
    prefix = landing_prefix(source, dataset)

    @dg.sensor(
        name=sensor_name(source, dataset),
        asset_selection=[raw_key],
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Watches {prefix}/ and requests a raw run per delivered file.",
    )
    def _landing_sensor(context: dg.SensorEvaluationContext, lake: LocalLakeResource):
        files, unplaced = scan_landing(lake.lake(), source, dataset, spec.landing)
        for file in unplaced:
            context.log.warning(f"{file.path}: {file.reason}")
        fresh = newer_than(files, context.cursor)[:max_files]
        if not fresh:
            waiting = f"; {len(unplaced)} file(s) without a date are waiting" if unplaced else ""
            return dg.SkipReason(f"no new files in {prefix}/{waiting}")
        requests = [
            dg.RunRequest(
                run_key=file.run_key,
                partition_key=file.dt,
                asset_selection=[raw_key],
                run_config=dg.RunConfig(ops={op_name(raw_key): RawIngestConfig(files=[file.path])}),
                tags={"adlake/landing_file": file.path},
            )
            for file in fresh
        ]
        last = fresh[-1]
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps({"mtime_ns": last.mtime_ns, "path": last.path}),
        )

    return _landing_sensor
