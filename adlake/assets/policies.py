"""Cross-cutting policy applied once to the assembled Definitions: freshness, owners, tags."""

import warnings
from datetime import timedelta

import dagster as dg

from adlake.assets.keys import dataset_key
from adlake.config import AdlakeConfig
from adlake.config.base import LAYER_TAG

DATASET_LAYERS = ("raw", "clean", "catalog")  # keys <layer>/<source>/<dataset>


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

    return _map_specs(defs, _with_freshness, selection=list(windows))


def apply_labels(defs: dg.Definitions, config: AdlakeConfig) -> dg.Definitions:
    """Tag every asset with its layer, and a source's assets with the owners and tags it declares.

    The layer tag (``layer=raw``, ``clean``, ``catalog``, ``segments``...) lets the asset graph
    be filtered to one layer across sources (``tag:layer=clean``); owners and tags come from
    ``sources.<name>.owners`` / ``.tags``.
    """

    def _labelled(spec: dg.AssetSpec) -> dg.AssetSpec:
        layer, *rest = spec.key.path
        source = config.sources.get(rest[0]) if rest and layer in DATASET_LAYERS else None
        tags = {**(source.tags if source else {}), LAYER_TAG: layer}
        return spec.merge_attributes(tags=tags, owners=list(source.owners) if source else [])

    return _map_specs(defs, _labelled)


def _map_specs(defs: dg.Definitions, func, selection=None) -> dg.Definitions:  # noqa: ANN001
    """``Definitions.map_resolved_asset_specs``, without its preview warning on every load."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(func=func, selection=selection)
