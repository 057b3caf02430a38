"""The one helper that names assets: raw/<source>/<dataset>, clean/..., catalog/..."""

from __future__ import annotations

from typing import Literal

import dagster as dg

Layer = Literal["raw", "clean", "catalog"]


def dataset_key(layer: Layer, source: str, dataset: str) -> dg.AssetKey:
    """The asset key of a dataset in a layer."""
    return dg.AssetKey([layer, source, dataset])


def segment_key(name: str) -> dg.AssetKey:
    """The asset key of an audience segment."""
    return dg.AssetKey(["segments", name])


def export_key(segment: str, destination: str) -> dg.AssetKey:
    """The asset key of a segment delivered to one destination."""
    return dg.AssetKey(["exports", segment, destination])


def op_name(key: dg.AssetKey) -> str:
    """The op name Dagster gives an asset with this key (used in run config)."""
    return "__".join(key.path)
