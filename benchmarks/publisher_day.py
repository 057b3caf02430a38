"""A publisher's day of ad-server events: stream -> raw -> clean (compaction) -> aggregates.

A fast deterministic generator makes one UTC day (yesterday) of auctions with the JSON shape of
``adlake.sample_events`` (about 2.5 bids per auction, 4 bids per impression, 0.5% of auctions
re-send their first bid as an at-least-once producer does); the events are read through an
in-process ``SyntheticStream`` per dataset (4 shards, each record computed from its sequence
number on demand, never the day in memory). The datasets' columns are those of
``adlake.yaml`` (``sources.ad_server.datasets.bids`` / ``.impressions``). Each step runs in its
own subprocess while the parent samples the RSS of that process tree every ~50 ms, and is set
against a baseline measured in the same run:

* source     -- the generator alone (rendering the JSON bytes): the cost both ingests share;
* ingest     -- ``adlake.streams.consume_batch`` looped until both streams are drained
                (250,000 records per micro-batch): gzip JSON-lines deliveries in raw, delivery
                manifests, per-shard checkpoints; vs the floor of landing: the same records'
                bytes written 250,000 lines a file with plain Python ``gzip`` (same level, 5);
* clean      -- ``adlake.transform.clean.clean_partitions`` of the day over every micro-batch
                delivery (typed, PII-hashed, deduplicated, one Parquet file: the compaction),
                bids and impressions separately, default ``EngineConfig`` (768MB, 2 threads);
                vs DuckDB ``COPY (SELECT * FROM read_json(<raw files>)) TO parquet`` (no
                typing, hashing or dedup; same memory_limit, insertion order not kept);
* report     -- ``adlake.aggregates.compute_day`` of ``yield_hourly`` over the clean Parquet,
                then ``publish_day``, then reading the published day back; vs the same SQL run
                by DuckDB directly over the raw gzip JSON micro-batches (views with the
                declared columns and a ``dt`` column, duplicates included);
* kinesis    -- ``--kinesis-events`` events put into a moto Kinesis server on loopback (2
                shards, ``put_records`` of 500) and consumed through
                ``adlake.connectors.streams.kinesis.KinesisStream`` with ``consume_batch``:
                bound by moto's speed, not adlake's.

Checks: clean rows = distinct event ids generated, duplicates dropped = re-sent bids, and the
report's impressions = impressions generated. Ends with one JSON line of the figures.

    .venv/bin/python benchmarks/publisher_day.py [--events N] [--kinesis-events M] [--keep]
        [--memory-limit 768MB]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from watch import run_watched  # noqa: E402  (benchmarks/, the script's folder)

WORK = HERE / ".work"
CONFIG = REPO / "adlake.yaml"
SOURCE = "ad_server"
DATASETS = ("bids", "impressions")
SHARDS = 4
BATCH_RECORDS = 250_000
SEED = 20260301
DUP_RATE = 0.005  # auctions whose first bid the producer sends twice
# records per auction on the two streams: 2.5 bids * (1 + dup share) + ~0.64 impressions
EVENTS_PER_AUCTION = 2.5 + DUP_RATE + 0.6403

AD_UNITS = (  # as adlake.sample_events.AD_UNITS: name, placement, floor CPM
    ("home_leaderboard", "header", 0.80),
    ("article_mpu", "in_article", 0.50),
    ("article_sidebar", "sidebar", 0.20),
    ("video_preroll", "instream", 4.00),
)
PARTNERS = ("appnexus", "magnite", "pubmatic", "openx", "index_exchange")
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA")
DEVICES = ("mobile", "mobile", "desktop", "tablet", "ctv")
RAW_COLUMNS = {  # the JSON fields as the baseline reads them (declared types, ts as event_ts)
    "bids": {
        "event_id": "VARCHAR", "auction_id": "VARCHAR", "ad_unit": "VARCHAR",
        "placement": "VARCHAR", "country": "VARCHAR", "device": "VARCHAR",
        "ts": "TIMESTAMPTZ", "demand_partner": "VARCHAR", "floor_price": "DECIMAL(10,4)",
        "bid_price": "DECIMAL(10,4)", "won": "BOOLEAN",
    },
    "impressions": {
        "event_id": "VARCHAR", "auction_id": "VARCHAR", "ad_unit": "VARCHAR",
        "placement": "VARCHAR", "country": "VARCHAR", "device": "VARCHAR",
        "ts": "TIMESTAMPTZ", "demand_partner": "VARCHAR", "price": "DECIMAL(10,4)",
        "device_id": "VARCHAR", "ip": "VARCHAR",
    },
}  # fmt: skip


# --- the generator --------------------------------------------------------------------------


class DayOfEvents:
    """The day's auctions in blocks; shard s of a stream holds the blocks b with b % 4 == s.

    Every block is computed from (SEED, block) alone with numpy, so any record can be made
    again from its sequence number, ``<block:9><index in the block's lines:7>``.
    """

    def __init__(self, events: int, day: str) -> None:
        self.day = day
        self.auctions = max(1, round(events / EVENTS_PER_AUCTION))
        self.block = max(256, min(32_768, math.ceil(self.auctions / (4 * SHARDS))))
        self.blocks = math.ceil(self.auctions / self.block)
        self.ymd = day.replace("-", "")
        self.contexts = [
            f'"ad_unit":"{unit}","placement":"{placement}","country":"{country}",'
            f'"device":"{device}"'
            for unit, placement, _ in AD_UNITS
            for country in COUNTRIES
            for device in DEVICES
        ]
        self.hms = [f"{day}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]

    def fields(self, block: int) -> dict:
        """The numpy draws of one block's auctions."""
        import numpy as np

        first = block * self.block
        n = min(self.block, self.auctions - first)
        rng = np.random.default_rng([SEED, block])
        unit = rng.integers(0, 4, n)
        country = rng.integers(0, 7, n)
        device = rng.integers(0, 5, n)
        offers = rng.integers(1, 5, n)
        partners = rng.random((n, 5)).argsort(axis=1)[:, :4]
        floors = np.array([f for _, _, f in AD_UNITS])[unit]
        price = np.round(floors[:, None] * rng.lognormal(0.1, 0.6, (n, 4)), 4)
        answered = (rng.random((n, 4)) < 0.7) & (np.arange(4)[None, :] < offers[:, None])
        eligible = answered & (price >= floors[:, None])
        winner = np.where(eligible.any(axis=1), np.where(eligible, price, -1.0).argmax(axis=1), -1)
        shown = (winner >= 0) & (rng.random(n) < 0.95)
        dup = rng.random(n) < DUP_RATE
        index = np.arange(first, first + n, dtype=np.int64)
        when = index * 86_000_000 // self.auctions + rng.integers(0, 1000, n)  # ms of the day
        later = when + rng.integers(50, 800, n)
        maid = rng.integers(0, 2**63, (n, 2), dtype=np.int64)
        ip = rng.integers(1, 255, n)
        return {
            "n": n, "first": first, "context": (unit * 7 + country) * 5 + device,
            "offers": offers, "partners": partners, "floors": floors, "price": price,
            "answered": answered, "winner": winner, "shown": shown, "dup": dup, "when": when,
            "later": later, "maid": maid, "ip": ip,
        }  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Bids (distinct), re-sent bids and impressions of the day, without rendering."""
        bids = dups = shown = 0
        for block in range(self.blocks):
            f = self.fields(block)
            bids += int(f["offers"].sum())
            dups += int(f["dup"].sum())
            shown += int(f["shown"].sum())
        return {"bids": bids, "resent_bids": dups, "impressions": shown}

    def lines(self, block: int, dataset: str) -> list[bytes]:
        """One block's JSON records of one dataset, in auction order."""
        f = self.fields(block)
        contexts, hms, ymd = self.contexts, self.hms, self.ymd
        ctx, when, winner, first = (
            f["context"].tolist(),
            f["when"].tolist(),
            f["winner"].tolist(),
            f["first"],
        )
        out: list[bytes] = []
        append = out.append
        if dataset == "bids":
            offers, partners = f["offers"].tolist(), f["partners"].tolist()
            floors, prices = f["floors"].tolist(), f["price"].tolist()
            answered, dup = f["answered"].tolist(), f["dup"].tolist()
            for i in range(f["n"]):
                aid = f"{ymd}{first + i:010d}"
                ms = when[i]
                head = f'","auction_id":"{aid}",{contexts[ctx[i]]},"ts":"{hms[ms // 1000]}.'
                tail = f'{ms % 1000:03d}Z","demand_partner":"'
                floor = floors[i]
                won = winner[i]
                row_p, row_a, row_partner = prices[i], answered[i], partners[i]
                for b in range(offers[i]):
                    bid = row_p[b] if row_a[b] else "null"
                    line = (
                        f'{{"event_id":"{aid}-b{b}{head}{tail}{PARTNERS[row_partner[b]]}",'
                        f'"floor_price":{floor},"bid_price":{bid},'
                        f'"won":{"true" if b == won else "false"}}}'
                    ).encode()
                    append(line)
                    if b == 0 and dup[i]:
                        append(line)
            return out
        shown, later, partners = f["shown"].tolist(), f["later"].tolist(), f["partners"].tolist()
        prices, maid, ip = f["price"].tolist(), f["maid"].tolist(), f["ip"].tolist()
        for i in range(f["n"]):
            if not shown[i]:
                continue
            aid = f"{ymd}{first + i:010d}"
            ms, won = later[i], winner[i]
            m = f"{maid[i][0]:016x}{maid[i][1]:016x}".upper()
            append(
                (
                    f'{{"event_id":"{aid}-i","auction_id":"{aid}",{contexts[ctx[i]]},'
                    f'"ts":"{hms[ms // 1000]}.{ms % 1000:03d}Z",'
                    f'"demand_partner":"{PARTNERS[partners[i][won]]}","price":{prices[i][won]},'
                    f'"device_id":"{m[:8]}-{m[8:12]}-4{m[13:16]}-{m[16:20]}-{m[20:]}",'
                    f'"ip":"203.0.113.{ip[i]}"}}'
                ).encode()
            )
        return out

    def shard_blocks(self, shard: int) -> range:
        """The blocks shard ``shard`` holds, in order."""
        return range(shard, self.blocks, SHARDS)


