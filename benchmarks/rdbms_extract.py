"""Relational-source benchmark: batch extract of a PostgreSQL table, and CDC changes applied.

Run with ``uv run python benchmarks/rdbms_extract.py`` (``--rows 5000000`` by default). It starts
a real PostgreSQL 15 (as the tests do), fills a table with ``generate_series``, then measures,
each in a fresh child process so peak RSS is its own:

- ours: ``adlake.connectors.rdbms.extract_postgres`` + ``write_parquet`` (ADBC record batches
  streamed to zstd Parquet);
- baseline: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` through psycopg2 into a file, the
  plain dump a script would do (no types, no Parquet);
- cdc: ``--changes`` updates (1,000 per transaction) captured from a pgoutput slot by
  ``adlake.databases.capture.capture`` into Parquet change batches in a lake folder, then
  applied by ``refresh_current_state`` (the code the CDC assets run); changes/s of each step.

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
        figures = _cdc(dsn, folder, changes)
        seconds = figures["capture_seconds"] + figures["apply_seconds"]
        return {**figures, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}


def _cdc(dsn: str, folder: str, changes: int) -> dict:
    """Capture ``changes`` updates (1,000 per transaction) and apply them: the production path.

    ``adlake.databases.capture.capture`` writes the change batches into a lake folder and saves
    the position; ``refresh_current_state`` applies them onto the current-state table.
    """
    import psycopg2

    from adlake.config import DatabaseSourceConfig, EngineConfig
    from adlake.databases.capture import capture
    from adlake.databases.connection import parse_database_url
    from adlake.databases.current_state import refresh_current_state
    from adlake.lake.storage import Lake

    config = DatabaseSourceConfig.model_validate(
        {
            "kind": "postgres",
            "connection": "bench",
            "mode": "cdc",
            "snapshot": False,
            "slot": "bench_slot",
            "max_changes_per_run": changes * 2,
            "max_seconds_per_run": 3600,
            "tables": {
                TABLE: {
                    "table": f"public.{TABLE}",
                    "primary_key": ["id"],
                    "columns": {
                        "id": {"type": "bigint"},
                        "customer": {"type": "string", "pii_scan": False},
                        "amount": {"type": "decimal", "precision": 12, "scale": 2},
                        "status": {"type": "string"},
                        "updated_at": {"type": "timestamp_tz"},
                    },
                }
            },
        }
    )
    url = parse_database_url(dsn, "postgres", "bench")
    lake = Lake(Path(folder) / "lake")
    capture(lake, "bench", config, url)  # creates the slot: changes from here on
    with psycopg2.connect(dsn) as con, con.cursor() as cur:
        for first in range(1, changes + 1, 1000):
            cur.execute(
                f"UPDATE {TABLE} SET status = 'refunded', updated_at = now() "
                "WHERE id BETWEEN %s AND %s",
                [first, min(first + 999, changes)],
            )
            con.commit()
    started = time.perf_counter()
    captured = capture(lake, "bench", config, url)
    capture_seconds = time.perf_counter() - started
    capture_rss = peak_rss_mb()
    spec = config.tables[TABLE].dataset()
    started = time.perf_counter()
    state = refresh_current_state(lake, "bench", TABLE, TABLE, spec, {}, EngineConfig())
    apply_seconds = time.perf_counter() - started
    read = sum(captured.changes.values())
    return {
        "rows": read,
        "capture_seconds": round(capture_seconds, 2),
        "apply_seconds": round(apply_seconds, 2),
        "captured_per_s": round(read / max(capture_seconds, 1e-9)),
        "capture_peak_rss_mb": round(capture_rss, 1),
        "applied_per_s": round(state.apply.changes / max(apply_seconds, 1e-9)),
    }


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
    cdc = results["cdc"]
    sys.stdout.write(
        f"     cdc: captured {cdc['captured_per_s']:,} changes/s, applied "
        f"{cdc['applied_per_s']:,} changes/s (peak RSS after capture "
        f"{cdc['capture_peak_rss_mb']:.1f} MB)\n"
    )
    ratio = results["ours"]["rows_per_s"] / results["baseline"]["rows_per_s"]
    sys.stdout.write(f"extract ours / COPY csv baseline: {ratio:.2f}x rows/s\n")
    summary = {"benchmark": "rdbms_extract", "rows": args.rows, **results}
    summary["ours_vs_baseline"] = round(ratio, 2)
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
