"""Compaction: a day's many micro-batch deliveries become one clean Parquet file, with row groups
of the configured size, replaced so that a reader querying meanwhile sees the old day or the
new one, never a mix, a gap or a double."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from adlake.config import EngineConfig, load_config
from adlake.config.datasets import DatasetConfig
from adlake.lake.storage import Lake
from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions
from adlake_tests.conftest import SAMPLE_CONFIG

DAY = "2026-03-09"
SOURCE, DATASET = "ad_server", "bids"


def bids_spec(**changes: object) -> DatasetConfig:
    """The sample project's bid log dataset, with some settings changed."""
    spec = load_config(SAMPLE_CONFIG).sources[SOURCE].datasets[DATASET]
    return spec.model_copy(update=changes)


def micro_batches(folder: Path, batches: int, per_batch: int, start: int = 0) -> list[CleanInput]:
    """``batches`` gzip JSON-lines deliveries of bid events; each re-sends the previous batch's
    last event, as an at-least-once consumer does after a crash."""
    inputs = []
    for b in range(batches):
        first = start + b * per_batch - (1 if b else 0)
        lines = [
            json.dumps(
                {
                    "event_id": f"e{n}",
                    "auction_id": f"a{n // 3}",
                    "ts": f"{DAY}T{n % 24:02d}:{n % 60:02d}:00.000Z",
                    "ad_unit": f"u{n % 4}",
                    "demand_partner": "magnite",
                    "bid_price": (n % 500) / 100,
                    "won": n % 3 == 0,
                }
            )  # fmt: skip
            for n in range(first, start + (b + 1) * per_batch)
        ]
        path = folder / f"batch{start}_{b:03d}.jsonl.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        inputs.append(CleanInput(f"d{start}_{b:03d}", str(path), DAY, path.name, len(lines)))
    return inputs


def clean(lake: Lake, spec: DatasetConfig, inputs: list[CleanInput]) -> Path:
    """Clean the day from these deliveries; the day's clean folder."""
    outcome = clean_partitions(
        lake, DatasetRef(SOURCE, DATASET, spec), inputs, [DAY], {}, EngineConfig()
    )
    (part,) = outcome.partitions
    assert part.quarantined == 0
    return Path(lake.full(part.clean_path)).parent


def test_forty_micro_batches_become_one_file_with_row_groups_of_the_target_size(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    inputs = micro_batches(tmp_path, 40, 5_000)

    small = clean(lake, bids_spec(row_group_mb=1), inputs)
    (file,) = small.iterdir()
    groups = pq.ParquetFile(file).metadata
    assert groups.num_rows == 200_000  # 40 re-sent events kept once
    sizes = [groups.row_group(i).num_rows for i in range(groups.num_row_groups)]
    assert len(sizes) > 4 and max(sizes) - min(sizes[:-1]) <= 2_048

    large = clean(lake, bids_spec(), inputs)  # default 128 MB: one group for this day
    (file,) = large.iterdir()
    assert pq.ParquetFile(file).metadata.num_row_groups == 1


def test_a_reader_querying_while_the_day_is_recompacted_sees_the_old_or_the_new_day(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    spec = bids_spec(row_group_mb=1)
    first = micro_batches(tmp_path, 10, 5_000)
    folder = clean(lake, spec, first)
    more = first + micro_batches(tmp_path, 10, 5_000, start=50_000)
    seen: set[int] = set()
    done = threading.Event()

    def read() -> None:
        with duckdb.connect() as con:
            while not done.is_set():
                query = f"SELECT count(*), count(DISTINCT event_id) FROM '{folder}/*.parquet'"
                total, distinct = con.execute(query).fetchone()
                assert total == distinct
                seen.add(total)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3):
            clean(lake, spec, more)
            clean(lake, spec, first)
    finally:
        done.set()
        reader.join()
    assert seen <= {50_000, 100_000} and seen


def test_a_day_of_many_micro_batches_is_staged_within_a_small_memory_limit(
    tmp_path: Path,
) -> None:
    # eight deliveries read by one query used to take more than 256MB of read buffers
    lake = Lake(tmp_path / "lake")
    inputs = micro_batches(tmp_path, 8, 20_000)
    outcome = clean_partitions(
        lake,
        DatasetRef(SOURCE, DATASET, bids_spec()),
        inputs,
        [DAY],
        {},
        EngineConfig(memory_limit="256MB"),
    )
    (part,) = outcome.partitions
    assert (part.rows_out, part.duplicates) == (160_000, 7)
