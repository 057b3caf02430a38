"""PostgreSQL CDC: the pgoutput decoder, and slot, snapshot and stream against a real server."""

from __future__ import annotations

import json
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from adlake.connectors.cdc import postgres as pg
from adlake.connectors.cdc.changes import Change, ChangeBatchWriter
from adlake.connectors.cdc.errors import CdcError
from adlake.connectors.cdc.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Commit,
    Delete,
    Insert,
    Origin,
    PgOutputDecoder,
    Relation,
    Truncate,
    TypeInfo,
    Update,
    lsn_text,
    parse_lsn,
)
from adlake_tests.servers.postgres import PgServer

# captured from PostgreSQL 15 (pg_logical_slot_peek_binary_changes, proto_version 1) for
# CREATE TABLE t (id int primary key, name text, j json); INSERT (1,'a','[1]'), (2,NULL,NULL);
# UPDATE t SET id=3, name='c' WHERE id=2; UPDATE t SET name='z' WHERE id=1;
# DELETE FROM t WHERE id=1; TRUNCATE t
CAPTURED = [
    "420000000001505908000303ee744bef07000002d6",
    "52000040007075626c69630074006400030169640000000017ffffffff006e616d6500"
    "00000019ffffffff006a0000000072ffffffff",
    "49000040004e000374000000013174000000016174000000035b315d",
    "49000040004e00037400000001326e6e",
    "430000000000015059080000000001505938000303ee744bef07",
    "55000040004b00037400000001326e6e4e00037400000001337400000001636e",
    "55000040004e000374000000013174000000017a74000000035b315d",
    "44000040004b00037400000001316e6e",
    "54000000010000004000",
]


def test_decoder_reads_captured_messages() -> None:
    decoder = PgOutputDecoder()
    begin, relation, insert1, insert2, commit, key_update, update, delete, truncate = (
        decoder.decode(bytes.fromhex(message)) for message in CAPTURED
    )
    assert isinstance(begin, Begin) and begin.xid == 726 and begin.final_lsn == 22042888
    assert begin.commit_time.year == 2026 and begin.commit_time.tzinfo is not None
    assert isinstance(relation, Relation) and decoder.relations[16384] is relation
    assert (relation.schema_name, relation.table_name, relation.replica_identity) == (
        "public",
        "t",
        "d",
    )
    assert [(c.name, c.is_key, c.type_oid) for c in relation.columns] == [
        ("id", True, 23),
        ("name", False, 25),
        ("j", False, 114),
    ]
    assert relation.key_columns == ["id"]
    assert isinstance(insert1, Insert) and insert1.new == {"id": "1", "name": "a", "j": "[1]"}
    assert isinstance(insert2, Insert) and insert2.new == {"id": "2", "name": None, "j": None}
    assert isinstance(commit, Commit)
    assert (commit.commit_lsn, commit.end_lsn) == (22042888, 22042936)
    assert commit.commit_time == begin.commit_time
    assert isinstance(key_update, Update) and key_update.old_kind == "K"
    assert key_update.old == {"id": "2", "name": None, "j": None}
    assert key_update.new == {"id": "3", "name": "c", "j": None}
    assert isinstance(update, Update) and update.old is None
    assert isinstance(delete, Delete) and delete.old_kind == "K" and delete.old["id"] == "1"
    assert isinstance(truncate, Truncate) and truncate.relations == (relation,)
    assert not truncate.cascade and not truncate.restart_identity


def _string(text: str) -> bytes:
    return text.encode() + b"\0"


