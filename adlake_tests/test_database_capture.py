"""CDC runs into the lake on real servers: snapshot, micro-batches, positions, current state."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from adlake.config import DatabaseSourceConfig, EngineConfig
from adlake.connectors.cdc.errors import CdcError
from adlake.databases.capture import CaptureState, capture
from adlake.databases.connection import DatabaseUrl, parse_database_url
from adlake.databases.current_state import refresh_current_state
from adlake.databases.layout import change_files
from adlake.lake.storage import Lake
from adlake_tests.servers.fixtures import unique_name
from adlake_tests.servers.mariadb import MariaDbServer
from adlake_tests.servers.postgres import PgServer

COLUMNS = {
    "id": {"type": "bigint", "required": True},
    "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
    "amount": {"type": "decimal", "precision": 12, "scale": 2},
    "created": {"type": "date"},
}
ENGINE = EngineConfig()


class Source:
    """One real database with an ``orders`` table, reachable by both tests and adlake."""

    def __init__(self, kind: str, url: DatabaseUrl, execute: Any, rows: Any) -> None:
        self.kind, self.url, self.execute, self.rows = kind, url, execute, rows

    def config(self, **overrides: Any) -> DatabaseSourceConfig:
        table = "public.orders" if self.kind == "postgres" else f"{self.url.database}.orders"
        return DatabaseSourceConfig.model_validate(
            {
                "kind": self.kind,
                "connection": "shop_db",
                "mode": "cdc",
                "slot": unique_name("slot"),
                "max_seconds_per_run": 20,
                "tables": {
                    "orders": {
                        "table": table,
                        "columns": COLUMNS,
                        "primary_key": ["id"],
                        "partition_column": "created",
                    }
                },
                **overrides,
            }
        )


@pytest.fixture(params=["postgres", "mysql"])
def source(request: pytest.FixtureRequest) -> Source:
    """The same orders table on PostgreSQL and on MariaDB."""
    if request.param == "postgres":
        server: PgServer = request.getfixturevalue("pg_server")
        database = request.getfixturevalue("pg_database")
        url = parse_database_url(server.dsn(database), "postgres", "shop_db")

        def execute(*statements: str) -> None:
            connection = server.connect(database)
            connection.autocommit = True
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            connection.close()

        def rows() -> list[tuple]:
            connection = server.connect(database)
            with connection.cursor() as cursor:
                cursor.execute("SELECT id, email, amount, created FROM orders ORDER BY id")
                found = cursor.fetchall()
            connection.close()
            return found

        execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, email text, amount numeric(12,2), "
            "created date)"
        )
        return Source("postgres", url, execute, rows)
    maria: MariaDbServer = request.getfixturevalue("mariadb_server")
    database = request.getfixturevalue("mariadb_database")
    url = parse_database_url(
        f"mysql://{maria.user}:{maria.password}@{maria.host}:{maria.port}/{database}",
        "mysql",
        "shop_db",
    )

    def execute_mysql(*statements: str) -> None:
        connection = maria.connect(database, autocommit=True)
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        connection.close()

    def rows_mysql() -> list[tuple]:
        connection = maria.connect(database)
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, email, amount, created FROM orders ORDER BY id")
            found = list(cursor.fetchall())
        connection.close()
        return found

    execute_mysql(
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, email VARCHAR(100), amount DECIMAL(12,2), "
        "created DATE) ENGINE=InnoDB"
    )
    return Source("mysql", url, execute_mysql, rows_mysql)


def clean_rows(lake: Lake) -> list[tuple]:
    """The published clean table, emails as 'hashed' markers, in id order."""
    glob = lake.local_path("clean/shop/orders") + "/dt=*/data.parquet"
    return duckdb.sql(
        f"SELECT id, CASE WHEN email IS NULL THEN NULL ELSE length(email) END, amount, "
        f"dt::DATE FROM read_parquet('{glob}', hive_partitioning=true) ORDER BY id"
    ).fetchall()


def expected(rows: list[tuple]) -> list[tuple]:
    return [(i, None if e is None else 64, Decimal(a), c) for i, e, a, c in rows]


def test_snapshot_then_micro_batches_give_the_source_table(source: Source, tmp_path: Path):
    lake = Lake(tmp_path / "lake")
    source.execute(
        "INSERT INTO orders VALUES (1, 'a@x.com', 1.50, '2026-03-01'), "
        "(2, 'b@x.com', 2.00, '2026-03-02'), (3, NULL, 3.00, '2026-03-02')"
    )
    config = source.config()
    first = capture(lake, "shop", config, source.url)
    assert first.snapshot and first.changes == {"orders": 3}
    assert [f.snapshot for f in change_files(lake, "shop", "orders")] == [True]
    state = refresh_current_state(
        lake, "shop", "orders", "orders", config.tables["orders"].dataset(), {}, ENGINE
    )
    assert state.rows == 3 and state.partitions == ["2026-03-01", "2026-03-02"]
    assert clean_rows(lake) == expected(source.rows())

    source.execute(
        "UPDATE orders SET amount = 9.99 WHERE id = 2",
        "DELETE FROM orders WHERE id = 1",
        "INSERT INTO orders VALUES (4, 'd@x.com', 4.00, '2026-03-04')",
        "UPDATE orders SET created = '2026-03-04' WHERE id = 3",
    )
    second = capture(lake, "shop", config, source.url)
    assert second.changes == {"orders": 4} and second.caught_up
    assert second.position > first.position
    assert second.lag_seconds == 0
    saved = CaptureState.load(lake, "shop")
    assert saved is not None and saved.position == second.position
    state = refresh_current_state(
        lake, "shop", "orders", "orders", config.tables["orders"].dataset(), {}, ENGINE
    )
    assert state.files_applied == 1 and state.removed_partitions == ["2026-03-01"]
    assert clean_rows(lake) == expected(source.rows())

    nothing = capture(lake, "shop", config, source.url)
    assert nothing.changes == {} and nothing.files == []
    again = refresh_current_state(
        lake, "shop", "orders", "orders", config.tables["orders"].dataset(), {}, ENGINE
    )
    assert again.files_applied == 0 and again.rows == 3


def test_a_crash_before_the_position_is_saved_replays_without_doubles(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch file is durable but the run dies before saving (and acknowledging) its position."""
    lake = Lake(tmp_path / "lake")
    config = source.config()
    capture(lake, "shop", config, source.url)
    source.execute(
        "INSERT INTO orders VALUES (7, 'g@x.com', 7.00, '2026-03-07')",
        "UPDATE orders SET amount = 8.00 WHERE id = 7",
    )
    real_save = CaptureState.save

    def crash(self: CaptureState, store: Lake, name: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(CaptureState, "save", crash)
    with pytest.raises(OSError, match="disk gone"):
        capture(lake, "shop", config, source.url)
    monkeypatch.setattr(CaptureState, "save", real_save)
    assert len(change_files(lake, "shop", "orders")) == 2  # snapshot + the unsaved batch

    replay = capture(lake, "shop", config, source.url)
    assert replay.skipped_replayed == 2 and replay.changes == {}
    assert len(change_files(lake, "shop", "orders")) == 2
    dataset = config.tables["orders"].dataset()
    refresh_current_state(lake, "shop", "orders", "orders", dataset, {}, ENGINE)
    assert clean_rows(lake) == expected(source.rows())


def test_a_truncate_stops_the_capture_with_what_to_do(source: Source, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    config = source.config()
    source.execute("INSERT INTO orders VALUES (1, 'a@x.com', 1.50, '2026-03-01')")
    capture(lake, "shop", config, source.url)
    source.execute("TRUNCATE TABLE orders")
    with pytest.raises(
        CdcError, match=r"TRUNCATE of .*orders.*delete state/shop/cdc/position.json"
    ):
        capture(lake, "shop", config, source.url)
    saved = CaptureState.load(lake, "shop")
    assert saved is not None and saved.changes_captured == 0  # nothing skipped past it


def test_writes_to_other_tables_do_not_hold_the_slot_back(
    pg_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    """Transactions of unpublished tables send nothing; the slot still moves past them."""
    connection = pg_server.connect(pg_database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, email text, amount "
            "numeric(12,2), created date)"
        )
        cursor.execute("CREATE TABLE audit (id serial PRIMARY KEY, note text)")
    url = parse_database_url(pg_server.dsn(pg_database), "postgres", "shop_db")
    source = Source("postgres", url, None, None)
    lake = Lake(tmp_path / "lake")
    config = source.config()
    capture(lake, "shop", config, url)
    with connection.cursor() as cursor:
        for _ in range(20):
            cursor.execute(
                "INSERT INTO audit (note) SELECT repeat('x', 200) FROM generate_series(1, 500)"
            )
    connection.close()
    idle = capture(lake, "shop", config, url)
    assert idle.changes == {} and idle.caught_up
    assert idle.position > idle.start_position
    assert idle.lag_bytes < 64 * 1024  # about 2 MB of WAL was written for audit


def test_a_long_catch_up_logs_its_progress_while_it_runs(source: Source, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    config = source.config()
    capture(lake, "shop", config, source.url)  # the (empty) snapshot
    for batch in range(5):  # 25,000 changes in 5 transactions: 3 read chunks of at most 10,000
        values = ", ".join(
            f"({n}, 'u{n}@x.com', 1.00, '2026-03-01')"
            for n in range(batch * 5000 + 1, batch * 5000 + 5001)
        )
        source.execute(f"INSERT INTO orders VALUES {values}")

    lines: list[str] = []
    outcome = capture(lake, "shop", config, source.url, log=lines.append, progress_every=0)

    assert outcome.changes == {"orders": 25_000} and outcome.caught_up
    progress = [line for line in lines if line.startswith("catching up: ")]
    counts = [int(line.split()[2].replace(",", "")) for line in progress]
    assert len(counts) >= 3 and counts == sorted(set(counts)) and counts[-1] == 25_000
    assert lines[-1].startswith("captured 25,000 change(s)")  # the result comes last

    quiet: list[str] = []
    source.execute("UPDATE orders SET amount = 2.00 WHERE id <= 10")
    capture(lake, "shop", config, source.url, log=quiet.append)  # seconds: no progress line
    assert [line for line in quiet if line.startswith("catching up: ")] == []
