"""Throwaway servers for the docs' examples, each with sample data and a project that reads it.

``python -m adlake_tests.servers <kind>`` (kinds: ``postgres``, ``sftp``, ``s3``) starts the
server on a free loopback port, fills in its sample data, writes a project of one source that
reads it to ``.adlake/try/<kind>/adlake.yaml`` (its secrets in ``secrets.json`` beside it, its
lake and catalog in the same folder), prints one line starting with ``ready``, and serves until
Ctrl-C or SIGTERM. ``python -m adlake_tests.servers sql "<statements>"`` runs SQL on the
``postgres`` one, so a reader can make the changes change capture then picks up.

The sample days end yesterday (UTC), like ``adlake init``'s deliveries.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

TRY_FOLDER = Path(".adlake/try")
DAYS = 3
S3_KEY, S3_SECRET = "try-access-key", "try-secret-key"


def sample_days() -> list[date]:
    """The days of sample data: the last ``DAYS`` days up to yesterday, oldest first."""
    yesterday = datetime.now(tz=UTC).date() - timedelta(days=1)
    return [yesterday - timedelta(days=back) for back in reversed(range(DAYS))]


def write_project(folder: Path, sources: dict[str, Any], secrets: dict[str, str]) -> Path:
    """A project of these sources in ``folder``: adlake.yaml, secrets.json, lake and catalog."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "secrets.json").write_text(json.dumps(secrets, indent=2) + "\n")
    (folder / "secrets.json").chmod(0o600)
    document = {
        "lake": {"root": "lake"},
        "catalog": {"duckdb_path": "catalog.duckdb"},
        "secrets": {"file": "secrets.json"},
        "sources": sources,
    }
    config = folder / "adlake.yaml"
    header = "# written by python -m adlake_tests.servers; the docs show the same source\n"
    config.write_text(header + yaml.safe_dump(document, sort_keys=False))
    return config


# --- postgres: a shop database whose customers table is captured by logical decoding ---

CUSTOMER_COLUMNS = {
    "id": {"type": "bigint", "required": True},
    "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
    "tier": {"type": "string"},
    "points": {"type": "integer"},
}


def postgres_source() -> dict[str, Any]:
    """The ``shop_db`` source: table public.customers captured by CDC."""
    return {
        "kind": "postgres",
        "connection": "shop_db_url",
        "mode": "cdc",
        "interval_seconds": 30,
        "max_seconds_per_run": 10,
        "tables": {
            "customers": {
                "table": "public.customers",
                "primary_key": ["id"],
                "columns": CUSTOMER_COLUMNS,
            }
        },
    }


@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """PostgreSQL with logical decoding and a ``shop`` database of 20 customers."""
    from adlake_tests.servers.postgres import running_postgres

    with running_postgres() as server:
        admin = server.connect()
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("CREATE DATABASE shop")
        admin.close()
        url = server.dsn("shop")
        run_sql(
            url,
            "CREATE TABLE customers (id bigint PRIMARY KEY, email text, tier text, points int);"
            "INSERT INTO customers SELECT g, 'customer' || g || '@example.com',"
            " CASE WHEN g % 4 = 0 THEN 'gold' ELSE 'silver' END, g * 10"
            " FROM generate_series(1, 20) g",
        )
        write_project(folder, {"shop_db": postgres_source()}, {"shop_db_url": url})
        yield f"PostgreSQL on {server.host}:{server.port}, database shop (20 customers)"


def run_sql(url: str, statements: str) -> None:
    """Run ``statements`` (one string, ';'-separated) on the database at ``url``, committed."""
    import psycopg2

    connection = psycopg2.connect(url, connect_timeout=10)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statements)
    finally:
        connection.close()


# --- sftp: a partner's server with one CSV of orders per day ---


def orders_dataset(path: str, **remote: Any) -> dict[str, Any]:
    """The ``orders`` dataset: order id, a hashed e-mail and an amount, dated by file name."""
    return {
        "format": "csv",
        "remote": {"path": path, "include": ["orders_*.csv"], **remote},
        "columns": {
            "order_id": {"type": "string", "required": True},
            "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
            "amount": {"type": "decimal", "precision": 10, "scale": 2},
        },
        "primary_key": ["order_id"],
    }