def test_decoder_origin_type_unchanged_toast_and_bad_input() -> None:
    decoder = PgOutputDecoder()
    origin = decoder.decode(b"O" + struct.pack("!Q", 0x1_0000_0010) + _string("upstream"))
    assert origin == Origin(0x1_0000_0010, "upstream")
    info = decoder.decode(b"Y" + struct.pack("!I", 90001) + _string("public") + _string("mood"))
    assert info == TypeInfo(90001, "public", "mood") and decoder.types[90001] == info
    decoder.decode(bytes.fromhex(CAPTURED[1]))
    toast = b"U" + struct.pack("!IcH", 16384, b"N", 3) + b"t" + struct.pack("!I", 1) + b"1un"
    message = decoder.decode(toast)
    assert isinstance(message, Update) and message.new["name"] is UNCHANGED_TOAST
    with pytest.raises(CdcError, match="relation 7 before its Relation"):
        decoder.decode(b"I" + struct.pack("!I", 7) + b"N\0\0")
    with pytest.raises(CdcError, match="unknown pgoutput message type 'Z'"):
        decoder.decode(b"Z")
    with pytest.raises(CdcError, match="truncated"):
        decoder.decode(bytes.fromhex(CAPTURED[2])[:-2])
    assert parse_lsn(lsn_text(0x1_0150_5908)) == 0x1_0150_5908 and lsn_text(22042888) == "0/1505908"


