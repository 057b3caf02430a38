"""CDC acceptance: 100k mixed changes, the consumer killed twice, nothing lost or doubled.

On each engine (PostgreSQL and MariaDB) a seeded ``orders`` table is snapshotted by a separate
consumer process (:mod:`adlake_tests.cdc_consumer`, which loops over the production
:func:`~adlake.databases.capture.capture`) while a writer thread applies 100,000 row changes in
transactions of 1 to 500 statements: single and multi-row inserts, updates (of values, of the
partition column, of key ranges, of the primary key itself), deletes, re-inserts of deleted keys,
and a few transactions rolled back. The consumer is killed with SIGKILL twice while changes flow
(once at a random moment of a run, once the instant it has published a raw change batch, before
or just after it saves its position) and started again each time. Once it has caught up, the
clean table must equal ``SELECT * FROM orders`` row for row and column for column, and the raw
change batches must hold every committed change exactly once.

A kill between saving the position and telling the PostgreSQL slot used to stall capture
(every later run re-read and skipped the same batch);
:func:`test_a_crash_between_saving_and_acknowledging_does_not_stall_postgres` holds that fixed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from adlake.config import DatabaseSourceConfig, EngineConfig
from adlake.connectors.cdc.postgres import PostgresChangeStream
from adlake.databases.capture import CaptureState, capture
from adlake.databases.connection import parse_database_url
from adlake.databases.current_state import NO_DATE, refresh_current_state
from adlake.databases.layout import capture_state_path, change_files
from adlake.lake.storage import Lake
from adlake.transform.pii import protect
from adlake_tests.servers.fixtures import unique_name

REPO = Path(__file__).resolve().parents[1]
SOURCE, DATASET, TABLE = "shop", "orders", "orders"
SEED_ROWS = 2_000
TOTAL_CHANGES = 100_000
KILL_AT = (0.30, 0.65)  # fractions of the writer's committed changes
WRITE_SECONDS = 12.0  # the writer spreads its changes over at least this long
TIMEOUT = 120.0
NAMES = [
    "Ann",
    "Zoë O'Brien",
    "José Núñez",
    "李雷",
    "emoji 🙂 ok",
    'say "hi"',
    "back\\slash",
    "tab\there",
    "",
]
FIELDS = ("id", "name", "email", "amount", "updated_at", "created", "version")
COLUMNS = {
    "id": {"type": "bigint", "required": True},
    "name": {"type": "string"},
    "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
    "amount": {"type": "decimal", "precision": 12, "scale": 2},
    "updated_at": {"type": "timestamp"},
    "created": {"type": "date"},
    "version": {"type": "integer", "required": True},
}
DDL = {
    "postgres": "CREATE TABLE orders (id bigint PRIMARY KEY, name text, email text, "
    "amount numeric(12,2), updated_at timestamp, created date, version integer NOT NULL)",
    "mysql": "CREATE TABLE orders (id BIGINT PRIMARY KEY, name VARCHAR(100), "
    "email VARCHAR(100), amount DECIMAL(12,2), updated_at DATETIME(6), created DATE, "
    "version INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
}


@dataclass
class Database:
    """One engine's ``orders`` table: how adlake reaches it and how the test writes to it."""

    kind: str
    url: str
    connect: Callable[[], Any]
    qualified: str

    def config(self, max_changes_per_run: int = 20_000) -> DatabaseSourceConfig:
        """The CDC source: moderate micro-batches, its own slot / replica server_id."""
        return DatabaseSourceConfig.model_validate(
            {
                "kind": self.kind,
                "connection": "shop_db",
                "mode": "cdc",
                "slot": unique_name("crash"),
                "server_id": random.randint(100_000, 4_000_000),
                "max_changes_per_run": max_changes_per_run,
                "max_seconds_per_run": 5,
                "tables": {
                    DATASET: {
                        "table": self.qualified,
                        "columns": COLUMNS,
                        "primary_key": ["id"],
                        "partition_column": "created",
                    }
                },
            }
        )

    def rows(self) -> list[tuple]:
        """``SELECT * FROM orders`` in key order."""
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {', '.join(FIELDS)} FROM orders ORDER BY id")
                return [tuple(row) for row in cursor.fetchall()]
        finally:
            connection.close()


