"""Throughput of the clean step (raw CSV -> typed, PII-hashed, deduplicated, partitioned Parquet).

Generates a partner point-of-sale CSV (30 days in random order, three PII columns), then runs,
each in its own subprocess while the parent samples the RSS of that process tree every ~50 ms:

* ours      -- ``adlake.transform.clean.clean_partitions`` over the 30 days, one delivery;
* baseline  -- the same work row by row with pandas + hashlib: CSV in chunks, cast, normalize
               and hash the PII with ``adlake.transform.pii.protect``, dedup on the key, one
               Parquet file per day;
* floor     -- DuckDB reading and casting the CSV and writing it partitioned by day
               (``COPY ... PARTITION_BY (dt), COMPRESSION zstd``), with no hashing, no checks
               and no dedup: what the engine needs just to move the bytes.

Ours and the floor run twice (``--runs``), interleaved, and the best time counts; ours' second
run re-runs the same partitions and checks that the clean files are byte-identical. Ends with
one JSON line of the figures.

    uv run python benchmarks/clean_throughput.py [--rows N] [--baseline-rows M] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from watch import run_watched  # benchmarks/watch.py, beside this script

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
GENERATOR_VERSION = 1
FIRST_DAY = "2026-03-01"
DAYS = [f"2026-03-{d:02d}" for d in range(1, 31)]
DELIVERY_DT = "2026-03-30"  # the last day: rejected lines land in a target day
PII = {"email": "email", "phone": "phone", "zip": "zip"}
SPEC = {
    "format": "csv",
    "columns": {
        "transaction_id": {"type": "string", "required": True},
        "store_id": {"type": "string"},
        "transaction_ts": {"type": "timestamp_tz", "required": True},
        "amount": {"type": "decimal", "precision": 12, "scale": 2},
        "currency": {"type": "string"},
        "sku": {"type": "string"},
        "quantity": {"type": "integer"},
        **{
            name: {"type": "string", "pii": {"policy": "sha256", "identifier": kind}}
            for name, kind in PII.items()
        },
    },
    "primary_key": ["transaction_id"],
    "partition": {"column": "transaction_ts", "lateness_days": 31},
}
CSV_TYPES = {
    "transaction_id": "VARCHAR",
    "store_id": "VARCHAR",
    "transaction_ts": "TIMESTAMPTZ",
    "amount": "DECIMAL(12,2)",
    "currency": "VARCHAR",
    "sku": "VARCHAR",
    "quantity": "INTEGER",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "zip": "VARCHAR",
}

# ~1% of rows re-send the previous transaction with a corrected amount (dedup has work to do),
# ~1 row in 100,000 has an amount that does not parse (quarantine has work to do). Customers
# (1M) repeat, as on real receipts; e-mails, phones and zips are written in mixed styles.
GENERATE_SQL = """
COPY (
WITH r AS (
  SELECT i, CASE WHEN i > 0 AND hash(i, 'dup') % 100 = 0 THEN i - 1 ELSE i END AS b
  FROM range({rows}) t(i)
), k AS (
  SELECT i, b, hash(b) AS h, hash(b, 'c') % 1000000 AS c, hash(i, 'a') AS ha FROM r
), v AS (
  SELECT i, h, c, ha,
    TIMESTAMP '{first_day}' + to_seconds((h % (30 * 86400))::BIGINT) AS utc,
    [-480, -300, -240, 0, 60, 330][1 + (hash(c, 'tz') % 6)::INT] AS off,
    upper(left(md5(b::VARCHAR), 16)) AS tid
  FROM k
)
SELECT
  'T' || tid AS transaction_id,
  'S' || lpad((h % 800)::VARCHAR, 4, '0') AS store_id,
  strftime(utc + to_minutes(off), '%Y-%m-%dT%H:%M:%S') || CASE WHEN off = 0 THEN 'Z' ELSE
    (CASE WHEN off < 0 THEN '-' ELSE '+' END) || lpad((abs(off) // 60)::VARCHAR, 2, '0') || ':'
    || lpad((abs(off) % 60)::VARCHAR, 2, '0') END AS transaction_ts,
  CASE WHEN ha % 100000 = 7 THEN 'n/a'
    ELSE printf('%.2f', (ha % 50000) / 100.0 + 0.5) END AS amount,
  ['USD', 'USD', 'USD', 'USD', 'EUR', 'GBP', 'CAD'][1 + (hash(c, 'cur') % 7)::INT] AS currency,
  'SKU-' || lpad(((h >> 8) % 50000)::VARCHAR, 6, '0') AS sku,
  (1 + (ha >> 20) % 5)::VARCHAR AS quantity,
  CASE (hash(c, 'ef') % 10)::INT WHEN 0 THEN ' ' ELSE '' END
    || ['john', 'mary', 'ahmed', 'li', 'sofia', 'ana', 'peter', 'olga', 'kenji',
        'fatima'][1 + (c % 10)::INT] || '.'
    || ['smith', 'garcia', 'chen', 'mueller', 'rossi', 'khan', 'tanaka', 'silva', 'novak',
        'dubois'][1 + ((c // 10) % 10)::INT]
    || (c // 100)::VARCHAR || '@'
    || CASE (hash(c, 'eu') % 5)::INT WHEN 0 THEN 'Example.COM'
       ELSE ['gmail.com', 'yahoo.com', 'outlook.com', 'icloud.com'][1 + (c % 4)::INT] END
    AS email,
  CASE (hash(c, 'pf') % 4)::INT
    WHEN 0 THEN '(' || (200 + c % 700)::VARCHAR || ') ' || (200 + (c // 7) % 700)::VARCHAR
      || '-' || lpad((c % 10000)::VARCHAR, 4, '0')
    WHEN 1 THEN (200 + c % 700)::VARCHAR || '-' || (200 + (c // 7) % 700)::VARCHAR || '-'
      || lpad((c % 10000)::VARCHAR, 4, '0')
    WHEN 2 THEN '+1 ' || (200 + c % 700)::VARCHAR || ' ' || (200 + (c // 7) % 700)::VARCHAR
      || ' ' || lpad((c % 10000)::VARCHAR, 4, '0')
    ELSE (200 + c % 700)::VARCHAR || (200 + (c // 7) % 700)::VARCHAR
      || lpad((c % 10000)::VARCHAR, 4, '0') END AS phone,
  lpad((c % 99000 + 501)::VARCHAR, 5, '0')
    || CASE WHEN c % 3 = 0 THEN '-' || lpad((c % 9999)::VARCHAR, 4, '0') ELSE '' END AS zip
FROM v ORDER BY i
) TO '{path}' (HEADER, DELIMITER ',')
"""


def generate(rows: int, path: Path) -> None:
    """Write the partner CSV (deterministic for a given row count)."""
    import duckdb

    tmp = path.with_suffix(".tmp")
    with duckdb.connect() as con:
        con.execute("SET threads=2")
        con.execute(
            GENERATE_SQL.format(rows=rows, first_day=FIRST_DAY, path=str(tmp).replace("'", "''"))
        )
    tmp.rename(path)


# --- the three contenders, each run in a child process -------------------------------------


def run_ours(csv_path: str, out: str, memory_limit: str, threads: int) -> dict:
    """The project's clean step, as the clean asset calls it."""
    import pyarrow as pa

    from adlake.config import DatasetConfig, EngineConfig
    from adlake.lake.storage import Lake
    from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions

    # pyarrow imports pandas (dev group only) on its first conversion of Python objects: do it
    # before the clock starts, as a long-lived Dagster process would have
    pa.array(["warm-up"])
    spec = DatasetConfig.model_validate(SPEC)
    lines = sum(chunk.count(b"\n") for chunk in _chunks(csv_path))
    item = CleanInput("d1", csv_path, DELIVERY_DT, "landing/pos/transactions/pos.csv", lines)
    engine = EngineConfig(memory_limit=memory_limit, threads=threads)
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    outcome = clean_partitions(
        Lake(out), DatasetRef("pos", "transactions", spec), [item], DAYS, {}, engine
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows_out": outcome.total("rows_out"),
        "duplicates": outcome.total("duplicates"),
        "quarantined": outcome.total("quarantined"),
        "out_bytes": sum(p.clean_bytes for p in outcome.partitions),
        "digest": _digest(out, [p.clean_path for p in outcome.partitions]),
    }


def run_floor(csv_path: str, out: str, memory_limit: str, threads: int) -> dict:
    """DuckDB read + cast + partitioned zstd write; no hashing, checks or dedup."""
    import duckdb

    columns = ", ".join(f"'{name}': '{kind}'" for name, kind in CSV_TYPES.items())
    select = ", ".join(CSV_TYPES) + ", strftime(CAST(transaction_ts AS DATE), '%Y-%m-%d') AS dt"
    with duckdb.connect() as con:
        con.execute(f"SET threads={threads}")
        con.execute("SET TimeZone='UTC'")
        start = time.perf_counter()
        con.execute(
            f"COPY (SELECT {select} FROM read_csv('{csv_path}', header=true, "
            f"columns={{{columns}}}, auto_detect=false, strict_mode=true, store_rejects=true)) "
            f"TO '{out}' (FORMAT parquet, PARTITION_BY (dt), COMPRESSION zstd)"
        )
        seconds = time.perf_counter() - start
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}/*/*.parquet')").fetchall()
    size = sum(p.stat().st_size for p in Path(out).rglob("*.parquet"))
    return {"seconds": seconds, "rows_out": rows[0][0], "out_bytes": size}


def run_baseline(csv_path: str, out: str, rows: int, chunk_rows: int = 250_000) -> dict:
    """Row-by-row pandas + hashlib: what a hand-written script would do."""
    import pandas as pd

    from adlake.config import PiiConfig
    from adlake.transform import pii

    configs = {name: PiiConfig(policy="sha256", identifier=kind) for name, kind in PII.items()}
    start = time.perf_counter()
    by_day: dict[str, list[pd.DataFrame]] = {}
    read = quarantined = 0
    for chunk in pd.read_csv(
        csv_path, dtype=str, keep_default_na=False, chunksize=chunk_rows, nrows=rows
    ):
        read += len(chunk)
        ts = pd.to_datetime(chunk["transaction_ts"], utc=True, errors="coerce", format="ISO8601")
        amount = pd.to_numeric(chunk["amount"], errors="coerce")
        quantity = pd.to_numeric(chunk["quantity"], errors="coerce")
        bad = ts.isna() | amount.isna() | quantity.isna() | (chunk["transaction_id"] == "")
        quarantined += int(bad.sum())
        good = ~bad
        frame = chunk[good].copy()
        frame["transaction_ts"] = ts[good]
        frame["amount"] = amount[good].round(2)
        frame["quantity"] = quantity[good].astype("int32")
        for name, config in configs.items():
            frame[name] = [pii.protect(value, config) for value in frame[name]]
        frame["_record"] = frame.index
        for day, part in frame.groupby(frame["transaction_ts"].dt.strftime("%Y-%m-%d")):
            by_day.setdefault(str(day), []).append(part)
    written = 0
    for day, parts in sorted(by_day.items()):
        frame = pd.concat(parts).sort_values("_record")
        frame = frame.drop_duplicates("transaction_id", keep="last").drop(columns="_record")
        folder = Path(out) / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / "data.parquet", compression="zstd", index=False)
        written += len(frame)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows_read": read, "rows_out": written, "quarantined": quarantined}


def _chunks(path: str, size: int = 1 << 24):
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def _digest(root: str, paths: list[str]) -> str:
    """SHA-256 over the names (relative to ``root``) and bytes of some files."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.encode() + b"\0")
        for chunk in _chunks(f"{root}/{path}"):
            digest.update(chunk)
    return digest.hexdigest()


def child(role: str, args: argparse.Namespace) -> None:
    """Entry point of a child process: run one contender, print its JSON result."""
    if role == "ours":
        result = run_ours(args.csv, args.out, args.memory_limit, args.threads)
    elif role == "floor":
        result = run_floor(args.csv, args.out, args.memory_limit, args.threads)
    else:
        result = run_baseline(args.csv, args.out, args.baseline_rows)
    print(json.dumps(result))


# --- the parent: run each contender in a subprocess and watch its memory ------------------


def measure(role: str, csv_path: Path, out: Path, args: argparse.Namespace) -> dict:
    """Run one contender in a child process; add its peak RSS (process tree, ~50 ms samples)."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--role", role, "--csv", str(csv_path),
        "--out", str(out), "--memory-limit", args.memory_limit, "--threads", str(args.threads),
        "--baseline-rows", str(args.baseline_rows or args.rows),
    ]  # fmt: skip
    run = run_watched(command, HERE.parent)
    if run.returncode:
        print(run.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{role} failed with exit code {run.returncode}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = run.peak_rss_mb
    result["process_seconds"] = run.seconds
    return result


def _best(runs: list[dict]) -> dict:
    """The fastest run, with the highest peak RSS of all runs and every run's time."""
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    best["all_seconds"] = [round(run["seconds"], 2) for run in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="CSV rows to generate")
    parser.add_argument(
        "--baseline-rows", type=int, default=None,
        help="measure the pandas baseline on the first N rows only and scale its rows/s "
        "(default: all rows)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the outputs in the work dir")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (gitignored)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the baseline")
    parser.add_argument("--skip-floor", action="store_true", help="do not run the floor")
    parser.add_argument(
        "--runs", type=int, default=2,
        help="runs of ours and of the floor, interleaved; the best time counts and ours' later "
        "runs re-run the same partitions to check the files are byte-identical (default 2)",
    )  # fmt: skip
    parser.add_argument("--memory-limit", default="768MB", help="EngineConfig.memory_limit")
    parser.add_argument("--threads", type=int, default=2, help="EngineConfig.threads")
    parser.add_argument("--role", choices=["ours", "floor", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        child(args.role, args)
        return

    args.work.mkdir(parents=True, exist_ok=True)
    csv_path = args.work / f"pos_{args.rows}_v{GENERATOR_VERSION}.csv"
    if csv_path.exists():
        print(f"reusing {csv_path}")
    else:
        print(f"generating {args.rows:,} rows -> {csv_path} ...", flush=True)
        generate(args.rows, csv_path)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"input: {args.rows:,} rows, {size_mb:,.0f} MB of CSV, 30 days, 3 PII columns")
    outputs = {name: args.work / f"out_{name}" for name in ("ours", "floor", "baseline")}
    for folder in outputs.values():
        shutil.rmtree(folder, ignore_errors=True)

    runs: dict[str, list[dict]] = {"floor": [], "ours": [], "baseline": []}
    plan = [role for _ in range(max(args.runs, 1)) for role in ("floor", "ours")]
    plan = [role for role in plan if not (role == "floor" and args.skip_floor)]
    plan += [] if args.skip_baseline else ["baseline"]
    for role in plan:
        print(f"running {role} ({len(runs[role]) + 1}) ...", flush=True)
        if role != "ours":  # ours re-runs over its own output: that is the identity check
            shutil.rmtree(outputs[role], ignore_errors=True)
        os.sync()  # the previous run's output is on disk, not being flushed during this one
        runs[role].append(measure(role, csv_path, outputs[role], args))
    identical = None
    if len(runs["ours"]) > 1:
        identical = len({run["digest"] for run in runs["ours"]}) == 1
    results = {role: _best(measured) for role, measured in runs.items() if measured}

    report = summarize(results, args, size_mb, identical)
    print_table(results, report, args)
    if not args.keep:
        for folder in outputs.values():
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(report))


def summarize(results: dict, args: argparse.Namespace, size_mb: float, identical) -> dict:
    """The figures of the run, as one flat dict (the final JSON line)."""
    ours = results["ours"]
    report: dict = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "ours_s": round(ours["seconds"], 2),
        "ours_rows_per_s": round(args.rows / ours["seconds"]),
        "ours_mb_per_s": round(size_mb / ours["seconds"], 1),
        "ours_peak_rss_mb": ours["peak_rss_mb"],
        "ours_rows_out": ours["rows_out"],
        "ours_duplicates": ours["duplicates"],
        "ours_quarantined": ours["quarantined"],
        "ours_out_mb": round(ours["out_bytes"] / 1e6, 1),
        "identical_rerun": identical,
        "memory_limit": args.memory_limit,
        "threads": args.threads,
    }
    report["ours_all_s"] = ours["all_seconds"]
    if "floor" in results:
        floor = results["floor"]
        report |= {
            "floor_s": round(floor["seconds"], 2),
            "floor_rows_per_s": round(args.rows / floor["seconds"]),
            "floor_peak_rss_mb": floor["peak_rss_mb"],
            "floor_all_s": floor["all_seconds"],
            "ratio_vs_floor": round(floor["seconds"] / ours["seconds"], 3),
        }
    if "baseline" in results:
        base = results["baseline"]
        rate = base["rows_read"] / base["seconds"]
        report |= {
            "baseline_s": round(base["seconds"], 2),
            "baseline_rows": base["rows_read"],
            "baseline_scaled": base["rows_read"] < args.rows,
            "baseline_rows_per_s": round(rate),
            "baseline_peak_rss_mb": base["peak_rss_mb"],
            "ratio_vs_baseline": round(args.rows / ours["seconds"] / rate, 2),
        }
    baseline_ratio, floor_ratio = report.get("ratio_vs_baseline"), report.get("ratio_vs_floor")
    report["targets"] = {
        "vs_baseline_ge_5x": None if baseline_ratio is None else baseline_ratio >= 5,
        "vs_floor_ge_0.6": None if floor_ratio is None else floor_ratio >= 0.6,
        "rss_lt_1GiB": ours["peak_rss_mb"] < 1024,
        "identical_rerun": identical,
    }
    return report


def print_table(results: dict, report: dict, args: argparse.Namespace) -> None:
    """A human-readable summary."""
    rows, size_mb = args.rows, report["csv_mb"]
    print(f"\n{'':10} {'seconds':>9} {'rows/s':>11} {'MB/s':>7} {'peak RSS':>10}  all runs (s)")
    for role in ("ours", "baseline", "floor"):
        if role not in results:
            continue
        result = results[role]
        measured = result.get("rows_read", rows)
        seconds = result["seconds"]
        note = ""
        if measured < rows:
            note = f"  (measured on {measured:,} rows, rows/s scaled)"
        print(
            f"{role:10} {seconds:9.2f} {measured / seconds:11,.0f} "
            f"{size_mb * measured / rows / seconds:7.1f} {result['peak_rss_mb']:8,} MB  "
            f"{', '.join(str(s) for s in result['all_seconds'])}{note}"
        )
    if "ratio_vs_baseline" in report:
        print(f"ours / baseline throughput: {report['ratio_vs_baseline']:.2f}x (target >= 5)")
    if "ratio_vs_floor" in report:
        print(f"ours / floor throughput:    {report['ratio_vs_floor']:.2f} (target >= 0.6)")
    print(f"ours peak RSS: {report['ours_peak_rss_mb']} MB (target < 1024)")
    if report["identical_rerun"] is not None:
        print(f"re-runs byte-identical: {report['identical_rerun']}")
    print("(best of the runs; peak RSS is the highest of them)")
    print(
        f"ours: {report['ours_rows_out']:,} rows out, {report['ours_duplicates']:,} duplicates "
        f"dropped, {report['ours_quarantined']:,} quarantined in the 30 days"
    )


if __name__ == "__main__":
    main()
