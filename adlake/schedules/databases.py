"""What drives database sources: a short-interval sensor for CDC, a cron schedule for batch.

Each source has one job over its raw, clean and catalog assets. A CDC micro-batch must not
overlap the previous one (one slot or binlog stream per source), so the sensor asks for a run
only when no run of the job is queued or in progress; the assets' pool adds the same guard
for runs started by hand.
"""

from __future__ import annotations

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.config import AdlakeConfig, DatabaseSourceConfig

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_database_schedules(config: AdlakeConfig) -> dg.Definitions:
    """A job per database source, with its CDC sensor or its batch schedule."""
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for name, source in config.database_sources().items():
        job = dg.define_asset_job(
            f"{name}_{source.mode}_job",
            selection=[
                dataset_key(layer, name, table)
                for table in source.tables
                for layer in ("raw", "clean", "catalog")
            ],
            description=f"Move every table of {name} into the lake and catalog ({source.mode}).",
        )
        jobs.append(job)
        if source.mode == "cdc":
            sensors.append(build_cdc_sensor(name, source, job))
        else:
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{name}_extract_schedule",
                    job=job,
                    cron_schedule=source.cron,
                    execution_timezone="UTC",
                    default_status=dg.DefaultScheduleStatus.RUNNING,
                    description=f"Extracts every table of {name} ({source.cron}, UTC).",
                )
            )
    return dg.Definitions(jobs=jobs, sensors=sensors, schedules=schedules)


def build_cdc_sensor(
    name: str, source: DatabaseSourceConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    """Every ``interval_seconds``: a micro-batch run, unless the previous one is still going."""

    @dg.sensor(
        name=f"{name}_cdc_sensor",
        job=job,
        minimum_interval_seconds=source.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts a CDC micro-batch of {name} every {source.interval_seconds} s "
        "when none is running.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        running = context.instance.get_run_records(
            filters=dg.RunsFilter(job_name=job.name, statuses=ACTIVE), limit=1
        )
        if running:
            return dg.SkipReason(f"run {running[0].dagster_run.run_id} of {job.name} is going")
        return dg.RunRequest()

    return _sensor
