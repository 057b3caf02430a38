"""Relational-source benchmark: batch extract of a PostgreSQL table, and CDC changes applied.

Run with ``uv run python benchmarks/rdbms_extract.py`` (``--rows 5000000`` by default). It starts
a real PostgreSQL 15 (as the tests do), fills a table with ``generate_series``, then measures,
each in a fresh child process so peak RSS is its own:

- ours: ``adlake.connectors.rdbms.extract_postgres`` + ``write_parquet`` (ADBC record batches
  streamed to zstd Parquet);
- baseline: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` through psycopg2 into a file, the
  plain dump a script would do (no types, no Parquet);
- cdc: ``PostgresChangeStream`` reading ``--changes`` updates from a pgoutput slot into Parquet
  change batches, then ``apply_changes`` onto the extracted state.

It prints rows/s and peak RSS for each, ours/baseline, and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TABLE = "bench_orders"
CREATE = """
CREATE TABLE bench_orders (
  id bigint PRIMARY KEY, customer text, amount numeric(12,2), status text,
  updated_at timestamptz
);
INSERT INTO bench_orders
SELECT i, 'customer-' || (i % 100000), (i % 100000) / 100.0,
       (ARRAY['new','paid','shipped'])[1 + i % 3],
       timestamptz '2026-01-01' + (i % 86400) * interval '1 second'
FROM generate_series(1, {rows}) AS i;
"""


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, dsn: str, folder: str, changes: int) -> dict:
    """One measurement in this fresh process."""
    started = time.perf_counter()
    if mode == "ours":
        from adlake.connectors.rdbms import TableSpec, extract_postgres, write_parquet

        spec = TableSpec(schema="public", table=TABLE, query=None, primary_key=["id"])
        result = write_parquet(extract_postgres(dsn, spec), Path(folder) / "ours.parquet")
        rows = result.rows
    elif mode == "baseline":
        import psycopg2

        with psycopg2.connect(dsn) as con, con.cursor() as cur:
            with open(Path(folder) / "baseline.csv", "w") as out:
                cur.copy_expert(f"COPY (SELECT * FROM {TABLE}) TO STDOUT (FORMAT csv)", out)
            cur.execute(f"SELECT count(*) FROM {TABLE}")
            rows = cur.fetchone()[0]
    else:
        rows = _cdc(dsn, folder, changes)
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _cdc(dsn: str, folder: str, changes: int) -> int:
    """Stream ``changes`` updates from the slot into change batches and apply them."""
    import duckdb
    import psycopg2

    from adlake.config import DatasetConfig
    from adlake.connectors.cdc.changes import ChangeBatchWriter
    from adlake.connectors.cdc.postgres import PostgresChangeStream, ensure_publication_and_slot
    from adlake.transform.changes_apply import apply_changes

    ensure_publication_and_slot(dsn, "bench_pub", "bench_slot", [f"public.{TABLE}"])
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        cur.execute(
            f"UPDATE {TABLE} SET status = 'refunded', updated_at = now() WHERE id <= %s",
            [changes],
        )
    batches: list[str] = []
    read = 0
    with PostgresChangeStream(dsn, "bench_pub", "bench_slot") as stream:
        while read < changes:
            batch = stream.read_batch(max_changes=100_000, max_seconds=5.0)
            if not batch:
                break
            path = Path(folder) / f"changes-{len(batches)}.parquet"
            with ChangeBatchWriter(path) as writer:
                writer.write(batch)
            batches.append(str(path))
            stream.acknowledge(batch[-1].position)
            read += len(batch)
    spec = DatasetConfig.model_validate(
        {
            "format": "parquet",
            "columns": {
                "id": {"type": "bigint"},
                "customer": {"type": "string", "pii_scan": False},
                "amount": {"type": "decimal", "precision": 12, "scale": 2},
                "status": {"type": "string"},
                "updated_at": {"type": "timestamp_tz"},
            },
            "primary_key": ["id"],
        }
    )
    apply_changes(duckdb.connect(), spec, TABLE, None, batches, str(Path(folder) / "state.parquet"))
    return read


def run_child(mode: str, dsn: str, folder: str, changes: int) -> dict:
    """:func:`child` in a fresh interpreter."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, dsn, folder, str(changes)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    """Fill the table, measure ours, the COPY baseline and CDC; print figures and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, dsn, folder, changes = args.child
        sys.stdout.write(json.dumps(child(mode, dsn, folder, int(changes))) + "\n")
        return

    from adlake_tests.servers import running_postgres

    results: dict[str, dict] = {}
    with running_postgres() as server, tempfile.TemporaryDirectory() as folder:
        with server.connect() as con, con.cursor() as cur:
            cur.execute(CREATE.format(rows=int(args.rows)))
        dsn = server.dsn()
        for mode in ("ours", "baseline", "cdc"):
            figures = run_child(mode, dsn, folder, args.changes)
            figures["rows_per_s"] = round(figures["rows"] / max(figures["seconds"], 1e-9))
            results[mode] = figures
            sys.stdout.write(
                f"{mode:>8}: {figures['rows']:>10,} rows in {figures['seconds']:7.2f} s, "
                f"{figures['rows_per_s']:>10,} rows/s, peak RSS {figures['peak_rss_mb']:7.1f} MB\n"
            )
    ratio = results["ours"]["rows_per_s"] / results["baseline"]["rows_per_s"]
    sys.stdout.write(f"extract ours / COPY csv baseline: {ratio:.2f}x rows/s\n")
    summary = {"benchmark": "rdbms_extract", "rows": args.rows, **results}
    summary["ours_vs_baseline"] = round(ratio, 2)
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