@dataclass
class Source:
    """A fresh database with a unique publication and slot name (the slot dropped after)."""

    server: PgServer
    database: str
    publication: str
    slot: str

    @property
    def dsn(self) -> str:
        return self.server.dsn(self.database)

    def execute(self, *statements: str) -> None:
        connection = self.server.connect(self.database)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def query(self, statement: str) -> list[tuple]:
        connection = self.server.connect(self.database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall()
        finally:
            connection.close()

    def stream(self) -> pg.PostgresChangeStream:
        return pg.PostgresChangeStream(self.dsn, self.publication, self.slot)


@pytest.fixture
def source(pg_server: PgServer, pg_database: str) -> Iterator[Source]:
    suffix = uuid.uuid4().hex[:10]
    found = Source(pg_server, pg_database, f"pub_{suffix}", f"slot_{suffix}")
    yield found
    pg.drop_slot(found.dsn, found.slot)


def read_all(stream: pg.PostgresChangeStream, expected: int, seconds: float = 10.0) -> list[Change]:
    """Read until ``expected`` changes arrived (or ``seconds`` passed)."""
    changes: list[Change] = []
    for _ in range(int(seconds / 0.5)):
        changes += stream.read_batch(max_changes=1000, max_seconds=0.5)
        if len(changes) >= expected:
            break
    return changes


TYPED = (
    "CREATE TABLE orders (id int PRIMARY KEY, email text, doc json, tags jsonb, "
    "ids bigint[], labels text[], amount numeric(12,2), at timestamptz, paid boolean)"
)


def test_stream_keeps_text_values_nulls_key_changes_and_deletes(source: Source) -> None:
    source.execute(TYPED)
    confirmed = pg.ensure_publication_and_slot(
        source.dsn, source.publication, source.slot, ["orders"]
    )
    assert (
        pg.ensure_publication_and_slot(
            source.dsn, source.publication, source.slot, ["public.orders"]
        )
        == confirmed
    )
    source.execute(
        "INSERT INTO orders VALUES (1, 'a@x.com', '{\"k\": [1, 2]}', '{\"b\": 1, \"a\": null}', "
        "'{1,2,3}', '{\"x y\",NULL}', 1234567890.5, '2026-03-01 10:00:00+02', true), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "UPDATE orders SET id = 20, email = 'b@x.com' WHERE id = 2",
        "UPDATE orders SET amount = 0.01 WHERE id = 1",
        "DELETE FROM orders WHERE id = 20",
    )
    with source.stream() as stream:
        changes = read_all(stream, 5)
        types = stream.column_types("public", "orders")
    assert [(c.op, c.seq) for c in changes] == [
        ("insert", 0),
        ("insert", 1),
        ("update", 0),
        ("update", 0),
        ("delete", 0),
    ]
    first = changes[0]
    assert first.row == {
        "id": "1",
        "email": "a@x.com",
        "doc": '{"k": [1, 2]}',
        "tags": '{"a": null, "b": 1}',
        "ids": "{1,2,3}",
        "labels": '{"x y",NULL}',
        "amount": "1234567890.50",
        "at": "2026-03-01 08:00:00+00",
        "paid": "t",
    }
    assert (first.schema_name, first.table_name) == ("public", "orders")
    assert changes[1].row == {"id": "2"} | {name: None for name in list(first.row)[1:]}
    assert changes[2].row["id"] == "20" and changes[2].key == {"id": "2"}
    assert changes[3].key is None and changes[3].row["amount"] == "0.01"
    assert changes[4].row == {"id": "20"} and changes[4].key is None
    positions = [c.position for c in changes]
    assert positions[0] == positions[1] < positions[2] < positions[3] < positions[4]
    assert all(c.commit_time is not None for c in changes)
    assert positions[0] > pg.parse_lsn(confirmed)
    assert types == {
        "id": "integer",
        "email": "text",
        "doc": "json",
        "tags": "jsonb",
        "ids": "bigint[]",
        "labels": "text[]",
        "amount": "numeric(12,2)",
        "at": "timestamp with time zone",
        "paid": "boolean",
    }


def test_unacknowledged_changes_replay_and_acknowledged_ones_do_not(source: Source) -> None:
    source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    pg.ensure_publication_and_slot(source.dsn, source.publication, source.slot, ["t"])
    source.execute("INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'b')")
    stream = source.stream()
    first = read_all(stream, 2)
    stream.close()  # a crash before the batch was durable: nothing acknowledged
    with source.stream() as stream:
        again = read_all(stream, 2)
        assert again == first and len(again) == 2
        stream.acknowledge(again[-1].position)
    confirmed, current, behind = pg.slot_lag(source.dsn, source.slot)
    assert (
        confirmed == again[-1].position and current >= confirmed and behind == current - confirmed
    )
    source.execute("INSERT INTO t VALUES (3, 'c')")
    with source.stream() as stream:
        later = read_all(stream, 1)
        assert [c.row for c in later] == [{"id": "3", "v": "c"}]
        # nothing else arrives: the acknowledged changes are gone for good
        assert stream.read_batch(max_changes=10, max_seconds=0.5) == []


def test_snapshot_and_stream_with_concurrent_writes_give_the_table(source: Source) -> None:
    source.execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)",
        "INSERT INTO t SELECT g, 0 FROM generate_series(1, 2000) g",
    )
    stop = threading.Event()
    written = threading.Event()

    def writer() -> None:
        connection = source.server.connect(source.database)
        connection.autocommit = True
        with connection.cursor() as cursor:
            step = 0
            while not stop.is_set():
                step += 1
                cursor.execute("INSERT INTO t VALUES (%s, %s)", (10_000 + step, step))
                cursor.execute("UPDATE t SET v = v + 1 WHERE id = %s", (1 + step % 2000,))
                cursor.execute("DELETE FROM t WHERE id = %s", (1 + (step * 7) % 2000,))
                if step == 50:
                    written.set()
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert written.wait(10)
        with pg.snapshot(
            source.dsn, source.publication, source.slot, ["t"], fetch_rows=500
        ) as snap:
            snapshot_rows = list(snap.changes())
            assert snap.column_types == {"public.t": {"id": "integer", "v": "integer"}}
            assert pg.lsn_text(snap.position) == snap.lsn
    finally:
        written.wait(10)
        stop.set()
        thread.join()
    assert {c.position for c in snapshot_rows} == {snap.position}
    state: dict[str, tuple[tuple[int, int], dict[str, Any] | None]] = {}

    def apply(change: Change) -> None:
        order = (change.position, change.seq)
        image = None if change.op == "delete" else change.row
        if change.key:  # a primary key change removes the old key
            state[change.key["id"]] = (order, None)
        current = state.get(change.row["id"])
        if current is None or current[0] <= order:
            state[change.row["id"]] = (order, image)

    for change in snapshot_rows:
        apply(change)
    streamed: list[Change] = []
    with source.stream() as stream:
        while batch := stream.read_batch(max_changes=5000, max_seconds=1.0):
            streamed += batch
    assert streamed, "writes after the consistent point must come from the slot"
    assert min(c.position for c in streamed) > snap.position
    for change in streamed:
        apply(change)
    expected = {str(i): {"id": str(i), "v": str(v)} for i, v in source.query("SELECT id, v FROM t")}
    assert {key: row for key, (_, row) in state.items() if row is not None} == expected