class ConsumerStalled(AssertionError):
    """The consumer re-reads the same replayed changes run after run and never moves on."""


def open_database(request: pytest.FixtureRequest, kind: str) -> Database:
    """An empty ``orders`` table on PostgreSQL (``postgres``) or on MariaDB (``mysql``)."""
    if kind == "postgres":
        server = request.getfixturevalue("pg_server")
        name = request.getfixturevalue("pg_database")
        found = Database(
            "postgres", server.dsn(name), lambda: server.connect(name), "public.orders"
        )
    else:
        maria = request.getfixturevalue("mariadb_server")
        name = request.getfixturevalue("mariadb_database")
        found = Database(
            "mysql",
            f"mysql://{maria.user}:{maria.password}@{maria.host}:{maria.port}/{name}",
            lambda: maria.connect(name, charset="utf8mb4"),
            f"{name}.orders",
        )
    connection = found.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(DDL[found.kind])
        connection.commit()
    finally:
        connection.close()
    return found


@pytest.fixture(
    params=[
        "postgres",
        "mysql",
    ]
)
def database(request: pytest.FixtureRequest) -> Database:
    """An empty ``orders`` table on PostgreSQL or on MariaDB."""
    return open_database(request, request.param)


@dataclass
class Writer:
    """Applies random committed changes and counts the row changes each one made.

    The model (which keys exist, which were deleted) is what lets every statement hit rows
    that exist (or keys that do not); a rolled-back transaction restores it and counts nothing.
    """

    database: Database
    rng: random.Random
    live: list[int] = field(default_factory=list)
    where: dict[int, int] = field(default_factory=dict)  # key -> index in live
    deleted: list[int] = field(default_factory=list)
    next_id: int = 1
    counts: Counter = field(default_factory=Counter)  # committed row changes by operation
    statements: Counter = field(default_factory=Counter)  # committed statements by kind
    transactions: int = 0
    rolled_back: int = 0
    committed: int = 0  # committed row changes, read by the test while the writer runs
    error: BaseException | None = None
    stop: bool = False
    _pending: Counter = field(default_factory=Counter)  # row changes of the open transaction
    _kinds: Counter = field(default_factory=Counter)  # statements of the open transaction

    # -- the model ------------------------------------------------------------------------
    def _add(self, key: int) -> None:
        self.where[key] = len(self.live)
        self.live.append(key)

    def _remove(self, key: int) -> None:
        index = self.where.pop(key)
        last = self.live.pop()
        if last != key:
            self.live[index] = last
            self.where[last] = index

    def _fresh(self) -> int:
        key, self.next_id = self.next_id, self.next_id + 1
        return key

    def _pick(self, count: int) -> list[int]:
        return self.rng.sample(self.live, min(count, len(self.live)))

    # -- values ---------------------------------------------------------------------------
    def _values(self, key: int) -> tuple:
        rng = self.rng
        name = None if rng.random() < 0.1 else rng.choice([*NAMES, f"customer {key}"])
        roll = rng.random()
        if roll < 0.1:
            email = None
        elif roll < 0.14:
            email = rng.choice(["n/a", "", "   ", "no-at-sign.example.com"])
        else:
            email = f"{' ' * rng.randint(0, 2)}User.{key}@Example.COM{' ' * rng.randint(0, 1)}"
        amount = None if rng.random() < 0.05 else self._amount()
        return (key, name, email, amount, self._timestamp(), self._date(), 1)

    def _amount(self) -> Decimal:
        return Decimal(self.rng.randint(-1_000_000, 10**11)) / 100

    def _timestamp(self) -> datetime:
        micros = self.rng.choice([0, self.rng.randint(0, 999_999)])
        moment = datetime(2026, 1, 1) + timedelta(seconds=self.rng.randint(0, 86_400 * 90))
        return moment.replace(microsecond=micros)

    def _date(self) -> date | None:
        if self.rng.random() < 0.01:
            return None
        return date(2026, 3, 1) + timedelta(days=self.rng.randint(0, 29))

    # -- statements -----------------------------------------------------------------------
    def _insert(self, cursor: Any, keys: list[int]) -> None:
        rows = [self._values(key) for key in keys]
        marks = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        params = [value for row in rows for value in row]
        cursor.execute(f"INSERT INTO orders ({', '.join(FIELDS)}) VALUES {marks}", params)
        assert cursor.rowcount == len(keys)
        for key in keys:
            self._add(key)
        self._count("insert", len(keys))

    def _count(self, op: str, rows: int) -> None:
        self._pending[op] += rows

    def _statement(self, cursor: Any) -> None:
        """One random statement; its row changes go to the open transaction's counts."""
        rng = self.rng
        kind = rng.choices(
            [
                "insert",
                "insert_many",
                "reinsert",
                "update",
                "update_many",
                "update_partition",
                "update_range",
                "delete",
                "delete_many",
                "update_key",
            ],
            weights=[10, 10, 4, 22, 8, 8, 4, 11, 6, 3],
        )[0]
        if len(self.live) < 50 and kind.startswith(("update", "delete")):
            kind = "insert_many"
        if kind == "reinsert" and not self.deleted:
            kind = "insert"
        self._kinds[kind] += 1
        if kind == "insert":
            self._insert(cursor, [self._fresh()])
        elif kind == "insert_many":
            self._insert(cursor, [self._fresh() for _ in range(rng.randint(2, 12))])
        elif kind == "reinsert":
            count = min(len(self.deleted), rng.choice([1, 1, 1, 2, 5]))
            keys = [self.deleted.pop(rng.randrange(len(self.deleted))) for _ in range(count)]
            self._insert(cursor, keys)
        elif kind == "update":
            (key,) = self._pick(1)
            _, name, email, amount, moment, _, _ = self._values(key)
            cursor.execute(
                "UPDATE orders SET name = %s, email = %s, amount = %s, updated_at = %s, "
                "version = version + 1 WHERE id = %s",
                (name, email, amount, moment, key),
            )
            assert cursor.rowcount == 1
            self._count("update", 1)
        elif kind == "update_many":
            keys = self._pick(rng.randint(2, 30))
            marks = ", ".join(["%s"] * len(keys))
            cursor.execute(
                f"UPDATE orders SET amount = %s, version = version + 1 WHERE id IN ({marks})",
                (self._amount(), *keys),
            )
            assert cursor.rowcount == len(keys)
            self._count("update", len(keys))
        elif kind == "update_partition":
            (key,) = self._pick(1)
            cursor.execute(
                "UPDATE orders SET created = %s, updated_at = %s, version = version + 1 "
                "WHERE id = %s",
                (self._date(), self._timestamp(), key),
            )
            assert cursor.rowcount == 1
            self._count("update", 1)
        elif kind == "update_range":
            (low,) = self._pick(1)
            cursor.execute(
                "UPDATE orders SET created = %s, version = version + 1 WHERE id BETWEEN %s AND %s",
                (self._date(), low, low + rng.randint(0, 40)),
            )
            assert cursor.rowcount >= 1
            self._count("update", cursor.rowcount)
        elif kind in ("delete", "delete_many"):
            keys = self._pick(1 if kind == "delete" else rng.randint(2, 10))
            marks = ", ".join(["%s"] * len(keys))
            cursor.execute(f"DELETE FROM orders WHERE id IN ({marks})", keys)
            assert cursor.rowcount == len(keys)
            for key in keys:
                self._remove(key)
            self.deleted.extend(keys)
            self._count("delete", len(keys))
        else:  # a primary-key update: to a fresh key, or to a key deleted before
            (old,) = self._pick(1)
            new = self.deleted.pop() if self.deleted and rng.random() < 0.5 else self._fresh()
            cursor.execute("UPDATE orders SET id = %s WHERE id = %s", (new, old))
            assert cursor.rowcount == 1
            self._remove(old)
            self._add(new)
            self.deleted.append(old)
            self._count("update", 1)

    def _size(self) -> int:
        """Statements in the next transaction: mostly small, some up to 500."""
        roll = self.rng.random()
        if roll < 0.3:
            return 1
        if roll < 0.6:
            return self.rng.randint(2, 20)
        if roll < 0.9:
            return self.rng.randint(20, 150)
        return self.rng.randint(150, 500)

    def seed(self, rows: int) -> None:
        """Insert the rows the snapshot will hold (not counted as changes)."""
        connection = self.database.connect()
        try:
            with connection.cursor() as cursor:
                for start in range(0, rows, 500):
                    self._insert(cursor, [self._fresh() for _ in range(min(500, rows - start))])
            connection.commit()
        finally:
            connection.close()
        self._pending.clear()

    def run(self, total: int, seconds: float) -> None:
        """Commit at least ``total`` row changes, spread over at least ``seconds``."""
        connection = self.database.connect()
        started = time.monotonic()
        try:
            while self.committed < total and not self.stop:
                saved = (list(self.live), dict(self.where), list(self.deleted), self.next_id)
                self._pending, self._kinds = Counter(), Counter()
                with connection.cursor() as cursor:
                    for _ in range(self._size()):
                        self._statement(cursor)
                        if self.committed + sum(self._pending.values()) >= total:
                            break
                if self.rng.random() < 0.03:
                    connection.rollback()
                    self.live, self.where, self.deleted, self.next_id = saved
                    self.rolled_back += 1
                    continue
                connection.commit()
                self.transactions += 1
                self.counts.update(self._pending)
                self.statements.update(self._kinds)
                self.committed += sum(self._pending.values())
                ahead = started + seconds * self.committed / total - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            self.error = error
        finally:
            connection.close()


