"""Batch extracts of real PostgreSQL 15 and MariaDB tables into the lake, their watermarks, and
the current-state table built from them: full and incremental, crashes, deletes, PII, retyping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adlake.config import DatasetConfig
from adlake.config.databases import DbTableConfig
from adlake.databases.batch import (
    BatchExtractError,
    decode_watermark,
    encode_watermark,
    extract_table,
    watermark_path,
)
from adlake.databases.connection import DatabaseUrl, parse_database_url
from adlake.databases.layout import extracts_prefix
from adlake.lake.storage import Lake
from adlake.transform.changes_apply import ApplyOutcome
from adlake.transform.extracts_apply import apply_extracts
from adlake_tests.servers import MariaDbServer, PgServer

SOURCE = "shop"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EMAIL = {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}}


@dataclass
class Db:
    """One database under test, the same way for both engines."""

    kind: str
    run: Callable[[str], None]
    url: DatabaseUrl
    schema: str  # the schema (PostgreSQL) or database (MariaDB) tables are created in
    timestamp: str  # DDL of the incremental timestamp column
    declared: str  # its declared type in adlake.yaml

    def at(self, minutes: int) -> str:
        """A SQL literal of 2026-03-01 12:00 UTC plus ``minutes``."""
        moment = datetime(2026, 3, 1, 12, 0) + timedelta(minutes=minutes)
        suffix = "+00" if self.kind == "postgres" else ""
        return f"'{moment:%Y-%m-%d %H:%M:%S}{suffix}'"

    def moment(self, minutes: int) -> datetime:
        """The value the watermark holds for :meth:`at` (aware on PostgreSQL only)."""
        moment = datetime(2026, 3, 1, 12, 0) + timedelta(minutes=minutes)
        return moment.replace(tzinfo=UTC) if self.kind == "postgres" else moment


@pytest.fixture
def postgres(pg_server: PgServer, pg_database: str) -> Iterator[Db]:
    connection = pg_server.connect(pg_database)
    connection.autocommit = True

    def run(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    url = parse_database_url(pg_server.dsn(pg_database), "postgres", "shop_db")
    yield Db("postgres", run, url, "public", "timestamptz", "timestamp_tz")
    connection.close()


@pytest.fixture
def mariadb(mariadb_server: MariaDbServer, mariadb_database: str) -> Iterator[Db]:
    connection = mariadb_server.connect(mariadb_database, autocommit=True)

    def run(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    server = mariadb_server
    text = f"mysql://{server.user}:{server.password}@{server.host}:{server.port}/{mariadb_database}"
    url = parse_database_url(text, "mysql", "shop_db")
    yield Db("mysql", run, url, mariadb_database, "DATETIME(6)", "timestamp")
    connection.close()


@pytest.fixture(params=["postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Db:
    return request.getfixturevalue(request.param)


@pytest.fixture
def store(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


def orders(db: Db, **options: Any) -> DbTableConfig:
    """The ``orders`` table of the tests: id, email (PII), qty, updated_at."""
    return DbTableConfig.model_validate(
        {
            "table": f"{db.schema}.orders",
            "columns": {
                "id": {"type": "bigint"},
                "email": EMAIL,
                "qty": {"type": "integer"},
                "updated_at": {"type": db.declared},
            },
            "primary_key": ["id"],
            **options,
        }
    )


def create_orders(db: Db, rows: list[tuple[int, str, int, int]]) -> None:
    """Create ``orders`` with rows (id, email, qty, minutes after 12:00)."""
    db.run(
        f"CREATE TABLE orders (id bigint PRIMARY KEY, email varchar(100), qty int, "
        f"updated_at {db.timestamp} NOT NULL)"
    )
    for row in rows:
        upsert(db, *row)


def upsert(db: Db, id_: int, email: str, qty: int, minutes: int) -> None:
    """Insert or replace one row of ``orders``."""
    db.run(f"DELETE FROM orders WHERE id = {id_}")
    db.run(f"INSERT INTO orders VALUES ({id_}, '{email}', {qty}, {db.at(minutes)})")


def extract_files(store: Lake) -> list[str]:
    return [f.path for f in store.list_files(extracts_prefix(SOURCE, "orders"))]


def saved_watermark(store: Lake) -> Any:
    path = watermark_path(SOURCE, "orders")
    if not store.exists(path):
        return None
    document = store.read_json(path)
    return decode_watermark(document["type"], document["value"])


def apply(
    store: Lake,
    table: DbTableConfig,
    incremental: bool,
    folder: Path,
    state: str | None = None,
    files: list[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[str, ApplyOutcome]:
    """Apply the extracts (default: all of them) and return the new state file."""
    listed = extract_files(store) if files is None else files
    pairs = [(ordinal, store.local_path(path)) for ordinal, path in enumerate(listed)]
    out = str(folder / f"state{len(list(folder.glob('state*')))}.parquet")
    outcome = apply_extracts(
        con or duckdb.connect(), table.dataset(), incremental, state, pairs, out
    )
    return out, outcome


def rows(state: str, columns: str = "id, qty") -> list[tuple]:
    return duckdb.sql(f"SELECT {columns} FROM read_parquet('{state}') ORDER BY id").fetchall()


def test_the_first_run_is_full_and_saves_the_watermark_after_the_file(db: Db, store: Lake) -> None:
    create_orders(db, [(1, "a@x.com", 1, 0), (2, "b@x.com", 2, 5)])

    outcome = extract_table(store, SOURCE, "orders", orders(db, incremental_column="updated_at"),
                            db.url, NOW)  # fmt: skip

    assert (outcome.mode, outcome.rows, outcome.since) == ("full", 2, None)
    assert outcome.path == f"raw/{SOURCE}/orders/extracts/20260302T080000000000Z_full.parquet"
    assert extract_files(store) == [outcome.path]
    assert pq.read_table(store.local_path(outcome.path)).num_rows == 2
    assert saved_watermark(store) == db.moment(5)
    assert outcome.watermark == db.moment(5).isoformat()
    assert outcome.bytes == Path(store.local_path(outcome.path)).stat().st_size


def test_a_table_without_incremental_column_is_always_full_and_keeps_no_watermark(
    db: Db, store: Lake
) -> None:
    create_orders(db, [(1, "a@x.com", 1, 0)])
    first = extract_table(store, SOURCE, "orders", orders(db), db.url, NOW)
    upsert(db, 2, "b@x.com", 2, 9)
    second = extract_table(store, SOURCE, "orders", orders(db), db.url, NOW + timedelta(hours=1))

    assert (first.mode, second.mode, second.rows) == ("full", "full", 2)
    assert second.watermark is None and saved_watermark(store) is None
    assert not store.exists(watermark_path(SOURCE, "orders"))


def test_an_incremental_extract_rereads_the_overlap_and_the_state_has_no_duplicates(
    db: Db, store: Lake, tmp_path: Path
) -> None:
    table = orders(db, incremental_column="updated_at", overlap=60)
    create_orders(db, [(1, "a@x.com", 1, 0), (2, "b@x.com", 2, 1), (3, "c@x.com", 3, 2)])
    extract_table(store, SOURCE, "orders", table, db.url, NOW)
    state, _ = apply(store, table, True, tmp_path)
    upsert(db, 4, "d@x.com", 4, 3)
    upsert(db, 1, "a@x.com", 10, 4)  # updated after the first extract

    second = extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=1))

    # from 12:02 minus 60 s: row 2 at 12:01 (the boundary) and row 3 at 12:02 come again
    assert (second.mode, second.since, second.rows) == ("incremental", db.moment(2).isoformat(), 4)
    ids = pq.read_table(store.local_path(second.path)).column("id").to_pylist()
    assert sorted(ids) == [1, 2, 3, 4]
    assert second.path.endswith("_incremental.parquet")
    assert saved_watermark(store) == db.moment(4)
    new_state, outcome = apply(store, table, True, tmp_path, state, extract_files(store)[1:])
    assert rows(new_state) == [(1, 10), (2, 2), (3, 3), (4, 4)]
    assert (outcome.rows, outcome.changes, outcome.rejected) == (4, 4, 0)
    # the same incremental extract applied again changes nothing
    again, _ = apply(store, table, True, tmp_path, new_state, extract_files(store)[1:])
    assert rows(again, "*") == rows(new_state, "*")


def test_the_watermark_advances_only_after_the_file_is_published(
    db: Db, store: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = orders(db, incremental_column="updated_at", overlap=30)
    create_orders(db, [(1, "a@x.com", 1, 0), (2, "b@x.com", 2, 5)])
    extract_table(store, SOURCE, "orders", table, db.url, NOW)
    document = store.read_bytes(watermark_path(SOURCE, "orders"))
    upsert(db, 3, "c@x.com", 3, 7)

    def fail(staged: str, path: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "publish", fail)
    with pytest.raises(BatchExtractError, match="watermark is unchanged: disk full"):
        extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=1))
    assert store.read_bytes(watermark_path(SOURCE, "orders")) == document
    assert len(extract_files(store)) == 1
    assert store.list_files("_tmp") == []
    monkeypatch.undo()

    retried = extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=2))

    # the retry starts where the failed run started: 12:05 minus 30 s, rows 2 and 3
    assert retried.since == db.moment(5).isoformat()
    ids = pq.read_table(store.local_path(retried.path)).column("id").to_pylist()
    assert sorted(ids) == [2, 3]
    assert saved_watermark(store) == db.moment(7)


def test_an_empty_extract_and_a_deleted_boundary_row_keep_the_watermark(
    db: Db, store: Lake
) -> None:
    table = orders(db, incremental_column="updated_at", overlap=600)
    create_orders(db, [(1, "a@x.com", 1, 0), (2, "b@x.com", 2, 5)])
    extract_table(store, SOURCE, "orders", table, db.url, NOW)
    db.run("DELETE FROM orders WHERE id = 2")

    rereads = extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=1))
    db.run("DELETE FROM orders")
    empty = extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=2))

    assert rereads.rows == 1 and empty.rows == 0
    assert rereads.watermark == empty.watermark == db.moment(5).isoformat()
    assert saved_watermark(store) == db.moment(5)


def test_a_row_deleted_at_the_source_disappears_after_a_full_re_extract(
    db: Db, store: Lake, tmp_path: Path
) -> None:
    table = orders(db)
    create_orders(db, [(1, "a@x.com", 1, 0), (2, "b@x.com", 2, 1), (3, "c@x.com", 3, 2)])
    extract_table(store, SOURCE, "orders", table, db.url, NOW)
    state, _ = apply(store, table, False, tmp_path)
    db.run("DELETE FROM orders WHERE id = 2")
    upsert(db, 3, "c@x.com", 30, 3)

    extract_table(store, SOURCE, "orders", table, db.url, NOW + timedelta(hours=1))
    new_state, outcome = apply(store, table, False, tmp_path, state)

    assert rows(state) == [(1, 1), (2, 2), (3, 3)]
    assert rows(new_state) == [(1, 1), (3, 30)]
    assert (outcome.rows, outcome.deletes, outcome.last_position) == (2, 1, 1)


def test_pii_is_hashed_in_the_state(db: Db, store: Lake, tmp_path: Path) -> None:
    create_orders(db, [(1, "  Alice@Example.COM ", 1, 0), (2, "not an email", 2, 1)])
    extract_table(store, SOURCE, "orders", orders(db), db.url, NOW)

    state, outcome = apply(store, orders(db), False, tmp_path)

    expected = hashlib.sha256(b"alice@example.com").hexdigest()
    assert rows(state, "id, email") == [(1, expected), (2, None)]
    assert pq.read_schema(state).field("email").type == pa.string()
    assert b"alice@example.com" not in Path(state).read_bytes().lower()
    assert outcome.problems == []


def test_a_column_retyped_dropped_or_added_at_the_source_is_reported(
    db: Db, store: Lake, tmp_path: Path
) -> None:
    table = DbTableConfig.model_validate(
        {
            "table": f"{db.schema}.orders",
            "columns": {
                "id": {"type": "bigint"},
                "qty": {"type": "integer"},
                "note": {"type": "string", "source": "remark"},
            },
            "primary_key": ["id"],
        }
    )
    db.run("CREATE TABLE orders (id bigint PRIMARY KEY, qty varchar(20), coupon varchar(20))")
    db.run("INSERT INTO orders VALUES (1, '5', 'X'), (2, 'many', NULL), (3, NULL, NULL)")
    extract_table(store, SOURCE, "orders", table, db.url, NOW)

    state, outcome = apply(store, table, False, tmp_path)

    assert rows(state, "id, qty, note") == [(1, 5, None), (2, None, None), (3, None, None)]
    assert outcome.rows == 3 and outcome.rejected == 0
    assert outcome.problems == [
        "column note: column remark is not in the source table (dropped or renamed?); it is "
        "NULL. Fix: remove it from adlake.yaml, or set its source",
        "the source table has undeclared column(s) coupon, not carried. Fix: declare them "
        "under columns in adlake.yaml to carry them",
        "column qty: 1 value(s) do not fit the declared type integer (INTEGER) and were read "
        "as NULL. Fix: the column was retyped at the source? update its type in adlake.yaml",
    ]


def test_a_failed_extract_names_the_table_hides_the_password_and_keeps_the_watermark(
    db: Db, store: Lake
) -> None:
    table = orders(db, incremental_column="updated_at")
    create_orders(db, [(1, "a@x.com", 1, 0)])
    extract_table(store, SOURCE, "orders", table, db.url, NOW)
    document = store.read_bytes(watermark_path(SOURCE, "orders"))
    missing = orders(db, incremental_column="updated_at").model_copy(
        update={"table": f"{db.schema}.gone"}
    )
    scheme = "postgresql" if db.kind == "postgres" else "mysql"
    secret = "Hunter2-secret"
    with_password = parse_database_url(
        f"{scheme}://{db.url.user}:{secret}@{db.url.host}:{db.url.port}/{db.url.database}_no",
        db.kind,
        "shop_db",
    )

    # a missing table; a database that does not exist (MariaDB: a wrong password for root)
    failures = []
    for config, url in ((missing, db.url), (table, with_password)):
        with pytest.raises(BatchExtractError) as raised:
            extract_table(store, SOURCE, "orders", config, url, NOW + timedelta(hours=1))
        failures.append(raised.value)

    assert f"{db.schema}.gone" in str(failures[0]) and "Fix:" in str(failures[0])
    for failure in failures:
        chain, error = [], failure
        while error is not None:
            chain.append(str(error))
            error = error.__cause__
        assert secret not in " ".join(chain)
        assert f"{SOURCE}.orders" in str(failure)
    assert store.read_bytes(watermark_path(SOURCE, "orders")) == document
    assert len(extract_files(store)) == 1


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC), "timestamp_tz"),
        (datetime(2026, 3, 1, 12, 0, 0, 5), "timestamp"),
        (date(2026, 3, 1), "date"),
        (9007199254740993, "int"),
        (Decimal("12345678901234567890.125"), "decimal"),
        ("2026-03-01", "str"),
    ],
)
def test_watermarks_round_trip_with_their_type(value: Any, kind: str) -> None:
    encoded = encode_watermark(value)
    decoded = decode_watermark(*encoded)
    assert encoded[0] == kind
    assert decoded == value and type(decoded) is type(value)
    assert getattr(decoded, "tzinfo", None) == getattr(value, "tzinfo", None)


SPEC = DatasetConfig.model_validate(
    {
        "format": "parquet",
        "columns": {
            "id": {"type": "integer"},
            "at": {"type": "timestamp_tz"},
            "amount": {"type": "decimal", "precision": 10, "scale": 2, "required": True},
        },
        "primary_key": ["id"],
    }
)


def test_rows_whose_key_or_required_value_is_missing_or_does_not_fit_are_rejected(
    tmp_path: Path,
) -> None:
    path = tmp_path / "extract.parquet"
    pq.write_table(
        pa.table(
            {
                "id": ["1", None, "seven", "4"],
                "at": pa.array([datetime(2026, 3, 1, 12)] * 4, pa.timestamp("us")),
                "amount": ["1.50", "2", "3", None],
            }
        ),
        path,
    )
    out = str(tmp_path / "state.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")

    outcome = apply_extracts(con, SPEC, True, None, [(7, str(path))], out)

    assert (outcome.rows, outcome.changes, outcome.rejected) == (1, 4, 3)
    assert outcome.problems[0].startswith("column id: 1 value(s) do not fit")
    assert "(extract, row: 7/1, 7/2, 7/3)" in outcome.problems[1]
    con.execute("SET TimeZone = 'UTC'")
    # a timestamp without zone in the extract is UTC, whatever the session's zone
    assert con.execute(
        f"SELECT id, CAST(\"at\" AS VARCHAR), _position, _seq FROM '{out}'"
    ).fetchall() == [(1, "2026-03-01 12:00:00+00", 7, 0)]


def test_without_extracts_the_old_state_is_kept(tmp_path: Path) -> None:
    first = tmp_path / "extract.parquet"
    pq.write_table(pa.table({"id": [1, 2], "at": [None, None], "amount": [1, 2]}), first)
    state, kept = str(tmp_path / "s1.parquet"), str(tmp_path / "s2.parquet")
    con = duckdb.connect()
    apply_extracts(con, SPEC, False, None, [(0, str(first))], state)

    for incremental in (False, True):
        outcome = apply_extracts(con, SPEC, incremental, state, [], kept)
        assert outcome.rows == 2 and outcome.changes == 0
        assert rows(kept, "*") == rows(state, "*")
