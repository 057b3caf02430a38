"""The one entry point: adlake.yaml -> validated config -> resources + one factory per layer."""

from __future__ import annotations

import dagster as dg

from adlake.assets.aggregates import build_aggregate_defs
from adlake.assets.amc import build_amc_defs
from adlake.assets.catalog import build_catalog_defs
from adlake.assets.clean import build_clean_defs
from adlake.assets.databases import build_database_defs
from adlake.assets.files import build_file_defs
from adlake.assets.lifecycle import build_lifecycle_defs
from adlake.assets.policies import apply_freshness, apply_labels
from adlake.assets.pulls import build_pull_defs
from adlake.assets.raw import build_raw_defs
from adlake.assets.rest import build_rest_defs
from adlake.assets.segments import build_segment_defs
from adlake.assets.streams import build_stream_defs
from adlake.config import load_config
from adlake.resources import build_resources
from adlake.schedules.databases import build_database_schedules
from adlake.schedules.pulls import build_pull_schedules
from adlake.sensors.automation import build_automation_sensors
from adlake.sensors.files import build_file_sensors
from adlake.sensors.landing import build_landing_sensors
from adlake.sensors.notifications import build_notification_defs


@dg.definitions
def defs() -> dg.Definitions:
    """Build every asset, check, sensor and resource of the configured project."""
    config = load_config()
    merged = dg.Definitions.merge(
        build_raw_defs(config),
        build_pull_defs(config),
        build_amc_defs(config),
        build_rest_defs(config),
        build_stream_defs(config),
        build_pull_schedules(config),
        build_file_defs(config),
        build_file_sensors(config),
        build_clean_defs(config),
        build_catalog_defs(config),
        build_database_defs(config),
        build_segment_defs(config),
        build_aggregate_defs(config),
        build_lifecycle_defs(config),
        build_database_schedules(config),
        build_landing_sensors(config),
        build_automation_sensors(config.sensors.interval_seconds),
        build_notification_defs(config),
        # one step per run is the norm here: run it in the run's process, not a subprocess
        dg.Definitions(resources=build_resources(config), executor=dg.in_process_executor),
    )
    return apply_labels(apply_freshness(merged, config), config)
