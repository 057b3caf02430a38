"""Run-status sensors that announce every finished run of the code location to the notifier.

The event is read back from the instance's event log of the run: which assets were
materialized, for which partitions, and the counts their metadata reported (``rows_out``,
``quarantined``, ``files_quarantined``). A failed delivery fails the tick, so the sensor retries
the run at its next tick: an announcement may be repeated, never silently lost.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg

from adlake.config import AdlakeConfig
from adlake.notify import AssetOutcome, NotificationEvent, run_event
from adlake.resources.notifier import NotifierResource

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# materialization metadata entry -> AssetOutcome field
COUNTS = {
    "rows_out": "rows_out",
    "quarantined": "quarantined_rows",
    "files_quarantined": "files_quarantined",
}


def build_notification_defs(config: AdlakeConfig) -> dg.Definitions:
    """The success and failure notification sensors, running from the start."""
    interval = config.sensors.interval_seconds

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="run_success_notification_sensor",
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Announces each successful run: assets, partitions, rows, quarantine.",
    )
    def run_success_notification_sensor(
        context: dg.RunStatusSensorContext, notifier: NotifierResource
    ) -> None:
        event = event_of_run(context.instance, context.dagster_run, "run_succeeded", notifier)
        notifier.notify(event)
        context.log.info(f"announced {event.kind} of run {event.run_id}")

    @dg.run_failure_sensor(
        name="run_failure_notification_sensor",
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Announces each failed run with its failed steps and a link to it.",
    )
    def run_failure_notification_sensor(
        context: dg.RunFailureSensorContext, notifier: NotifierResource
    ) -> None:
        failures = context.get_step_failure_events()
        steps = sorted({e.step_key for e in failures if e.step_key is not None})
        errors = [text for text in map(failure_text, failures) if text]
        event = event_of_run(
            context.instance, context.dagster_run, "run_failed", notifier, steps, errors
        )
        notifier.notify(event)
        context.log.info(f"announced {event.kind} of run {event.run_id}")

    return dg.Definitions(
        sensors=[run_success_notification_sensor, run_failure_notification_sensor]
    )


def event_of_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    kind: Literal["run_succeeded", "run_failed"],
    notifier: NotifierResource,
    failed_steps: list[str] | None = None,
    errors: list[str] | None = None,
) -> NotificationEvent:
    """The notification event of a finished run, from its tags and its event log."""
    tags = run.tags
    span = (
        (tags[RANGE_START_TAG], tags[RANGE_END_TAG])
        if RANGE_START_TAG in tags and RANGE_END_TAG in tags
        else None
    )
    return run_event(
        kind,
        run_id=run.run_id,
        job=run.job_name,
        ui_base_url=notifier.ui_base_url,
        assets=asset_outcomes(instance, run),
        partition_range=span,
        failed_steps=failed_steps,
        errors=errors,
    )


def failure_text(event: dg.DagsterEvent) -> str:
    """What a failed step said: its Failure's description, else the error's message."""
    data = event.step_failure_data
    if data is None:
        return ""
    user = data.user_failure_data
    if user is not None and user.description:
        return user.description
    return data.error.message.strip() if data.error else ""


def asset_outcomes(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[AssetOutcome]:
    """Per asset of the run: partitions materialized and the counts its metadata reported.

    A run over a partition range reports the same totals on every partition's materialization,
    so such a run counts one materialization per asset; other runs sum them. Assets the run
    planned but did not materialize (a failure) are listed without counts.
    """
    ranged = RANGE_START_TAG in run.tags
    partitions: dict[str, set[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    counted: set[str] = set()
    records = instance.get_records_for_run(
        run.run_id,
        of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
        },
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key is None:
            continue
        key = event.asset_key.to_user_string()
        planned = event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        partition = event.partition or (run.tags.get(PARTITION_TAG) if planned else None)
        if partition:
            partitions.setdefault(key, set()).add(partition)
        materialization = record.event_log_entry.asset_materialization
        totals = counts.setdefault(key, {})
        if planned or materialization is None or (ranged and key in counted):
            continue
        counted.add(key)
        for entry, field in COUNTS.items():
            value = _as_int(materialization.metadata.get(entry))
            if value is not None:
                totals[field] = totals.get(field, 0) + value
    return [
        AssetOutcome(name, tuple(sorted(partitions.get(name, ()))), **counts[name])
        for name in sorted(counts)
    ]


def _as_int(value: object) -> int | None:
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
