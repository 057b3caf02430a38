"""Batch extracts from real PostgreSQL 15 and MariaDB servers into Parquet: types, incremental
windows with overlap, query specs, and bounded memory on a 300k-row table."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adlake.connectors.rdbms import (
    RdbmsExtractError,
    TableSpec,
    extract_mysql,
    extract_postgres,
    write_parquet,
)
from adlake_tests.servers import MariaDbServer, PgServer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MEMORY_BOUND = 80_000_000
BIG_ROWS = 300_000


class Engine:
    """One database under test: run SQL in it and extract from it, the same way for both."""

    def __init__(
        self,
        run: Callable[[str], None],
        extract: Callable[..., Iterator[pa.RecordBatch]],
        local_timestamp: str,
    ) -> None:
        self.run = run
        self.extract = extract
        self.local_timestamp = local_timestamp  # the type of a timestamp without time zone


@pytest.fixture
def postgres(pg_server: PgServer, pg_database: str) -> Iterator[Engine]:
    connection = pg_server.connect(pg_database)
    connection.autocommit = True

    def run(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    def extract(spec: TableSpec, **options: Any) -> Iterator[pa.RecordBatch]:
        return extract_postgres(pg_server.dsn(pg_database), spec, **options)

    yield Engine(run, extract, "timestamp")
    connection.close()


@pytest.fixture
def mariadb(mariadb_server: MariaDbServer, mariadb_database: str) -> Iterator[Engine]:
    connection = mariadb_server.connect(mariadb_database, autocommit=True)

    def run(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    def extract(spec: TableSpec, **options: Any) -> Iterator[pa.RecordBatch]:
        server = mariadb_server
        return extract_mysql(
            server.host,
            server.port,
            server.user,
            server.password,
            mariadb_database,
            spec,
            **options,
        )

    yield Engine(run, extract, "datetime")
    connection.close()


@pytest.fixture(params=["postgres", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(request.param)


def table(name: str, **options: Any) -> TableSpec:
    return TableSpec(schema=None, table=name, query=None, primary_key=["id"], **options)


def round_trip(engine: Engine, spec: TableSpec, path: Path, **options: Any) -> pa.Table:
    result = write_parquet(engine.extract(spec, **options), path)
    written = pq.read_table(path)
    assert result.rows == written.num_rows and result.bytes == path.stat().st_size
    return written


def test_postgres_types_round_trip(postgres: Engine, tmp_path: Path) -> None:
    postgres.run("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    postgres.run(
        "CREATE TABLE kinds (id int PRIMARY KEY, i2 smallint, i8 bigint, n numeric(12,3),"
        " free numeric, wide numeric(50,10), f4 real, f8 double precision, b boolean, tx text,"
        " vc varchar(10), d date, ts timestamp, tstz timestamptz, j json, jb jsonb, ai int[],"
        " at text[], by bytea, m mood, u uuid)"
    )
    postgres.run(
        "INSERT INTO kinds VALUES (1, -2, 9007199254740993, 123456789.125, 1.5, 1.0000000001,"
        " 1.5, 2.25, true, 'é x', 'y', '2024-01-02', '2024-01-02 03:04:05.123456',"
        " '2024-01-02 03:04:05+02', '{\"a\": 1}', '{\"b\": 2}', '{1,2,NULL}', '{\"a\",NULL}',"
        " '\\x0102', 'happy', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), (2" + ", NULL" * 20 + ")"
    )
    written = round_trip(postgres, table("kinds"), tmp_path / "kinds.parquet")

    assert dict(zip(written.schema.names, written.schema.types, strict=True)) == {
        "id": pa.int32(),
        "i2": pa.int16(),
        "i8": pa.int64(),
        "n": pa.decimal128(12, 3),
        "free": pa.string(),  # unconstrained numeric: no fixed scale holds every value
        "wide": pa.decimal256(50, 10),
        "f4": pa.float32(),
        "f8": pa.float64(),
        "b": pa.bool_(),
        "tx": pa.string(),
        "vc": pa.string(),
        "d": pa.date32(),
        "ts": pa.timestamp("us"),
        "tstz": pa.timestamp("us", tz="UTC"),
        "j": pa.string(),
        "jb": pa.string(),
        "ai": pa.list_(pa.int32()),
        "at": pa.list_(pa.string()),
        "by": pa.binary(),
        "m": pa.string(),
        "u": pa.string(),
    }
    first, nulls = written.to_pylist()
    assert first == {
        "id": 1,
        "i2": -2,
        "i8": 9007199254740993,
        "n": Decimal("123456789.125"),
        "free": "1.5",
        "wide": Decimal("1.0000000001"),
        "f4": 1.5,
        "f8": 2.25,
        "b": True,
        "tx": "é x",
        "vc": "y",
        "d": date(2024, 1, 2),
        "ts": datetime(2024, 1, 2, 3, 4, 5, 123456),
        "tstz": datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
        "j": '{"a": 1}',
        "jb": '{"b": 2}',
        "ai": [1, 2, None],
        "at": ["a", None],
        "by": b"\x01\x02",
        "m": "happy",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    }
    assert nulls == {name: (2 if name == "id" else None) for name in written.schema.names}


def test_mariadb_types_round_trip(mariadb: Engine, tmp_path: Path) -> None:
    mariadb.run(
        "CREATE TABLE kinds (id int PRIMARY KEY, i1 tinyint, i8 bigint, u8 bigint unsigned,"
        " n decimal(12,3), wide decimal(50,10), f4 float, f8 double, b boolean, tx text,"
        " vc varchar(10), d date, dt datetime(6), ts timestamp(6) NULL, j json, bl blob,"
        " vb varbinary(10), m enum('sad','happy'), y year, tm time)"
    )
    mariadb.run("SET time_zone = '+02:00'")  # the extract reads TIMESTAMP in UTC whatever this is
    mariadb.run(
        "INSERT INTO kinds VALUES (1, -2, 9007199254740993, 18446744073709551615, 123456789.125,"
        " 1.0000000001, 1.5, 2.25, true, 'é x', 'y', '2024-01-02', '2024-01-02 03:04:05.123456',"
        " '2024-01-02 03:04:05', '{\"a\": 1}', x'0102', x'03', 'happy', 2024, '-30:00:01'),"
        " (2" + ", NULL" * 19 + ")"
    )
    written = round_trip(mariadb, table("kinds"), tmp_path / "kinds.parquet")

    assert dict(zip(written.schema.names, written.schema.types, strict=True)) == {
        "id": pa.int32(),
        "i1": pa.int8(),
        "i8": pa.int64(),
        "u8": pa.uint64(),
        "n": pa.decimal128(12, 3),
        "wide": pa.decimal256(50, 10),
        "f4": pa.float32(),
        "f8": pa.float64(),
        "b": pa.bool_(),
        "tx": pa.string(),
        "vc": pa.string(),
        "d": pa.date32(),
        "dt": pa.timestamp("us"),
        "ts": pa.timestamp("us", tz="UTC"),
        "j": pa.string(),
        "bl": pa.binary(),
        "vb": pa.binary(),
        "m": pa.string(),
        "y": pa.int16(),
        "tm": pa.duration("us"),
    }
    first, nulls = written.to_pylist()
    assert first == {
        "id": 1,
        "i1": -2,
        "i8": 9007199254740993,
        "u8": 18446744073709551615,
        "n": Decimal("123456789.125"),
        "wide": Decimal("1.0000000001"),
        "f4": 1.5,
        "f8": 2.25,
        "b": True,
        "tx": "é x",
        "vc": "y",
        "d": date(2024, 1, 2),
        "dt": datetime(2024, 1, 2, 3, 4, 5, 123456),
        "ts": datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
        "j": '{"a": 1}',
        "bl": b"\x01\x02",
        "vb": b"\x03",
        "m": "happy",
        "y": 2024,
        "tm": -timedelta(hours=30, seconds=1),
    }
    assert nulls == {name: (2 if name == "id" else None) for name in written.schema.names}


def events(engine: Engine, rows: int = 10) -> None:
    """``events``: one row a minute from T0, ids 1.., ``updated_at`` a timestamp (UTC)."""
    engine.run(
        "CREATE TABLE events (id int PRIMARY KEY,"
        f" updated_at {engine.local_timestamp}, v varchar(8))"
    )
    values = ", ".join(
        f"({i + 1}, '{(T0 + timedelta(minutes=i)).strftime('%Y-%m-%d %H:%M:%S')}', 'v{i % 3}')"
        for i in range(rows)
    )
    engine.run(f"INSERT INTO events VALUES {values}")  # noqa: S608 - generated test data


def test_full_then_incremental_with_overlap(engine: Engine, tmp_path: Path) -> None:
    events(engine)
    spec = table("events", incremental_column="updated_at")
    full = write_parquet(
        engine.extract(spec), tmp_path / "full.parquet", incremental_column="updated_at"
    )
    assert full.rows == 10
    watermark = full.max_incremental_value
    assert watermark == datetime(2026, 3, 1, 12, 9)  # a timestamp without zone stays naive

    engine.run("INSERT INTO events VALUES (11, '2026-03-01 12:10:00', 'new')")
    # a late commit just below the watermark: the overlap exists to catch it
    engine.run("INSERT INTO events VALUES (12, '2026-03-01 12:08:30', 'late')")
    path = tmp_path / "next.parquet"
    result = write_parquet(
        engine.extract(spec, since=watermark, overlap=timedelta(minutes=2)),
        path,
        incremental_column="updated_at",
    )
    rows = pq.read_table(path).to_pylist()
    # 12:07 and later: the overlap re-reads 12:07-12:09 and nothing older; ordered by the column
    assert [row["id"] for row in rows] == [8, 9, 12, 10, 11]
    assert result.rows == 5 and result.max_incremental_value == datetime(2026, 3, 1, 12, 10)

    by_id = table("events", incremental_column="id")
    assert [
        b["id"]
        for b in pa.Table.from_batches(engine.extract(by_id, since=10, overlap=1)).to_pylist()
    ] == [
        9,
        10,
        11,
        12,
    ]


def test_an_empty_incremental_extract_keeps_the_schema(engine: Engine, tmp_path: Path) -> None:
    events(engine)
    spec = table("events", incremental_column="id")
    result = write_parquet(
        engine.extract(spec, since=100), tmp_path / "e.parquet", incremental_column="id"
    )
    assert result.rows == 0 and result.max_incremental_value is None  # keep the old watermark
    assert pq.read_table(tmp_path / "e.parquet").schema.names == ["id", "updated_at", "v"]


def test_a_query_spec(engine: Engine, tmp_path: Path) -> None:
    events(engine)
    spec = TableSpec(
        schema=None,
        table=None,
        query="SELECT id, v FROM events WHERE v <> 'v0'",
        primary_key=["id"],
        incremental_column="id",
    )
    written = round_trip(engine, spec, tmp_path / "q.parquet", since=6, batch_rows=2)
    assert written.to_pylist() == [{"id": i, "v": f"v{(i - 1) % 3}"} for i in (6, 8, 9)]


def test_a_hostile_watermark_is_bound_not_formatted(engine: Engine) -> None:
    events(engine)
    spec = table("events", incremental_column="v")
    hostile = "v1'; DROP TABLE events; --"  # above v1, below v2
    rows = pa.Table.from_batches(engine.extract(spec, since=hostile)).to_pylist()
    assert {row["v"] for row in rows} == {"v2"}
    assert pa.Table.from_batches(engine.extract(table("events"))).num_rows == 10


def test_specs_are_checked() -> None:
    with pytest.raises(RdbmsExtractError, match="exactly one of table or query"):
        TableSpec(schema=None, table="t", query="SELECT 1", primary_key=[])
    with pytest.raises(RdbmsExtractError, match="needs an incremental_column"):
        next(extract_postgres("postgresql://nowhere", table("t"), since=1))


def big_table(engine: Engine, name: str) -> None:
    """BIG_ROWS rows of ~400 bytes: about 120 MB of Arrow data in all."""
    if name == "postgres":
        engine.run(
            "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 12) AS payload,"
            " now() AS at FROM generate_series(1, 300000) AS g"
        )
    else:
        engine.run(
            "CREATE TABLE big AS SELECT seq AS id, repeat(md5(seq), 12) AS payload,"
            " now() AS at FROM seq_1_to_300000"
        )


def rss_growth(batches: Iterator[pa.RecordBatch], keep: bool) -> tuple[int, int]:
    """Rows read and the peak growth of this process's RSS while reading them."""
    gc.collect()
    process = psutil.Process()
    base = peak = process.memory_info().rss
    kept, rows = [], 0
    for batch in batches:
        rows += batch.num_rows
        if keep:
            kept.append(batch)
        peak = max(peak, process.memory_info().rss)
    return rows, peak - base


@pytest.mark.parametrize("name", ["postgres", "mariadb"])
def test_memory_stays_bounded(name: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(name)
    big_table(engine, name)
    # warm up: Arrow's allocator and malloc keep the pages of the first batches once freed, a
    # constant cost of a process's first extract, not one that grows with the table
    warm_up = TableSpec(None, None, "SELECT * FROM big WHERE id <= 60000", primary_key=["id"])
    rss_growth(engine.extract(warm_up), keep=False)
    rows, growth = rss_growth(engine.extract(table("big")), keep=False)
    assert rows == BIG_ROWS
    assert growth < MEMORY_BOUND, f"{name}: RSS grew by {growth / 1e6:.0f} MB"
    # the same extract, its batches kept: the measure would see a buffered result
    rows, kept_growth = rss_growth(engine.extract(table("big")), keep=True)
    assert kept_growth > MEMORY_BOUND, (
        f"{name}: keeping every batch only grew RSS by {kept_growth / 1e6:.0f} MB"
    )