class Consumer:
    """The consumer subprocess: started, killed with SIGKILL, started again; its run records."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        self.folder = folder
        self.settings_file = folder / "consumer.json"
        self.settings_file.write_text(json.dumps(settings))
        self.process: subprocess.Popen | None = None
        self.incarnation = 0

    def start(self) -> None:
        """Start a new consumer process (its output goes to consumer-<n>.log/.err)."""
        self.incarnation += 1
        out = open(self.log(self.incarnation), "wb")  # noqa: SIM115 - the child owns it
        err = open(self.folder / f"consumer-{self.incarnation}.err", "wb")  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adlake_tests.cdc_consumer", str(self.settings_file)],
                cwd=REPO,
                stdout=out,
                stderr=err,
                env=os.environ.copy(),
            )
        finally:
            out.close()
            err.close()

    def kill(self) -> None:
        """SIGKILL the running consumer and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)
        self.process = None

    def log(self, incarnation: int) -> Path:
        """The stdout file of one incarnation."""
        return self.folder / f"consumer-{incarnation}.log"

    def runs(self, incarnation: int | None = None) -> list[dict[str, Any]]:
        """The finished runs an incarnation (default: the current one) printed."""
        path = self.log(incarnation or self.incarnation)
        text = path.read_text() if path.exists() else ""
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def all_runs(self) -> list[dict[str, Any]]:
        """The runs of every incarnation so far."""
        return [run for n in range(1, self.incarnation + 1) for run in self.runs(n)]

    def diagnostics(self) -> str:
        """The consumer's output, for a failure message."""
        parts = []
        for n in range(1, self.incarnation + 1):
            err = (self.folder / f"consumer-{n}.err").read_text()[-3000:]
            parts.append(f"--- consumer {n} stdout:\n{self.log(n).read_text()[-3000:]}")
            parts.append(f"--- consumer {n} stderr:\n{err}")
        return "\n".join(parts)

    def stalled(self, runs: int = 3) -> bool:
        """Whether the last ``runs`` runs all re-read only replayed changes and stayed put."""
        recent = self.runs()[-runs:]
        return len(recent) == runs and all(
            "error" not in run
            and run["changes"] == 0
            and run["skipped"] > 0
            and not run["caught_up"]
            and run["start_position"] == run["position"] == recent[0]["position"]
            for run in recent
        )

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        """Poll ``condition`` until it holds; fail with the consumer's output if it never does.

        Raises :class:`ConsumerStalled` as soon as the consumer shows it makes no progress.
        """
        deadline = time.monotonic() + timeout
        checked = time.monotonic()
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"the consumer exited while waiting for {what}\n{self.diagnostics()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.diagnostics()}")
            if time.monotonic() - checked > 0.25:
                checked = time.monotonic()
                if self.stalled():
                    raise ConsumerStalled(
                        f"while waiting for {what}, the consumer re-reads the same replayed "
                        f"changes on every run without moving on\n{self.diagnostics()}"
                    )
            time.sleep(0.002)


