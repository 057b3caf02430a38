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