def test_toasted_value_an_update_did_not_touch_is_left_out(source: Source) -> None:
    source.execute("CREATE TABLE t (id int PRIMARY KEY, big text, v int)")
    pg.ensure_publication_and_slot(source.dsn, source.publication, source.slot, ["t"])
    source.execute(
        "INSERT INTO t SELECT 1, string_agg(md5(g::text), '') FROM generate_series(1, 500) g",
        "UPDATE t SET v = 5 WHERE id = 1",
    )
    with source.stream() as stream:
        insert, update = read_all(stream, 2)
    assert len(insert.row["big"]) == 16_000
    assert update.row == {"id": "1", "v": "5"}


def test_truncate_stops_the_stream_with_a_clear_error(source: Source) -> None:
    source.execute("CREATE TABLE t (id int PRIMARY KEY)")
    pg.ensure_publication_and_slot(source.dsn, source.publication, source.slot, ["t"])
    source.execute("INSERT INTO t VALUES (1)", "TRUNCATE t")
    with source.stream() as stream, pytest.raises(CdcError, match="TRUNCATE of public.t"):
        read_all(stream, 5, seconds=3)


def test_misuse_gets_clear_errors(source: Source) -> None:
    source.execute("CREATE TABLE t (id int PRIMARY KEY)", "CREATE TABLE u (id int PRIMARY KEY)")
    pg.ensure_publication_and_slot(source.dsn, source.publication, source.slot, ["t"])
    with pytest.raises(CdcError, match="publishes .* not"):
        pg.ensure_publication_and_slot(source.dsn, source.publication, "other", ["t", "u"])
    snapshot = pg.snapshot(source.dsn, source.publication, source.slot, ["t"])
    with pytest.raises(CdcError, match="already exists, so its snapshot is gone"):
        snapshot.__enter__()
    with pytest.raises(CdcError, match="not allowed"):
        pg.ensure_publication_and_slot(source.dsn, source.publication, "Bad-Name", ["t"])
    with pytest.raises(CdcError, match="does not exist"):
        pg.slot_lag(source.dsn, "missing_slot")


def test_a_batch_is_written_to_parquet_and_read_back(source: Source, tmp_path: Path) -> None:
    source.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    pg.ensure_publication_and_slot(source.dsn, source.publication, source.slot, ["t"])
    source.execute("INSERT INTO t VALUES (1, 'a'), (2, NULL)", "DELETE FROM t WHERE id = 1")
    path = tmp_path / "batch.parquet"
    with source.stream() as stream:
        changes = read_all(stream, 3)
        writer = ChangeBatchWriter(path)
        writer.write(changes)
        count, last = writer.close()
        assert last is not None
        stream.acknowledge(last)  # durable now
    assert count == 3 and last == changes[-1].position
    records = pq.read_table(path).to_pylist()
    assert [(r["op"], r["position"], r["seq"]) for r in records] == [
        (c.op, c.position, c.seq) for c in changes
    ]
    assert [json.loads(r["row"]) for r in records] == [c.row for c in changes]
    assert records[0]["commit_time"] == changes[0].commit_time
    assert pg.slot_lag(source.dsn, source.slot)[0] == last