class SyntheticStream:
    """A :class:`~adlake.connectors.streams.Stream` of one dataset of the day, 4 open shards."""

    def __init__(self, day: DayOfEvents, dataset: str) -> None:
        self.name = f"synthetic-{dataset}"
        self.day, self.dataset = day, dataset
        self._cache: dict[int, tuple[int, list[bytes]]] = {}  # shard -> (block, lines)

    def shards(self):  # noqa: ANN201
        from adlake.connectors.streams import Shard

        return [Shard(f"shardId-{s:012d}") for s in range(SHARDS)]

    def _lines(self, shard: int, block: int) -> list[bytes]:
        cached = self._cache.get(shard)
        if cached is None or cached[0] != block:
            cached = (block, self.day.lines(block, self.dataset))
            self._cache[shard] = cached
        return cached[1]

    def read(self, shard, after: str | None, limit: int):  # noqa: ANN001, ANN201
        from adlake.connectors.streams import ShardBatch, StreamRecord

        number = int(shard.shard_id.rsplit("-", 1)[1])
        if after is None:
            block, index = number, 0
        else:
            block, index = int(after[:9]), int(after[9:]) + 1
        records: list = []
        while len(records) < limit and block < self.day.blocks:
            lines = self._lines(number, block)
            take = lines[index : index + limit - len(records)]
            records += [
                StreamRecord(f"{block:09d}{index + j:07d}", data) for j, data in enumerate(take)
            ]
            index += len(take)
            if index >= len(lines):
                block, index = block + SHARDS, 0
        return ShardBatch(records, ended=False)

    def close(self) -> None:
        """Nothing to release."""


