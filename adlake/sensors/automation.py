"""One declarative-automation sensor per layer, running by default."""

from __future__ import annotations

import dagster as dg

AUTOMATED_LAYERS = ("clean", "catalog", "aggregates")


def build_automation_sensors(interval_seconds: int) -> dg.Definitions:
    """Automation sensors that move new raw data through clean and catalog, and into the
    aggregates that have no schedule, without a click."""
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                f"{layer}_automation_sensor",
                target=dg.AssetSelection.key_prefixes([layer]),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=interval_seconds,
                description=f"Materializes {layer} partitions whose upstream data changed.",
            )
            for layer in AUTOMATED_LAYERS
        ]
    )
