"""Pull schedules from the config: each run re-pulls a source's look-back window of days.

The account's time zone decides the cron and what "yesterday" is. A run asks for the window's
(day, account) partitions as one range, so each account's days become as few report requests
as the API allows; a later run replaces those partitions with the restated numbers.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.assets.pulls import DATE, SCOPE_DIMENSION
from adlake.config import AdlakeConfig, AmcSourceConfig, AmcWorkflowConfig, PullSourceConfig

# Dagster's documented run tags for a range of partitions in one run
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def build_pull_schedules(config: AdlakeConfig) -> dg.Definitions:
    """A job per pull source (all its reports) and, when configured, its schedule.

    AMC workflows each have their own job and cron (from the workflow file).
    """
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for name, source in config.pull_sources().items():
        if isinstance(source, AmcSourceConfig):
            for workflow in source.workflows:
                job = dg.define_asset_job(
                    f"{name}_{workflow}_job",
                    selection=[dataset_key("raw", name, workflow)],
                    description=f"Execute AMC workflow {workflow} of {name} for its tenants.",
                )
                jobs.append(job)
                if source.workflows[workflow].schedule is not None:
                    schedules.append(build_workflow_schedule(name, source, workflow, job))
            continue
        job = dg.define_asset_job(
            f"{name}_pull_job",
            selection=[dataset_key("raw", name, report) for report in source.reports],
            description=f"Pull every report of {name}.",
        )
        jobs.append(job)
        if source.schedule is not None:
            schedules.append(build_pull_schedule(name, source, job))
    return dg.Definitions(jobs=jobs, schedules=schedules)


def lookback_range(source: PullSourceConfig, today: date) -> tuple[date, date] | None:
    """The days a run on ``today`` (the account's local date) pulls: the look-back window.

    It ends yesterday (today's numbers are incomplete) and never starts before start_date.
    """
    assert source.schedule is not None
    end = today - timedelta(days=1)
    start = max(
        end - timedelta(days=source.schedule.lookback_days - 1),
        date.fromisoformat(source.start_date),
    )
    return (start, end) if start <= end else None


def workflow_range(workflow: AmcWorkflowConfig, today: date) -> tuple[date, date]:
    """The days a scheduled run of an AMC workflow on ``today`` (UTC) executes.

    Day workflows: ``lookback_days`` ending ``lag_days`` ago. Week workflows: the last full
    calendar week (Monday-Sunday) that ends ``lag_days`` ago or earlier.
    """
    anchor = today - timedelta(days=workflow.lag_days)
    if workflow.window == "week":
        sunday = anchor - timedelta(days=(anchor.weekday() + 1) % 7)
        return sunday - timedelta(days=6), sunday
    return anchor - timedelta(days=workflow.lookback_days - 1), anchor


def build_workflow_schedule(
    name: str, source: AmcSourceConfig, workflow: str, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """The schedule of one AMC workflow: its cron (UTC), its lagged window, every tenant."""
    spec = source.workflows[workflow]
    assert spec.schedule is not None

    @dg.schedule(
        name=f"{name}_{workflow}_schedule",
        job=job,
        cron_schedule=spec.schedule,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Executes AMC workflow {spec.workflow_id} for every tenant of {name} "
        f"({spec.schedule}, UTC; data {spec.lag_days} day(s) behind, {spec.window} windows).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.astimezone(ZoneInfo("UTC")).date()
        start, end = workflow_range(spec, today)
        start = max(start, date.fromisoformat(source.start_date))
        if start > end:
            return dg.SkipReason(f"nothing to run yet: start_date {source.start_date} is ahead")
        first, last = partition_range(source, start, end)
        return dg.RunRequest(
            run_key=f"{name}:{workflow}:{today.isoformat()}",
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        )

    return _schedule


def partition_range(source: PullSourceConfig, start: date, end: date) -> tuple[str, str]:
    """First and last (day, account) keys of a range covering every account."""
    dimension = SCOPE_DIMENSION[source.kind]
    scopes = source.scopes()
    first = dg.MultiPartitionKey({DATE: start.isoformat(), dimension: scopes[0]})
    last = dg.MultiPartitionKey({DATE: end.isoformat(), dimension: scopes[-1]})
    return str(first), str(last)


def build_pull_schedule(
    name: str, source: PullSourceConfig, job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """The schedule of one source: cron in the account's time zone, look-back range per run."""
    assert source.schedule is not None
    zone = source.schedule.timezone

    @dg.schedule(
        name=f"{name}_pull_schedule",
        job=job,
        cron_schedule=source.schedule.cron,
        execution_timezone=zone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Re-pulls the last {source.schedule.lookback_days} day(s) of every report "
        f"of {name} ({source.schedule.cron}, {zone}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(zone)).date()
        days = lookback_range(source, today)
        if days is None:
            return dg.SkipReason(f"nothing to pull yet: start_date {source.start_date} is ahead")
        first, last = partition_range(source, *days)
        return dg.RunRequest(
            run_key=f"{name}:{today.isoformat()}",
            tags={
                RANGE_START_TAG: first,
                RANGE_END_TAG: last,
            },
        )

    return _schedule