@pytest.fixture
def consumer(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Consumer]]:
    """Makes the consumer; it is always killed at the end of the test."""
    made: list[Consumer] = []

    def make(settings: dict[str, Any]) -> Consumer:
        made.append(Consumer(tmp_path, settings))
        return made[-1]

    try:
        yield make
    finally:
        for one in made:
            one.kill()


def raw_changes(lake: Lake) -> tuple[list[Any], dict[str, Any]]:
    """(the table's change batch files, their changes as columns) in position order."""
    files = change_files(lake, SOURCE, DATASET)
    columns: dict[str, list] = {"op": [], "position": [], "seq": [], "file": []}
    for found in files:
        table = pq.read_table(lake.local_path(found.path), columns=["op", "position", "seq"])
        columns["op"].extend(table.column("op").to_pylist())
        columns["position"].extend(table.column("position").to_pylist())
        columns["seq"].extend(table.column("seq").to_pylist())
        columns["file"].extend([found] * table.num_rows)
    return files, columns


def stream_change_count(lake: Lake) -> int:
    """How many streamed (not snapshot) changes raw holds now."""
    total = 0
    for found in change_files(lake, SOURCE, DATASET):
        if not found.snapshot:
            total += pq.ParquetFile(lake.local_path(found.path)).metadata.num_rows
    return total


