"""Daily partitions shared by every layer, and the automation that moves data between layers."""

from __future__ import annotations

import dagster as dg

from adlake.config import DatasetConfig


def daily_partitions(spec: DatasetConfig) -> dg.DailyPartitionsDefinition:
    """UTC days from the dataset's start date through today (partners deliver today's file)."""
    return dg.DailyPartitionsDefinition(start_date=spec.start_date, timezone="UTC", end_offset=1)


def after_upstream_updates() -> dg.AutomationCondition:
    """Run a partition once its upstream partitions changed and nothing upstream is running.

    Unlike ``eager()`` this is not limited to the latest day, because deliveries (and late
    rows) arrive for older days too, and it does not wait for upstream days that may never
    get a file.
    """
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after upstream updates")


def only_today(context: dg.AssetExecutionContext, what: str, fix: str) -> str:
    """Today's partition key (UTC), or a Failure saying why a run for other days cannot be."""
    from datetime import UTC, datetime

    today = datetime.now(tz=UTC).date().isoformat()
    asked = sorted(context.partition_keys)
    if asked != [today]:
        raise dg.Failure(
            description=f"{what} lands what is new into today's partition ({today}); this run "
            f"asked for {', '.join(asked[:3])}{' ...' if len(asked) > 3 else ''}. Fix: "
            f"materialize today's partition ({fix})"
        )
    return today
