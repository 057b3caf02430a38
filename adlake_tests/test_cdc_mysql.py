"""MySQL/MariaDB binlog CDC against a real MariaDB: types, keys, resume, rotation, snapshot."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from adlake.connectors.cdc.changes import (
    Change,
    ChangeBatchWriter,
    binlog_coordinates,
    binlog_position,
)
from adlake.connectors.cdc.mysql import (
    BinlogLag,
    MySQLCdcError,
    MySQLChangeStream,
    check_server,
    current_gtid,
    current_position,
    lag,
    snapshot,
)
from adlake_tests.servers.mariadb import MariaDbServer

SERVER_IDS = itertools.count(random.randint(10_000, 1_000_000))
TYPES_TABLE = """CREATE TABLE t (
  id INT PRIMARY KEY, amount DECIMAL(12,2), at DATETIME(6), at0 DATETIME, ts TIMESTAMP NULL,
  day DATE, span TIME, doc JSON, blob_col BLOB, color ENUM('red','green'), tags SET('a','b','c'),
  ratio DOUBLE, name VARCHAR(40), big BIGINT UNSIGNED, flags BIT(4), yr YEAR
) ENGINE=InnoDB"""


def execute(server: MariaDbServer, database: str, *statements: str) -> None:
    """Run statements, each committed on its own (autocommit)."""
    connection = server.connect(database, autocommit=True)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def position_now(server: MariaDbServer) -> int:
    connection = server.connect()
    try:
        return current_position(connection)
    finally:
        connection.close()


def open_stream(
    server: MariaDbServer, database: str, start: int, **kwargs: Any
) -> MySQLChangeStream:
    """A stream with a server_id no other stream of this session uses."""
    if "tables" not in kwargs:
        kwargs["databases"] = [database]
    return MySQLChangeStream(
        server.host, server.port, server.user, server.password, next(SERVER_IDS), start, **kwargs
    )


def drain(stream: MySQLChangeStream) -> list[Change]:
    """Every change up to the current binlog end (stops at the first empty batch)."""
    changes: list[Change] = []
    while batch := stream.read_batch(max_changes=1000, max_seconds=0.3):
        changes.extend(batch)
    return changes


@pytest.fixture
def stream_factory(mariadb_server: MariaDbServer) -> Iterator[Any]:
    """Opens streams and closes them after the test."""
    opened: list[MySQLChangeStream] = []

    def factory(database: str, start: int, **kwargs: Any) -> MySQLChangeStream:
        opened.append(open_stream(mariadb_server, database, start, **kwargs))
        return opened[-1]

    yield factory
    for stream in opened:
        stream.close()


def test_check_server_passes_and_names_each_wrong_setting(
    mariadb_server: MariaDbServer, mariadb_database: str
) -> None:
    connection = mariadb_server.connect(autocommit=True)
    try:
        check_server(connection)
        assert (current_gtid(connection) or "").startswith("0-1-")  # CREATE DATABASE made one
        with connection.cursor() as cursor:
            cursor.execute("SET GLOBAL binlog_row_image = 'MINIMAL'")
            cursor.execute("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
            try:
                with pytest.raises(MySQLCdcError) as error:
                    check_server(connection)
            finally:
                cursor.execute("SET GLOBAL binlog_row_image = 'FULL'")
                cursor.execute("SET GLOBAL binlog_row_metadata = 'FULL'")
        message = str(error.value)
        assert "binlog_row_image is MINIMAL" in message
        assert "`binlog_row_image = FULL`" in message
        assert "`binlog_row_metadata = FULL`" in message
        assert "binlog_format" not in message
    finally:
        connection.close()


def test_inserts_updates_deletes_in_text_form(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(mariadb_server, mariadb_database, TYPES_TABLE)
    stream = stream_factory(mariadb_database, position_now(mariadb_server))
    execute(
        mariadb_server,
        mariadb_database,
        "INSERT INTO t VALUES (1, 1234.50, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05', "
        "'2024-01-02 03:04:05', '2024-01-02', '-01:02:03', '{\"a\": [1, 2.5, null]}', "
        "x'00ff10', 'green', 'c,a', 1.5, 'héllo', 18446744073709551615, b'0101', 2024)",
        "INSERT INTO t (id) VALUES (2)",
        "UPDATE t SET amount = -0.01, name = NULL WHERE id = 1",
        "DELETE FROM t WHERE id = 2",
    )
    changes = drain(stream)
    assert [(c.op, c.row["id"], c.seq, c.key) for c in changes] == [
        ("insert", "1", 0, None),
        ("insert", "2", 0, None),
        ("update", "1", 0, None),
        ("delete", "2", 0, None),
    ]
    assert changes[0].row == {
        "id": "1",
        "amount": "1234.50",
        "at": "2024-01-02 03:04:05.123456",
        "at0": "2024-01-02 03:04:05",
        "ts": "2024-01-02 03:04:05",
        "day": "2024-01-02",
        "span": "-01:02:03",
        "doc": '{"a": [1, 2.5, null]}',
        "blob_col": "00ff10",
        "color": "green",
        "tags": "a,c",
        "ratio": "1.5",
        "name": "héllo",
        "big": "18446744073709551615",
        "flags": "5",
        "yr": "2024",
    }
    assert set(changes[1].row.values()) == {"2", None}
    assert changes[2].row["amount"] == "-0.01" and changes[2].row["name"] is None
    assert changes[3].row["id"] == "2"
    positions = [c.position for c in changes]
    assert positions == sorted(set(positions))
    assert all(c.schema_name == mariadb_database and c.table_name == "t" for c in changes)
    assert all(c.commit_time is not None and c.commit_time.utcoffset() is not None for c in changes)
    # the snapshot gives the same text as the binlog for every type
    connection = mariadb_server.connect()
    try:
        _, rows = snapshot(connection, mariadb_database, ["t"])
        assert [c.row for c in rows] == [changes[2].row]
    finally:
        connection.close()


def test_primary_key_change_carries_the_old_key(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(
        mariadb_server,
        mariadb_database,
        "CREATE TABLE t (a INT, b INT, v TEXT, PRIMARY KEY (a, b))",
        "INSERT INTO t VALUES (1, 1, 'x'), (1, 2, 'y')",
    )
    stream = stream_factory(mariadb_database, position_now(mariadb_server))
    execute(
        mariadb_server,
        mariadb_database,
        "UPDATE t SET b = b + 10 WHERE a = 1",
        "UPDATE t SET v = 'z' WHERE b = 11",
    )
    changes = drain(stream)
    assert [(c.row, c.key, c.seq) for c in changes] == [
        ({"a": "1", "b": "11", "v": "x"}, {"a": "1", "b": "1"}, 0),
        ({"a": "1", "b": "12", "v": "y"}, {"a": "1", "b": "2"}, 1),
        ({"a": "1", "b": "11", "v": "z"}, None, 0),
    ]
    assert changes[0].position == changes[1].position < changes[2].position


def test_resume_replays_after_the_acknowledged_position_only(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(mariadb_server, mariadb_database, "CREATE TABLE t (id INT PRIMARY KEY)")
    start = position_now(mariadb_server)
    first = stream_factory(mariadb_database, start)
    execute(mariadb_server, mariadb_database, *(f"INSERT INTO t VALUES ({i})" for i in (1, 2)))
    batch = drain(first)
    first.acknowledge(batch[-1].position)
    execute(mariadb_server, mariadb_database, *(f"INSERT INTO t VALUES ({i})" for i in (3, 4)))
    unacknowledged = drain(first)  # read, then "crash" before it is durable
    first.close()
    assert [c.row["id"] for c in unacknowledged] == ["3", "4"]

    second = stream_factory(mariadb_database, first.acknowledged)
    replayed = drain(second)
    assert replayed == unacknowledged
    # a stream that has not acknowledged anything replays from its start
    assert [c.row["id"] for c in drain(stream_factory(mariadb_database, start))] == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_batches_end_at_commits_and_skip_other_tables(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(
        mariadb_server,
        mariadb_database,
        "CREATE TABLE t (id INT PRIMARY KEY)",
        "CREATE TABLE other (id INT PRIMARY KEY)",
    )
    stream = stream_factory(
        mariadb_database, position_now(mariadb_server), tables=[f"{mariadb_database}.t"]
    )
    connection = mariadb_server.connect(mariadb_database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (1), (2), (3)")
            cursor.execute("INSERT INTO other VALUES (1)")
            cursor.execute("INSERT INTO t VALUES (4), (5)")
        connection.commit()
    finally:
        connection.close()
    execute(mariadb_server, mariadb_database, "INSERT INTO t VALUES (6)")
    execute(mariadb_server, mariadb_database, "INSERT INTO other VALUES (2)")
    first = stream.read_batch(max_changes=2, max_seconds=5)
    assert [(c.row["id"], c.seq) for c in first] == [(str(i), i - 1) for i in range(1, 6)]
    assert len({c.position for c in first}) == 1
    second = stream.read_batch(max_changes=2, max_seconds=5)
    assert [c.row["id"] for c in second] == ["6"]
    assert drain(stream) == []
    # the position moved past the last transaction, which touched only the other table
    assert stream.position > second[-1].position
    assert stream.position == position_now(mariadb_server)


def test_binlog_rotation_mid_stream_loses_nothing(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(mariadb_server, mariadb_database, "CREATE TABLE t (id INT PRIMARY KEY)")
    start = position_now(mariadb_server)
    stream = stream_factory(mariadb_database, start)
    execute(mariadb_server, mariadb_database, "INSERT INTO t VALUES (1)", "FLUSH BINARY LOGS")
    execute(mariadb_server, mariadb_database, "INSERT INTO t VALUES (2)")
    assert [c.row["id"] for c in stream.read_batch(max_changes=1, max_seconds=5)] == ["1"]
    execute(mariadb_server, mariadb_database, "FLUSH BINARY LOGS", "INSERT INTO t VALUES (3)")
    rest = drain(stream)
    assert [c.row["id"] for c in rest] == ["2", "3"]
    files = [binlog_coordinates(c.position)[0] for c in rest]
    assert files[0] == binlog_coordinates(start)[0] + 1 and files[1] == files[0] + 1
    connection = mariadb_server.connect()
    try:
        assert lag(connection, current_position(connection)) == BinlogLag(0, 0)
        assert lag(connection, stream.position).files_behind == 0
        behind = lag(connection, start)
        assert behind.files_behind == 2 and behind.bytes_behind > 0
    finally:
        connection.close()


def apply_latest_wins(changes: list[Change], key: tuple[str, ...]) -> dict[tuple, dict]:
    """Current state from changes, by (position, seq): the way clean applies them."""
    state: dict[tuple, dict] = {}
    for change in sorted(changes, key=lambda c: (c.position, c.seq)):
        if change.key:
            state.pop(tuple(change.key[k] for k in key), None)
        row_key = tuple(change.row[k] for k in key)
        if change.op == "delete":
            state.pop(row_key, None)
        else:
            state[row_key] = change.row
    return state


def test_snapshot_and_stream_hand_over_without_gaps_or_doubles(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any
) -> None:
    execute(
        mariadb_server,
        mariadb_database,
        "CREATE TABLE t (id INT PRIMARY KEY, n INT, at DATETIME(3))",
        "INSERT INTO t VALUES " + ", ".join(f"({i}, 0, NOW(3))" for i in range(200)),
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        generator = random.Random(7)
        connection = mariadb_server.connect(mariadb_database, autocommit=True)
        try:
            with connection.cursor() as cursor:
                while not stop.is_set():
                    i = generator.randrange(300)
                    choice = generator.random()
                    if choice < 0.4:
                        cursor.execute("UPDATE t SET n = n + 1, at = NOW(3) WHERE id = %s", (i,))
                    elif choice < 0.6:
                        cursor.execute("DELETE FROM t WHERE id = %s", (i,))
                    elif choice < 0.8:
                        cursor.execute("UPDATE IGNORE t SET id = id + 300 WHERE id = %s", (i,))
                    else:
                        cursor.execute("REPLACE INTO t VALUES (%s, 1, NOW(3))", (i,))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        connection = mariadb_server.connect()
        try:
            position, rows = snapshot(connection, mariadb_database, ["t"])
            snapshot_rows = []
            for change in rows:  # writes go on while the snapshot streams
                snapshot_rows.append(change)
                if change.seq % 20 == 0:
                    time.sleep(0.01)
            stream = stream_factory(mariadb_database, position)
            streamed = stream.read_batch(max_changes=100, max_seconds=1)
        finally:
            connection.close()
    finally:
        stop.set()
        thread.join()
    assert not errors
    streamed += drain(stream)
    assert streamed and all(c.position > position for c in streamed)
    assert all(c.position == position and c.op == "insert" for c in snapshot_rows)
    state = apply_latest_wins(snapshot_rows + streamed, ("id",))

    connection = mariadb_server.connect(mariadb_database)
    try:
        _, rows = snapshot(connection, mariadb_database, ["t"])
        expected = {(c.row["id"],): c.row for c in rows}
    finally:
        connection.close()
    assert state == expected


def test_a_batch_written_with_the_batch_writer_reads_back(
    mariadb_server: MariaDbServer, mariadb_database: str, stream_factory: Any, tmp_path: Path
) -> None:
    execute(mariadb_server, mariadb_database, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
    stream = stream_factory(mariadb_database, position_now(mariadb_server))
    execute(
        mariadb_server,
        mariadb_database,
        "INSERT INTO t VALUES (1, 'a'), (2, NULL)",
        "UPDATE t SET id = 3 WHERE id = 1",
        "DELETE FROM t WHERE id = 2",
    )
    changes = drain(stream)
    path = tmp_path / "batch.parquet"
    with ChangeBatchWriter(path) as writer:
        writer.write(changes)
        count, last = writer.close()
    assert (count, last) == (4, changes[-1].position)
    stream.acknowledge(last)
    assert stream.acknowledged == last

    table = pq.read_table(path).to_pylist()
    assert [(r["op"], r["position"], r["seq"]) for r in table] == [
        (c.op, c.position, c.seq) for c in changes
    ]
    assert [json.loads(r["row"]) for r in table] == [c.row for c in changes]
    assert [r["key"] and json.loads(r["key"]) for r in table] == [None, None, {"id": "1"}, None]
    assert table[1]["row"] == '{"id": "2", "v": null}'
    assert all(r["commit_time"] == c.commit_time for r, c in zip(table, changes, strict=True))
    assert all(r["schema_name"] == mariadb_database for r in table)


def test_a_purged_position_and_an_empty_capture_fail_clearly(mariadb_server: MariaDbServer) -> None:
    with pytest.raises(MySQLCdcError, match="databases` or `tables"):
        open_stream(mariadb_server, "x", 4, tables=[])
    stream = open_stream(mariadb_server, "x", binlog_position("mysql-bin.000000", 4))
    with pytest.raises(MySQLCdcError, match="no longer on the server.*take a new snapshot"):
        stream.read_batch(max_seconds=0.1)
