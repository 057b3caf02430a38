"""SQL over the clean zone: every clean dataset as a DuckDB view, through the lake's filesystem.

Segments and aggregates name tables as ``<source>.<dataset>``; each is a view over the
dataset's Parquet read through pyarrow datasets on the lake's filesystem, so the same SQL runs
on a local folder and on S3 without DuckDB's httpfs extension (no run-time download), and a
``dt`` filter prunes to the partitions it names. ``dt`` is a DATE, as in the catalog.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from pyarrow import fs as pafs

from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix


def expose_clean(
    con: duckdb.DuckDBPyConnection, lake: Lake, datasets: list[tuple[str, str]]
) -> None:
    """A view ``<source>.<dataset>`` over every clean dataset that has files."""
    for source, dataset in datasets:
        root = lake.full(dataset_prefix(Zone.CLEAN, source, dataset))
        info = lake.filesystem.get_file_info(root)
        if info.type != pafs.FileType.Directory:
            continue
        selector = pafs.FileSelector(root, recursive=True)
        files = [
            f.path
            for f in lake.filesystem.get_file_info(selector)
            if f.type == pafs.FileType.File and f.path.endswith(".parquet")
        ]
        if not files:
            continue
        arrow = pads.dataset(
            files,
            filesystem=lake.filesystem,
            format="parquet",
            partitioning=pads.partitioning(pa.schema([("dt", pa.date32())]), flavor="hive"),
            partition_base_dir=root,
        )
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{source}"')
        con.register(f"_clean_{source}__{dataset}", arrow)
        con.execute(
            f'CREATE VIEW "{source}"."{dataset}" AS SELECT * FROM "_clean_{source}__{dataset}"'
        )