def clean_rows(lake: Lake) -> list[tuple]:
    """The clean table in key order, each row with the dt of the file that holds it."""
    folder = lake.local_path(f"clean/{SOURCE}/{DATASET}")
    return duckdb.sql(
        f"SELECT {', '.join(FIELDS)}, regexp_extract(filename, 'dt=([0-9-]+)', 1) "
        f"FROM read_parquet('{folder}/dt=*/data.parquet', hive_partitioning=false, "
        "filename=true) ORDER BY id"
    ).fetchall()


def expected_rows(rows: list[tuple], config: DatabaseSourceConfig) -> list[tuple]:
    """Source rows as clean holds them: the e-mail as SHA-256 of its normalized form."""
    email = config.tables[DATASET].columns["email"].pii
    assert email is not None
    return [(i, n, protect(e, email), a, u, c, v) for i, n, e, a, u, c, v in rows]


def describe_difference(clean: list[tuple], source: list[tuple]) -> str:
    """Which keys are missing, extra or different between clean and the source."""
    by_clean, by_source = {r[0]: r for r in clean}, {r[0]: r for r in source}
    missing = sorted(set(by_source) - set(by_clean))
    extra = sorted(set(by_clean) - set(by_source))
    different = [k for k in sorted(set(by_clean) & set(by_source)) if by_clean[k] != by_source[k]]
    lines = [
        f"{len(clean)} clean rows, {len(source)} source rows; {len(missing)} missing "
        f"{missing[:20]}, {len(extra)} extra {extra[:20]}, {len(different)} different"
    ]
    for key in different[:10]:
        lines.append(f"  id {key}: clean {by_clean[key]} != source {by_source[key]}")
    return "\n".join(lines)