# --- the contenders, each run in a child process --------------------------------------------


def _lake(args: argparse.Namespace):  # noqa: ANN202
    from adlake.lake.storage import Lake

    return Lake(args.work / "lake")


def _spec(dataset: str, **extra):  # noqa: ANN003, ANN202
    from adlake.config import load_config
    from adlake.config.streams import StreamDatasetConfig

    declared = load_config(str(CONFIG)).sources[SOURCE].datasets[dataset]
    return StreamDatasetConfig(**{**declared.model_dump(), "stream": dataset, **extra})


def _deliveries(lake, dataset: str, day: str) -> list:  # noqa: ANN001
    from adlake.lake.deliveries import DeliveryLedger, current_deliveries

    first = datetime.fromisoformat(day).date()
    dates = [(first + timedelta(days=i)).isoformat() for i in range(3)]
    return current_deliveries(DeliveryLedger(lake, SOURCE, dataset).for_dates(dates))


def run_source(args: argparse.Namespace) -> dict:
    """Render every record of both streams and drop it: the generator's share of ingest."""
    day = DayOfEvents(args.events, args.day)
    start = time.perf_counter()
    records = size = 0
    for dataset in DATASETS:
        for block in range(day.blocks):
            lines = day.lines(block, dataset)
            records += len(lines)
            size += sum(map(len, lines)) + len(lines)
    return {"seconds": time.perf_counter() - start, "records": records, "json_bytes": size}


