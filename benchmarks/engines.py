"""The clean transform on DuckDB and on Spark (local mode), same dataset spec, same raw input.

The dataset is the sample publisher's ``ad_server.impressions`` of ``adlake.yaml``: JSON lines
with a timestamp, a decimal price, a MAID hashed with SHA-256 and an IP dropped. A DuckDB
``COPY`` writes one day of impressions as 8 gzip JSON-lines deliveries (the hourly logs of an
ad server, grouped), with ~1% of the events re-sent in a later delivery with another price, so
dedup has work to do. For each size (250k, 1M and 5M rows by default) both engines clean the
same deliveries into the same day, each in its own subprocess while the parent samples the RSS
of that process tree every ~50 ms (the Spark JVM is a child of the Python process: it counts):

* duckdb -- ``adlake.transform.clean.clean_partitions``, default ``EngineConfig`` (768MB,
            2 threads): what ``engine: duckdb`` runs in the run's process;
* spark  -- ``adlake.transform.spark_clean.clean_partitions_spark`` on a ``local[2]``
            session made by ``adlake.resources.spark`` (driver memory ``--spark-memory``);
            the session's start (the JVM) is timed apart from the clean.

The engines' clean files are then compared row by row (DuckDB ``EXCEPT ALL`` both ways, types
included), as are the counts. It prints seconds, rows/s and peak RSS per engine and size, the
Spark/DuckDB ratio of throughput, the smallest measured size at which Spark is faster (the
crossover; none if it never is), and ends with one JSON line of the figures.

    .venv/bin/python benchmarks/engines.py [--sizes 250000,1000000,5000000] [--runs 1]
        [--spark-memory 2g] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from watch import run_watched  # benchmarks/watch.py, beside this script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "engines"
GENERATOR_VERSION = 1
SOURCE, DATASET = "ad_server", "impressions"
DAY = "2026-03-11"
DELIVERIES = 8
ENGINES = ("duckdb", "spark")

# row i goes to delivery i % 8; ~1% of the rows re-send the previous event (another delivery,
# another price): the latest delivery wins in clean
GENERATE_SQL = """
COPY (
  WITH r AS (
    SELECT i, CASE WHEN i > 0 AND hash(i, 'dup') % 100 = 0 THEN i - 1 ELSE i END AS e
    FROM range({rows}) t(i) WHERE i % {deliveries} = {delivery}
  ), h AS (SELECT i, e, hash(e) AS k, hash(i, 'price') AS p FROM r)
  SELECT
    'imp-' || e::VARCHAR AS event_id,
    'auc-' || (e // 2)::VARCHAR AS auction_id,
    ['home_leaderboard', 'article_mpu', 'article_sidebar', 'video_preroll'][1 + (k % 4)::INT]
      AS ad_unit,
    ['header', 'in_article', 'sidebar', 'instream'][1 + (k % 4)::INT] AS placement,
    ['US', 'US', 'US', 'GB', 'DE', 'FR', 'CA'][1 + ((k >> 8) % 7)::INT] AS country,
    ['mobile', 'mobile', 'desktop', 'tablet', 'ctv'][1 + ((k >> 16) % 5)::INT] AS device,
    strftime(TIMESTAMP '{day}' + to_milliseconds((e * 86399000 // {rows})::BIGINT),
             '%Y-%m-%dT%H:%M:%S.%gZ') AS ts,
    ['appnexus', 'magnite', 'pubmatic', 'openx', 'index_exchange'][1 + ((k >> 24) % 5)::INT]
      AS demand_partner,
    round(0.2 + (p % 80000) / 10000.0, 4) AS price,
    upper(md5('maid' || ((k >> 32) % 400000)::VARCHAR)) AS device_id,
    '10.' || (k % 250)::VARCHAR || '.' || ((k >> 8) % 250)::VARCHAR || '.'
      || ((k >> 16) % 250)::VARCHAR AS ip
  FROM h ORDER BY i
) TO '{path}' (FORMAT json, COMPRESSION gzip)
"""


def generate(rows: int, folder: Path) -> list[dict]:
    """Write the deliveries of ``rows`` impressions (deterministic); their paths and lines."""
    import duckdb

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    deliveries = []
    with duckdb.connect() as con:
        con.execute("SET threads=2")
        for delivery in range(DELIVERIES):
            name = f"impressions_{DAY}_{delivery:02d}.jsonl.gz"
            sql = GENERATE_SQL.format(
                rows=rows, deliveries=DELIVERIES, delivery=delivery, day=DAY,
                path=str(tmp / name).replace("'", "''"),
            )  # fmt: skip
            con.execute(sql)
            lines = con.execute(
                f"SELECT count(*) FROM range({rows}) t(i) WHERE i % {DELIVERIES} = {delivery}"
            ).fetchone()[0]
            deliveries.append({"name": name, "lines": lines})
        resent = con.execute(
            f"SELECT count(*) FROM range({rows}) t(i) WHERE i > 0 AND hash(i, 'dup') % 100 = 0"
        ).fetchone()[0]
    (tmp / "manifest.json").write_text(json.dumps({"deliveries": deliveries, "resent": resent}))
    tmp.rename(folder)
    return deliveries


def input_folder(rows: int, work: Path) -> Path:
    """The cached deliveries of ``rows`` impressions, generated on first use."""
    folder = work / f"impressions_{rows}_v{GENERATOR_VERSION}"
    if folder.exists():
        print(f"reusing {folder}")
    else:
        print(f"generating {rows:,} impressions in {DELIVERIES} deliveries -> {folder} ...")
        generate(rows, folder)
    return folder


# --- the two engines, each run in a child process -------------------------------------------


def run_engine(engine: str, folder: str, out: str, spark_memory: str) -> dict:
    """Clean the day from the folder's deliveries on one engine, as the clean asset calls it."""
    import pyarrow as pa

    from adlake.config import EngineConfig, load_config
    from adlake.lake.storage import Lake
    from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions

    pa.array(["warm-up"])  # pyarrow's first conversion imports pandas: not the engine's time
    spec = load_config(REPO / "adlake.yaml").sources[SOURCE].datasets[DATASET]
    manifest = json.loads(Path(folder, "manifest.json").read_text())
    inputs = [
        CleanInput(f"d{n:02d}", f"{folder}/{item['name']}", DAY, item["name"], item["lines"])
        for n, item in enumerate(manifest["deliveries"])
    ]
    ref, lake, config = DatasetRef(SOURCE, DATASET, spec), Lake(out), EngineConfig()
    os.makedirs(out, exist_ok=True)
    start_seconds = 0.0
    if engine == "spark":
        from pyspark.sql import SparkSession

        from adlake.resources.spark import local_spark_conf
        from adlake.transform.spark_clean import clean_partitions_spark

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        conf = local_spark_conf(tempfile.mkdtemp(dir=out), 2, {"spark.driver.memory": spark_memory})
        started = time.perf_counter()
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        start_seconds = time.perf_counter() - started

        def clean():
            return clean_partitions_spark(spark, lake, ref, inputs, [DAY], {}, config)
    else:

        def clean():
            return clean_partitions(lake, ref, inputs, [DAY], {}, config)

    started = time.perf_counter()
    outcome = clean()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "start_seconds": start_seconds,
        "rows_in": sum(item.lines for item in inputs),
        "rows_out": outcome.total("rows_out"),
        "duplicates": outcome.total("duplicates"),
        "quarantined": outcome.total("quarantined"),
        "clean_file": f"{out}/{outcome.partitions[0].clean_path}",
        "resent": manifest["resent"],
    }


# --- the parent -------------------------------------------------------------------------------


def measure(engine: str, folder: Path, out: Path, args: argparse.Namespace) -> dict:
    """Run one engine in a child process; add its peak RSS (process tree, ~50 ms samples)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, str(Path(__file__).resolve()), "--role", engine, "--input", str(folder),
        "--out", str(out), "--spark-memory", args.spark_memory,
    ]  # fmt: skip
    os.sync()  # the previous run's output is on disk, not being flushed during this one
    run = run_watched(command, REPO)
    if run.returncode:
        print(run.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{engine} failed with exit code {run.returncode}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return result | {"peak_rss_mb": run.peak_rss_mb, "process_seconds": run.seconds}


def same_rows(left: str, right: str) -> bool:
    """Whether two Parquet files hold the same rows (as multisets) with the same column types."""
    import duckdb

    with duckdb.connect() as con:
        types = [
            con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
            for path in (left, right)
        ]
        if types[0] != types[1]:
            return False
        a, b = f"read_parquet('{left}')", f"read_parquet('{right}')"
        differ = con.execute(
            f"SELECT (SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})) "
            f"+ (SELECT count(*) FROM (FROM {b} EXCEPT ALL FROM {a}))"
        ).fetchone()[0]
    return differ == 0


def bench_size(rows: int, args: argparse.Namespace) -> dict:
    """Both engines on one size: best of ``--runs`` each, interleaved; the comparison."""
    folder = input_folder(rows, args.work)
    runs: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
    for n in range(max(args.runs, 1)):
        for engine in ENGINES:
            print(f"  {rows:>10,} rows: {engine} ({n + 1}) ...", flush=True)
            out = args.work / f"out_{engine}_{rows}"
            runs[engine].append(measure(engine, folder, out, args))
    best = {}
    for engine, measured in runs.items():
        best[engine] = dict(min(measured, key=lambda run: run["seconds"]))
        best[engine]["peak_rss_mb"] = max(run["peak_rss_mb"] for run in measured)
        best[engine]["all_seconds"] = [round(run["seconds"], 2) for run in measured]
    duck, spark = best["duckdb"], best["spark"]
    counts = ("rows_in", "rows_out", "duplicates", "quarantined")
    identical = all(duck[c] == spark[c] for c in counts) and same_rows(
        duck["clean_file"], spark["clean_file"]
    )
    if not args.keep:
        for engine in ENGINES:
            shutil.rmtree(args.work / f"out_{engine}_{rows}", ignore_errors=True)
    figures = {"rows": rows, "identical": identical}
    for engine, result in best.items():
        figures |= {
            f"{engine}_s": round(result["seconds"], 2),
            f"{engine}_rows_per_s": round(rows / result["seconds"]),
            f"{engine}_peak_rss_mb": result["peak_rss_mb"],
            f"{engine}_all_s": result["all_seconds"],
        }
    start = round(spark["start_seconds"], 2)
    figures |= {
        "spark_start_s": start,
        "spark_over_duckdb": round(duck["seconds"] / spark["seconds"], 3),
        "spark_with_start_over_duckdb": round(duck["seconds"] / (spark["seconds"] + start), 3),
        "rows_out": duck["rows_out"],
        "duplicates": duck["duplicates"],
        "quarantined": duck["quarantined"],
        "resent": duck["resent"],
    }
    return figures


def crossover(sizes: list[dict], key: str) -> int | None:
    """The smallest measured size from which on Spark is faster at every larger size too."""
    found = None
    for figures in sorted(sizes, key=lambda f: f["rows"], reverse=True):
        if figures[key] <= 1:
            break
        found = figures["rows"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="250000,1000000,5000000", help="rows per input, comma separated"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per engine; the best counts")
    parser.add_argument("--spark-memory", default="2g", help="spark.driver.memory (local mode)")
    parser.add_argument("--keep", action="store_true", help="keep the clean outputs")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (gitignored)")
    parser.add_argument("--role", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(json.dumps(run_engine(args.role, args.input, args.out, args.spark_memory)))
        return

    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"{SOURCE}.{DATASET}: {DELIVERIES} gzip JSON-lines deliveries of one day, 2 cores")
    measured = [bench_size(rows, args) for rows in sizes]
    print_table(measured)
    report = {
        "dataset": f"{SOURCE}.{DATASET}",
        "deliveries": DELIVERIES,
        "cores": 2,
        "spark_memory": args.spark_memory,
        "sizes": measured,
        "crossover_rows": crossover(measured, "spark_over_duckdb"),
        "crossover_rows_with_start": crossover(measured, "spark_with_start_over_duckdb"),
        "identical": all(figures["identical"] for figures in measured),
    }
    crossing = report["crossover_rows"]
    print(
        "crossover (Spark faster from this size on, session start not counted): "
        + (f"{crossing:,} rows" if crossing else f"none up to {max(sizes):,} rows")
    )
    print(f"both engines wrote the same rows at every size: {report['identical']}")
    print(json.dumps(report))


def print_table(measured: list[dict]) -> None:
    """A human-readable summary."""
    print(
        f"\n{'rows':>10} {'engine':7} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10}"
        f"  {'spark/duckdb':>12}"
    )
    for figures in measured:
        for engine in ENGINES:
            ratio = f"{figures['spark_over_duckdb']:.2f}x" if engine == "spark" else ""
            print(
                f"{figures['rows']:>10,} {engine:7} {figures[f'{engine}_s']:8.2f} "
                f"{figures[f'{engine}_rows_per_s']:>10,} {figures[f'{engine}_peak_rss_mb']:>7,} MB"
                f"  {ratio:>12}"
            )
        print(
            f"{'':>10} spark session start {figures['spark_start_s']:.2f} s; with it: "
            f"{figures['spark_with_start_over_duckdb']:.2f}x; {figures['duplicates']:,} "
            f"duplicates dropped, {figures['quarantined']:,} quarantined"
        )


if __name__ == "__main__":
    main()