def test_100k_changes_with_two_consumer_kills_give_the_source_table(
    database: Database, tmp_path: Path, consumer: Callable[[dict[str, Any]], Consumer]
) -> None:
    """Snapshot, 100k changes with two SIGKILLs of the consumer, then raw and clean checked."""
    began = time.monotonic()
    lake = Lake(tmp_path / "lake")
    config = database.config()
    url = parse_database_url(database.url, database.kind, "shop_db")
    writer = Writer(database, random.Random())
    writer.seed(SEED_ROWS)

    cdc = consumer(
        {
            "lake": str(lake.root),
            "source": SOURCE,
            "url": database.url,
            "config": config.model_dump(mode="json"),
        }
    )
    cdc.start()
    cdc.wait_for("the snapshot", lambda: lake.exists(capture_state_path(SOURCE)))
    snapshot = CaptureState.load(lake, SOURCE)
    assert snapshot is not None and snapshot.snapshot_position == snapshot.position

    thread = threading.Thread(target=writer.run, args=(TOTAL_CHANGES, WRITE_SECONDS))
    thread.start()
    kills: list[dict[str, Any]] = []
    both_kills = False
    try:
        # kill 1: at a random moment of a run streaming the writer's changes
        cdc.wait_for("30% of the changes", lambda: writer.committed >= KILL_AT[0] * TOTAL_CHANGES)
        time.sleep(random.uniform(0.0, 0.5))  # the snapshot run streams on after the snapshot
        kills.append(kill(cdc, lake, writer, "mid-run"))
        cdc.start()
        # kill 2: the instant the new consumer has published a raw change batch
        cdc.wait_for("65% of the changes", lambda: writer.committed >= KILL_AT[1] * TOTAL_CHANGES)
        folder = lake.local_path(f"raw/{SOURCE}/{DATASET}/changes")
        before = set(os.listdir(folder))
        cdc.wait_for("a new raw change batch", lambda: bool(set(os.listdir(folder)) - before))
        kills.append(kill(cdc, lake, writer, "after a batch was published"))
        cdc.start()
        both_kills = True
    finally:
        writer.stop = not both_kills
        thread.join(timeout=TIMEOUT)
    assert not thread.is_alive(), "the writer did not finish"
    if writer.error is not None:
        raise writer.error
    assert writer.committed >= TOTAL_CHANGES and len(kills) == 2
    written = time.monotonic()

    # let the restarted consumer catch up: a run that began after the writer's last commit
    finished_runs = len(cdc.runs())
    cdc.wait_for(
        "the consumer to catch up",
        lambda: any(
            r.get("changes") == 0 and r.get("caught_up") for r in cdc.runs()[finished_runs + 1 :]
        ),
    )
    cdc.kill()
    caught_up = time.monotonic()
    runs = cdc.all_runs()
    errors = [r for r in runs if "error" in r]
    assert not errors, f"consumer runs failed: {errors}\n{cdc.diagnostics()}"

    last = capture(lake, SOURCE, config, url)
    assert last.changes == {} and last.caught_up

    # raw: the snapshot, then every committed change exactly once, batches not overlapping
    files, changes = raw_changes(lake)
    snapshots = [f for f in files if f.snapshot]
    assert len(snapshots) == 1 and snapshots[0].last == snapshot.position
    stream = [i for i, f in enumerate(changes["file"]) if not f.snapshot]
    assert len(changes["op"]) - len(stream) == SEED_ROWS
    pairs = Counter((changes["position"][i], changes["seq"][i]) for i in stream)
    doubled = {pair: n for pair, n in pairs.items() if n > 1}
    assert not doubled, f"{len(doubled)} change(s) held twice in raw: {list(doubled)[:10]}"
    assert min(changes["position"][i] for i in stream) > snapshot.position
    batches = [f for f in files if not f.snapshot]
    overlapping = [
        (a.path, b.path) for a, b in zip(batches, batches[1:], strict=False) if b.first <= a.last
    ]
    assert not overlapping, f"raw change batches overlap: {overlapping[:5]}"
    captured_ops = Counter(changes["op"][i] for i in stream)
    assert len(stream) == writer.committed, (
        f"raw holds {len(stream):,} changes, the writer committed {writer.committed:,} "
        f"({dict(captured_ops)} vs {dict(writer.counts)})"
    )
    assert captured_ops == writer.counts

    # clean: the source table, row for row, every column
    dataset = config.tables[DATASET].dataset()
    state = refresh_current_state(lake, SOURCE, DATASET, TABLE, dataset, {}, EngineConfig())
    assert state.apply.rejected == 0 and state.published and not state.clear_pii
    source_rows = database.rows()
    clean = clean_rows(lake)
    keys = Counter(row[0] for row in clean)
    assert not [k for k, n in keys.items() if n > 1], "a key is in clean twice"
    wrong_day = [r for r in clean if r[-1] != (r[5].isoformat() if r[5] else NO_DATE)]
    assert not wrong_day, f"rows in the wrong dt partition: {wrong_day[:5]}"
    clean = [row[:-1] for row in clean]
    expected = expected_rows(source_rows, config)
    assert clean == expected, describe_difference(clean, expected)
    assert state.rows == len(source_rows)

    # at least one kill interrupted the consumer with committed changes it had not yet saved
    assert any(k["backlog"] > 0 for k in kills), kills
    print(
        f"\n{database.kind}: {writer.committed:,} changes ({dict(writer.counts)}) in "
        f"{writer.transactions} transactions (+{writer.rolled_back} rolled back), statements "
        f"{dict(writer.statements)}; kills {kills}; {len(runs)} consumer runs, "
        f"{len(batches)} raw batches, {sum(r.get('skipped', 0) for r in runs):,} replayed "
        f"changes skipped (+{last.skipped_replayed} in the last run); {len(source_rows):,} "
        f"rows; write {written - began:.1f}s, "
        f"catch-up {caught_up - written:.1f}s, total {time.monotonic() - began:.1f}s"
    )