def run_ingest(args: argparse.Namespace) -> dict:
    """Loop consume_batch over both synthetic streams until they are drained."""
    from adlake.streams import consume_batch

    day = DayOfEvents(args.events, args.day)
    lake = _lake(args)
    specs = {
        d: _spec(d, max_records_per_batch=BATCH_RECORDS, max_seconds_per_batch=3600.0)
        for d in DATASETS
    }
    streams = {d: SyntheticStream(day, d) for d in DATASETS}
    start = time.perf_counter()
    records = {d: 0 for d in DATASETS}
    batches = {d: 0 for d in DATASETS}
    live = list(DATASETS)
    while live:  # as the sensor would: one micro-batch of each stream in turn
        for dataset in list(live):
            outcome = consume_batch(
                streams[dataset], lake, SOURCE, dataset, specs[dataset], lambda _: None
            )
            if not outcome.records:
                live.remove(dataset)
                continue
            records[dataset] += outcome.records
            batches[dataset] += 1
    seconds = time.perf_counter() - start
    deliveries = {d: _deliveries(lake, d, args.day) for d in DATASETS}
    return {
        "seconds": seconds,
        "records": records,
        "batches": batches,
        "raw_bytes": sum(x.bytes for ds in deliveries.values() for x in ds),
        "delivery_dates": sorted({x.dt for ds in deliveries.values() for x in ds}),
    }


def run_landing_floor(args: argparse.Namespace) -> dict:
    """The same records' bytes, 250,000 lines a gzip file with plain Python gzip."""
    day = DayOfEvents(args.events, args.day)
    out = args.work / "floor_landing"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    records = files = size = 0
    for dataset in DATASETS:
        pending: list[bytes] = []

        def flush(name: str = dataset) -> None:
            nonlocal files, size, pending
            path = out / f"{name}_{files:05d}.jsonl.gz"
            with gzip.open(path, "wb", compresslevel=5) as handle:
                handle.write(b"\n".join(pending) + b"\n")
            files, size, pending = files + 1, size + path.stat().st_size, []

        for shard in range(SHARDS):
            for block in day.shard_blocks(shard):
                lines = day.lines(block, dataset)
                records += len(lines)
                pending += lines
                while len(pending) >= BATCH_RECORDS:
                    rest = pending[BATCH_RECORDS:]
                    pending = pending[:BATCH_RECORDS]
                    flush()
                    pending = rest
        if pending:
            flush()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "records": records, "files": files, "raw_bytes": size}


def run_clean(args: argparse.Namespace, dataset: str) -> dict:
    """clean_partitions of the day over all of the dataset's micro-batch deliveries."""
    import pyarrow as pa

    from adlake.config import EngineConfig
    from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions

    pa.array(["warm-up"])  # as clean_throughput.py: pyarrow's first conversion, off the clock
    lake = _lake(args)
    spec = _spec(dataset)
    deliveries = _deliveries(lake, dataset, args.day)
    with lake.scratch() as downloads:
        inputs = [
            CleanInput(d.delivery_id, lake.localize(d.raw_path, downloads), d.dt, d.origin, d.lines)
            for d in deliveries
        ]
        start = time.perf_counter()
        outcome = clean_partitions(
            lake,
            DatasetRef(SOURCE, dataset, spec),
            inputs,
            [args.day],
            {},
            EngineConfig(memory_limit=args.memory_limit),
        )
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "files_in": len(inputs),
        "raw_bytes": sum(d.bytes for d in deliveries),
        "files_out": sum(1 for p in outcome.partitions if p.rows_out),
        "rows_in": outcome.total("rows_in"),
        "rows_out": outcome.total("rows_out"),
        "duplicates": outcome.total("duplicates"),
        "quarantined": outcome.total("quarantined"),
        "out_bytes": sum(p.clean_bytes for p in outcome.partitions),
        "problems": outcome.file_problems[:3],
    }


def _raw_paths(lake, dataset: str, day: str) -> list[str]:  # noqa: ANN001
    return [lake.full(d.raw_path).replace("'", "''") for d in _deliveries(lake, dataset, day)]


def _raw_list(lake, dataset: str, day: str) -> str:  # noqa: ANN001
    return "[" + ", ".join(f"'{p}'" for p in _raw_paths(lake, dataset, day)) + "]"