def orders_csv(day: date) -> bytes:
    """Five orders of ``day``; the last day also has one amount that is not a number."""
    lines = ["order_id,email,amount"]
    lines += [
        f"{day:%b%d}-{n}".upper() + f",Buyer{n}@Example.com,{n * 12.5:.2f}" for n in range(1, 6)
    ]
    if day == sample_days()[-1]:
        lines.append(f"{day:%b%d}-6".upper() + ",late@example.com,n/a")
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def sftp(folder: Path) -> Iterator[str]:
    """An SFTP server whose /outbound holds orders_YYYYMMDD.csv for each sample day."""
    from adlake_tests.file_sources import sftp_source
    from adlake_tests.servers.sftp import running_sftp

    root = folder / "sftp-root"
    shutil.rmtree(root, ignore_errors=True)
    with running_sftp(root) as server:
        outbound = root / "outbound"
        outbound.mkdir(parents=True)
        for day in sample_days():
            (outbound / f"orders_{day:%Y%m%d}.csv").write_bytes(orders_csv(day))
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.known_hosts, folder / "known_hosts")
        source, secrets = sftp_source(server)
        source["known_hosts"] = "known_hosts"  # the copy beside adlake.yaml
        source["datasets"] = {
            "orders": orders_dataset(
                "/outbound", date_from="filename", filename_date_format="%Y%m%d"
            )
        }
        write_project(folder, {"partner": source}, secrets)
        yield f"SFTP on {server.host}:{server.port}, user {server.username}, {DAYS} files"


# --- s3: another account's bucket of gzip JSON-lines exports in dt= folders ---


def events_jsonl(day: date) -> bytes:
    """Four conversion events of ``day`` as gzip JSON lines."""
    rows = [
        {
            "event_id": f"{day:%b%d}-{n}".upper(),
            "email": f"Shopper{n}@Example.com",
            "value": n * 3.5,
        }
        for n in range(1, 5)
    ]
    return gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode())


def s3_source(endpoint: str) -> dict[str, Any]:
    """The ``partner_s3`` source: the exports/ prefix of bucket partner-exports."""
    return {
        "kind": "s3",
        "bucket": "partner-exports",
        "region": "us-east-1",
        "endpoint": endpoint,
        "access_key_id": "partner_s3_key_id",
        "secret_access_key": "partner_s3_secret",
        "datasets": {
            "conversions": {
                "format": "jsonl",
                "remote": {"path": "exports/", "date_from": "folder"},
                "columns": {
                    "event_id": {"type": "string", "required": True},
                    "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
                    "value": {"type": "double"},
                },
                "primary_key": ["event_id"],
            }
        },
    }


@contextmanager
def s3(folder: Path) -> Iterator[str]:
    """moto's S3 server with bucket partner-exports: exports/dt=<day>/part-0.jsonl.gz per day."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
        )
        client.create_bucket(Bucket="partner-exports")
        for day in sample_days():
            client.put_object(
                Bucket="partner-exports",
                Key=f"exports/dt={day.isoformat()}/part-0.jsonl.gz",
                Body=events_jsonl(day),
            )
        secrets = {"partner_s3_key_id": S3_KEY, "partner_s3_secret": S3_SECRET}
        write_project(folder, {"partner_s3": s3_source(endpoint)}, secrets)
        yield f"S3 (moto) on {endpoint}, bucket partner-exports, {DAYS} exports"
    finally:
        server.stop()


SERVERS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "postgres": postgres,
    "sftp": sftp,
    "s3": s3,
}


def serve(kind: str, folder: Path) -> None:
    """Run one server with its project until SIGINT or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with SERVERS[kind](folder) as what:
        print(f"ready: {what}; project {folder / 'adlake.yaml'} (Ctrl-C stops)", flush=True)
        stop.wait()
    print(f"stopped {kind}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """The command line: start a server, or run SQL on the postgres one."""
    parser = argparse.ArgumentParser(prog="python -m adlake_tests.servers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for kind in SERVERS:
        command = commands.add_parser(kind, help=f"start the {kind} server and its project")
        command.add_argument("--into", type=Path, default=TRY_FOLDER / kind)
    sql = commands.add_parser("sql", help="run SQL on the postgres server's shop database")
    sql.add_argument("statements")
    sql.add_argument("--into", type=Path, default=TRY_FOLDER / "postgres")
    args = parser.parse_args(argv)
    if args.command == "sql":
        secrets = args.into / "secrets.json"
        if not secrets.is_file():
            parser.error(f"{secrets} is missing: start `python -m adlake_tests.servers postgres`")
        run_sql(json.loads(secrets.read_text())["shop_db_url"], args.statements)
        return 0
    serve(args.command, args.into)
    return 0