def kill(cdc: Consumer, lake: Lake, writer: Writer, moment: str) -> dict[str, Any]:
    """SIGKILL the consumer; what it had saved and how much committed work it had not."""
    committed = writer.committed
    runs = len(cdc.runs())
    cdc.kill()
    state = CaptureState.load(lake, SOURCE)
    durable = stream_change_count(lake)
    newest = max((f.last for f in change_files(lake, SOURCE, DATASET)), default=None)
    return {
        "moment": moment,
        "runs_finished": runs,
        "committed": committed,
        "backlog": committed - durable,
        "saved_behind_raw": state is not None and newest is not None and state.position < newest,
    }


def test_a_crash_between_saving_and_acknowledging_does_not_stall_postgres(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash test's stall, made deterministic: the run dies right after saving its position."""
    database = open_database(request, "postgres")
    config = database.config(max_changes_per_run=50)
    url = parse_database_url(database.url, database.kind, "shop_db")
    lake = Lake(tmp_path / "lake")
    capture(lake, SOURCE, config, url)  # the snapshot of the empty table
    connection = database.connect()
    connection.autocommit = True
    with connection.cursor() as cursor:
        for key in range(1, 201):  # 200 one-row transactions: a run reads 50 of them
            cursor.execute("INSERT INTO orders (id, version) VALUES (%s, 1)", (key,))
    connection.close()

    def die(self: PostgresChangeStream, position: int) -> None:
        raise OSError("killed after saving the position, before acknowledging it")

    with monkeypatch.context() as patched:
        patched.setattr(PostgresChangeStream, "acknowledge", die)
        with pytest.raises(OSError, match="killed after saving"):
            capture(lake, SOURCE, config, url)
    saved = CaptureState.load(lake, SOURCE)
    assert saved is not None and stream_change_count(lake) == 50

    outcomes = [capture(lake, SOURCE, config, url) for _ in range(5)]
    assert stream_change_count(lake) == 200, (
        f"capture is stuck at position {saved.position}: the runs after the crash captured "
        f"{[sum(o.changes.values()) for o in outcomes]} changes and skipped "
        f"{[o.skipped_replayed for o in outcomes]} replayed ones"
    )
    refresh = refresh_current_state(
        lake, SOURCE, DATASET, TABLE, config.tables[DATASET].dataset(), {}, EngineConfig()
    )
    assert refresh.rows == 200