def run_clean_floor(args: argparse.Namespace, dataset: str) -> dict:
    """DuckDB read_json of the raw micro-batches -> Parquet, nothing else.

    Files are read as many per query as clean reads them (``reads_per_query``): all 160 files
    of 40M bids in one query run out of a 768MB limit. Each query writes its own file.
    """
    import duckdb

    from adlake.transform.clean import _bytes
    from adlake.transform.staging import reads_per_query

    lake = _lake(args)
    folder = args.work / "floor_clean" / dataset
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = _raw_paths(lake, dataset, args.day)
    per_query = reads_per_query(_bytes(args.memory_limit))
    with duckdb.connect() as con:
        con.execute("SET threads=2")
        con.execute(f"SET memory_limit='{args.memory_limit}'")  # as clean's
        con.execute("SET preserve_insertion_order=false")  # order does not matter to the floor
        con.execute(f"SET temp_directory='{args.work / 'duckdb_tmp'}'")
        start = time.perf_counter()
        for n in range(0, len(paths), per_query):
            files = "[" + ", ".join(f"'{p}'" for p in paths[n : n + per_query]) + "]"
            con.execute(
                f"COPY (SELECT * FROM read_json({files}, format='newline_delimited', "
                "hive_partitioning=false)) "
                f"TO '{folder}/part-{n:05d}.parquet' (FORMAT parquet, COMPRESSION zstd)"
            )
        seconds = time.perf_counter() - start
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{folder}/*.parquet')").fetchone()
    out_bytes = sum(p.stat().st_size for p in folder.iterdir())
    return {"seconds": seconds, "rows_out": rows[0], "out_bytes": out_bytes}


def run_report(args: argparse.Namespace) -> dict:
    """yield_hourly over clean (compute, publish, read back) and the same SQL over raw."""
    import duckdb

    from adlake.aggregates.compute import compute_day, publish_day
    from adlake.config import load_config
    from adlake.config.aggregates import DAY

    config = load_config(str(CONFIG)).aggregates["yield_hourly"]
    lake = _lake(args)
    datasets = [(SOURCE, d) for d in DATASETS]
    start = time.perf_counter()
    table, _ = compute_day(lake, datasets, "yield_hourly", config, args.day)
    compute_s = time.perf_counter() - start
    start = time.perf_counter()
    path = publish_day(lake, "yield_hourly", args.day, table)
    publish_s = time.perf_counter() - start
    start = time.perf_counter()
    with duckdb.connect() as con:
        back = con.execute(f"SELECT * FROM read_parquet('{lake.full(path)}')").fetchall()
    read_s = time.perf_counter() - start

    start = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("SET TimeZone='UTC'")
        con.execute(f'CREATE SCHEMA "{SOURCE}"')
        for dataset in DATASETS:
            columns = ", ".join(f"'{c}': '{t}'" for c, t in RAW_COLUMNS[dataset].items())
            con.execute(
                f'CREATE VIEW "{SOURCE}"."{dataset}" AS SELECT * EXCLUDE (ts), ts AS event_ts, '
                f"CAST(ts AS DATE) AS dt FROM read_json({_raw_list(lake, dataset, args.day)}, "
                f"format='newline_delimited', columns={{{columns}}}, hive_partitioning=false)"
            )
        raw = con.sql(config.sql.replace(DAY, f"DATE '{args.day}'")).to_arrow_table()
    raw_s = time.perf_counter() - start
    ours_rows, raw_rows = table.to_pylist(), raw.to_pylist()
    return {
        "compute_s": compute_s,
        "publish_s": publish_s,
        "read_back_s": read_s,
        "raw_sql_s": raw_s,
        "rows": len(back),
        "impressions": sum(r["impressions"] for r in ours_rows),
        "raw_impressions": sum(r["impressions"] for r in raw_rows),
        "bids": sum(r["bids"] for r in ours_rows),
        "raw_bids": sum(r["bids"] for r in raw_rows),
        "requests_match": [r["requests"] for r in ours_rows] == [r["requests"] for r in raw_rows],
    }


def run_kinesis(args: argparse.Namespace) -> dict:
    """Put events into a moto Kinesis server, consume them with KinesisStream + consume_batch."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(args.work / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(args.work / "no-aws-credentials"),
    }.items():  # fmt: skip
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from adlake.connectors.streams.kinesis import KinesisStream
    from adlake.lake.storage import Lake
    from adlake.streams import consume_batch

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line a call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client("kinesis", region_name="us-east-1", endpoint_url=endpoint)
        client.create_stream(StreamName="bids", ShardCount=2)
        day = DayOfEvents(round(args.kinesis_events * EVENTS_PER_AUCTION / 2.5125), args.day)
        lines = [line for b in range(day.blocks) for line in day.lines(b, "bids")]
        lines = lines[: args.kinesis_events]
        start = time.perf_counter()
        for first in range(0, len(lines), 500):
            chunk = lines[first : first + 500]
            answer = client.put_records(
                StreamName="bids",
                Records=[{"Data": d, "PartitionKey": d[13:31].decode()} for d in chunk],
            )
            if answer.get("FailedRecordCount"):
                raise SystemExit(f"put_records failed {answer['FailedRecordCount']} record(s)")
        put_s = time.perf_counter() - start
        lake = Lake(args.work / "kinesis_lake")
        spec = _spec("bids", max_records_per_batch=10_000, max_seconds_per_batch=600.0)
        stream = KinesisStream("bids", region="us-east-1", endpoint_url=endpoint)
        start = time.perf_counter()
        consumed = batches = 0
        while outcome := consume_batch(stream, lake, SOURCE, "bids", spec, lambda _: None):
            if not outcome.records:
                break
            consumed += outcome.records
            batches += 1
        consume_s = time.perf_counter() - start
        stream.close()
        client.close()
    finally:
        server.stop()
    return {
        "put_s": put_s,
        "consume_s": consume_s,
        "put": len(lines),
        "consumed": consumed,
        "batches": batches,
    }


def child(args: argparse.Namespace) -> None:
    """Entry point of a child process: run one step, print its JSON result."""
    role, _, dataset = args.role.partition(":")
    result = {
        "source": lambda: run_source(args),
        "ingest": lambda: run_ingest(args),
        "landing_floor": lambda: run_landing_floor(args),
        "clean": lambda: run_clean(args, dataset),
        "clean_floor": lambda: run_clean_floor(args, dataset),
        "report": lambda: run_report(args),
        "kinesis": lambda: run_kinesis(args),
    }[role]()
    print(json.dumps(result))


# --- the parent: run each step in a subprocess and watch its memory -------------------------


def measure(role: str, args: argparse.Namespace) -> dict:
    """Run one step in a child process; add its peak RSS (process tree, ~50 ms samples)."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--role", role, "--work", str(args.work),
        "--events", str(args.events), "--kinesis-events", str(args.kinesis_events),
        "--day", args.day, "--memory-limit", args.memory_limit,
    ]  # fmt: skip
    print(f"running {role} ...", flush=True)
    os.sync()  # the previous step's output is on disk, not being flushed during this one
    run = run_watched(command, REPO)
    if run.returncode:  # reported, and the steps that need this one are skipped
        print(run.stderr[-3000:], file=sys.stderr)
        lines = [line for line in run.stderr.splitlines() if "Error" in line] or ["?"]
        result = {"error": f"exit code {run.returncode}: {lines[-1].strip()[:300]}"}
    else:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = run.peak_rss_mb
    result["process_seconds"] = run.seconds
    if "error" in result:
        print(f"  {role} FAILED after {result['process_seconds']:.1f} s: {result['error']}")
        return result
    print(f"  {role}: {result['process_seconds']:.1f} s in the process", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000_000, help="records on the streams")
    parser.add_argument(
        "--kinesis-events", type=int, default=20_000, help="events through moto Kinesis (0: skip)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the lake in the work dir")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (gitignored)")
    parser.add_argument(
        "--memory-limit", default="768MB", help="EngineConfig.memory_limit of clean (default)"
    )
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        child(args)
        return

    # yesterday (UTC): inside the lateness window of deliveries dated today
    args.day = (datetime.now(tz=UTC).date() - timedelta(days=1)).isoformat()
    args.work = args.work.resolve() / "publisher_day"
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    day = DayOfEvents(args.events, args.day)
    started = time.perf_counter()
    expected = day.counts()
    records = expected["bids"] + expected["resent_bids"] + expected["impressions"]
    print(
        f"day {args.day}: {day.auctions:,} auctions -> {records:,} records on the streams "
        f"({expected['bids']:,} bids + {expected['resent_bids']:,} re-sent, "
        f"{expected['impressions']:,} impressions), {day.blocks} blocks of {day.block:,} "
        f"auctions, {SHARDS} shards; {BATCH_RECORDS:,} records per micro-batch",
        flush=True,
    )
    results = {"source": measure("source", args), "ingest": measure("ingest", args)}
    results["landing_floor"] = measure("landing_floor", args)
    shutil.rmtree(args.work / "floor_landing", ignore_errors=True)
    for dataset in DATASETS:
        results[f"clean:{dataset}"] = measure(f"clean:{dataset}", args)
        results[f"clean_floor:{dataset}"] = measure(f"clean_floor:{dataset}", args)
    results["report"] = measure("report", args)
    if args.kinesis_events:
        results["kinesis"] = measure("kinesis", args)
    report = summarize(results, expected, records, args)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print_table(report)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    print(json.dumps(report))


def summarize(results: dict, expected: dict, records: int, args: argparse.Namespace) -> dict:
    """The figures of the run, as one flat dict (the final JSON line)."""
    source, ingest, floor = results["source"], results["ingest"], results["landing_floor"]
    report: dict = {
        "events": records,
        "day": args.day,
        "bids": expected["bids"],
        "resent_bids": expected["resent_bids"],
        "impressions": expected["impressions"],
        "json_mb": round(source["json_bytes"] / 1e6, 1),
        "source_s": round(source["seconds"], 2),
        "source_events_per_s": round(records / source["seconds"]),
        "ingest_s": round(ingest["seconds"], 2),
        "ingest_events_per_s": round(records / ingest["seconds"]),
        "ingest_batches": sum(ingest["batches"].values()),
        "ingest_raw_mb": round(ingest["raw_bytes"] / 1e6, 1),
        "ingest_peak_rss_mb": ingest["peak_rss_mb"],
        "landing_floor_s": round(floor["seconds"], 2),
        "landing_floor_events_per_s": round(records / floor["seconds"]),
        "landing_floor_raw_mb": round(floor["raw_bytes"] / 1e6, 1),
        "ingest_vs_floor": round(floor["seconds"] / ingest["seconds"], 3),
        "ingest_landed_ok": sum(ingest["records"].values()) == records,
    }
    clean_s = floor_s = 0.0
    failed = {step: r["error"] for step, r in results.items() if "error" in r}
    if failed:
        report["failed"] = failed
    for dataset in DATASETS:
        ours, base = results[f"clean:{dataset}"], results[f"clean_floor:{dataset}"]
        if "error" in ours or "error" in base:
            report[f"clean_{dataset}_peak_rss_mb"] = ours["peak_rss_mb"]
            report[f"clean_{dataset}_failed_after_s"] = ours["process_seconds"]
            continue
        rows_in = ours["rows_in"]
        clean_s, floor_s = clean_s + ours["seconds"], floor_s + base["seconds"]
        report |= {
            f"clean_{dataset}_s": round(ours["seconds"], 2),
            f"clean_{dataset}_events_per_s": round(rows_in / ours["seconds"]),
            f"clean_{dataset}_files_in": ours["files_in"],
            f"clean_{dataset}_files_out": ours["files_out"],
            f"clean_{dataset}_rows_out": ours["rows_out"],
            f"clean_{dataset}_duplicates": ours["duplicates"],
            f"clean_{dataset}_quarantined": ours["quarantined"],
            f"clean_{dataset}_out_mb": round(ours["out_bytes"] / 1e6, 1),
            f"clean_{dataset}_peak_rss_mb": ours["peak_rss_mb"],
            f"clean_floor_{dataset}_s": round(base["seconds"], 2),
            f"clean_floor_{dataset}_out_mb": round(base["out_bytes"] / 1e6, 1),
            f"clean_floor_{dataset}_peak_rss_mb": base["peak_rss_mb"],
            f"clean_{dataset}_vs_floor": round(base["seconds"] / ours["seconds"], 3),
        }
        if ours["problems"]:
            report[f"clean_{dataset}_problems"] = ours["problems"]
    cleaned = all(f"clean_{d}_s" in report for d in DATASETS)
    report |= {
        "clean_peak_rss_mb": max(results[f"clean:{d}"]["peak_rss_mb"] for d in DATASETS),
        "memory_limit": args.memory_limit,
    }
    report |= (
        {}
        if not cleaned
        else {
            "clean_s": round(clean_s, 2),
            "clean_events_per_s": round(records / clean_s),
            "clean_floor_s": round(floor_s, 2),
            "clean_floor_events_per_s": round(records / floor_s),
            "clean_vs_floor": round(floor_s / clean_s, 3),
        }
    )
    rep = results["report"]
    report |= (
        {}
        if "error" in rep
        else {
            "report_compute_s": round(rep["compute_s"], 3),
            "report_publish_s": round(rep["publish_s"], 3),
            "report_read_back_s": round(rep["read_back_s"], 4),
            "report_raw_sql_s": round(rep["raw_sql_s"], 3),
            "report_speedup_vs_raw": round(rep["raw_sql_s"] / rep["compute_s"], 2),
            "report_rows": rep["rows"],
            "report_peak_rss_mb": rep["peak_rss_mb"],
        }
    )
    if "kinesis" in results and "error" not in results["kinesis"]:
        kin = results["kinesis"]
        report |= {
            "kinesis_events": kin["put"],
            "kinesis_put_events_per_s": round(kin["put"] / kin["put_s"]),
            "kinesis_consume_s": round(kin["consume_s"], 2),
            "kinesis_consume_events_per_s": round(kin["consumed"] / kin["consume_s"]),
            "kinesis_batches": kin["batches"],
            "kinesis_consumed_ok": kin["consumed"] == kin["put"],
        }
    if "error" in rep or not cleaned:
        report["checks"] = {
            "landed_all_records": report["ingest_landed_ok"],
            "kinesis_consumed_all": report.get("kinesis_consumed_ok"),
            "clean_and_report": False,
        }
        return report
    report["checks"] = {
        "landed_all_records": report["ingest_landed_ok"],
        "clean_rows_eq_distinct_ids": report["clean_bids_rows_out"] == expected["bids"]
        and report["clean_impressions_rows_out"] == expected["impressions"],
        "duplicates_eq_resent": report["clean_bids_duplicates"] == expected["resent_bids"]
        and report["clean_impressions_duplicates"] == 0,
        "nothing_quarantined": report["clean_bids_quarantined"] == 0
        and report["clean_impressions_quarantined"] == 0,
        "report_impressions_eq_generated": rep["impressions"] == expected["impressions"],
        "raw_sql_impressions_eq": rep["raw_impressions"] == expected["impressions"],
        "raw_sql_bids_include_resent": rep["raw_bids"] - rep["bids"] <= expected["resent_bids"],
        "requests_match_raw_sql": rep["requests_match"],
        "kinesis_consumed_all": report.get("kinesis_consumed_ok"),
    }
    return report


def print_table(r: dict) -> None:
    """A human-readable summary."""
    n = r["events"]
    print(f"\n{r['events']:,} events ({r['json_mb']:,.0f} MB of JSON), day {r['day']}")
    print(f"{'step':36} {'seconds':>9} {'events/s':>11} {'peak RSS':>9}  notes")

    def row(name: str, seconds: float, rate: float | None, rss: int | None, note: str) -> None:
        rate_s = f"{rate:11,.0f}" if rate else f"{'':11}"
        rss_s = f"{rss:6,} MB" if rss is not None else f"{'':9}"
        print(f"{name:36} {seconds:9.2f} {rate_s} {rss_s}  {note}")

    row("source (generator only)", r["source_s"], r["source_events_per_s"], None, "")
    row(
        "ingest: consume_batch",
        r["ingest_s"],
        r["ingest_events_per_s"],
        r["ingest_peak_rss_mb"],
        f"{r['ingest_batches']} deliveries, {r['ingest_raw_mb']:,} MB raw gzip",
    )
    row(
        "  floor: plain gzip files",
        r["landing_floor_s"],
        r["landing_floor_events_per_s"],
        None,
        f"{r['landing_floor_raw_mb']:,} MB; ours/floor throughput {r['ingest_vs_floor']:.2f}",
    )
    for d in DATASETS:
        if f"clean_{d}_s" not in r:
            print(
                f"{'clean ' + d:36} FAILED after {r[f'clean_{d}_failed_after_s']:.0f} s, peak RSS "
                f"{r[f'clean_{d}_peak_rss_mb']:,} MB (memory_limit {r['memory_limit']})"
            )
            continue
        row(
            f"clean {d}",
            r[f"clean_{d}_s"],
            r[f"clean_{d}_events_per_s"],
            r[f"clean_{d}_peak_rss_mb"],
            f"{r[f'clean_{d}_files_in']} files -> {r[f'clean_{d}_files_out']} "
            f"({r[f'clean_{d}_out_mb']:,} MB), {r[f'clean_{d}_duplicates']:,} duplicates",
        )
        row(
            f"  floor: duckdb read_json {d}",
            r[f"clean_floor_{d}_s"],
            None,
            r[f"clean_floor_{d}_peak_rss_mb"],
            f"{r[f'clean_floor_{d}_out_mb']:,} MB; ours/floor {r[f'clean_{d}_vs_floor']:.2f}",
        )
    if "clean_s" not in r or "report_compute_s" not in r:
        for step, error in r.get("failed", {}).items():
            print(f"FAILED {step}: {error}")
        print("checks: " + ", ".join(f"{k}={v}" for k, v in r["checks"].items()))
        return
    row("clean total", r["clean_s"], r["clean_events_per_s"], r["clean_peak_rss_mb"], "")
    row(
        "  floor total",
        r["clean_floor_s"],
        r["clean_floor_events_per_s"],
        None,
        f"ours/floor throughput {r['clean_vs_floor']:.2f}",
    )
    row(
        "yield_hourly: compute_day",
        r["report_compute_s"],
        n / r["report_compute_s"],
        r["report_peak_rss_mb"],
        f"{r['report_rows']} rows; publish {r['report_publish_s']:.3f} s, "
        f"read back {r['report_read_back_s']:.4f} s",
    )
    row(
        "  baseline: same SQL over raw",
        r["report_raw_sql_s"],
        n / r["report_raw_sql_s"],
        None,
        f"compute_day is {r['report_speedup_vs_raw']:.1f}x faster",
    )
    if "kinesis_events" in r:
        print(
            f"kinesis (moto on loopback, moto-bound): {r['kinesis_events']:,} events, put "
            f"{r['kinesis_put_events_per_s']:,}/s, consumed in {r['kinesis_batches']} "
            f"batches at {r['kinesis_consume_events_per_s']:,}/s"
        )
    print("checks: " + ", ".join(f"{k}={v}" for k, v in r["checks"].items()))


if __name__ == "__main__":
    main()
