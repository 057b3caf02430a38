"""Cross-cutting policy applied once to the assembled Definitions: freshness per dataset."""

from datetime import timedelta

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.config import AdlakeConfig


def apply_freshness(defs: dg.Definitions, config: AdlakeConfig) -> dg.Definitions:
    """Give each dataset's catalog asset the freshness window its config declares.

    The catalog asset is the end of a dataset's pipeline, so a stale catalog means a partner
    stopped delivering or a layer in between is failing; it warns at half the window.
    """
    windows = {
        dataset_key("catalog", source, dataset): spec.freshness_hours
        for source, dataset, spec in config.datasets()
        if spec.freshness_hours
    }
    if not windows:
        return defs

    def _with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
        hours = windows[spec.key]
        policy = dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours / 2)
        )
        return spec.replace_attributes(freshness_policy=policy)

    return defs.map_resolved_asset_specs(func=_with_freshness, selection=list(windows))
