"""Applying change batches to a current-state table: upserts, deletes, replays, PII protected."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from adlake.config import DatasetConfig
from adlake.connectors.cdc.changes import Change, ChangeBatchWriter
from adlake.transform.changes_apply import apply_changes

SPEC = DatasetConfig.model_validate(
    {
        "format": "parquet",
        "columns": {
            "id": {"type": "bigint", "required": True},
            "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
            "amount": {"type": "decimal", "precision": 12, "scale": 2},
            "updated_at": {"type": "timestamp_tz"},
        },
        "primary_key": ["id"],
    }
)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def batch(folder: Path, name: str, changes: list[tuple[str, int, dict]]) -> str:
    """A change batch file of ("op", position, row) triples for table public.orders."""
    path = folder / f"{name}.parquet"
    with ChangeBatchWriter(path) as writer:
        writer.write(
            Change(op, position, seq, NOW, "public", "orders", row)  # type: ignore[arg-type]
            for seq, (op, position, row) in enumerate(changes)
        )
    return str(path)


def state(path: str) -> list[tuple]:
    return duckdb.sql(
        f"SELECT id, email IS NOT NULL AND length(email) = 64, amount::VARCHAR, _position "
        f"FROM read_parquet('{path}') ORDER BY id"
    ).fetchall()


def test_upserts_deletes_and_replays_give_the_source_state(tmp_path: Path) -> None:
    first = batch(tmp_path, "b1", [
        ("insert", 10, {"id": "1", "email": "A@x.com", "amount": "1.50", "updated_at": None}),
        ("insert", 10, {"id": "2", "email": "b@x.com", "amount": "2.00", "updated_at": None}),
        ("insert", 11, {"id": "3", "email": None, "amount": "3.00", "updated_at": None}),
    ])  # fmt: skip
    second = batch(tmp_path, "b2", [
        ("update", 20, {"id": "1", "email": "a@x.com", "amount": "9.99", "updated_at": None}),
        ("delete", 21, {"id": "2"}),
    ])  # fmt: skip
    con = duckdb.connect()
    s1, s2, s3 = (str(tmp_path / f"state{i}.parquet") for i in (1, 2, 3))
    apply_changes(con, SPEC, "orders", None, [first], s1)
    outcome = apply_changes(con, SPEC, "orders", s1, [second], s2)
    assert state(s2) == [(1, True, "9.99", 20), (3, False, "3.00", 11)]
    assert (outcome.changes, outcome.deletes, outcome.last_position) == (2, 1, 21)
    # the same batches again, in the other order, change nothing
    apply_changes(con, SPEC, "orders", s2, [second, first], s3)
    assert state(s3) == state(s2)
    assert "a@x.com" not in Path(s3).read_bytes().decode("latin-1")


def test_a_change_whose_key_does_not_fit_is_rejected_not_applied(tmp_path: Path) -> None:
    bad = batch(tmp_path, "bad", [
        ("insert", 5, {"id": "seven", "email": "c@x.com", "amount": "1", "updated_at": None}),
        ("insert", 6, {"id": "8", "email": "d@x.com", "amount": "2", "updated_at": None}),
    ])  # fmt: skip
    out = str(tmp_path / "state.parquet")
    outcome = apply_changes(duckdb.connect(), SPEC, "orders", None, [bad], out)
    assert outcome.rejected == 1 and outcome.rows == 1
    assert "5/0" in outcome.problems[0] and "c@x.com" not in outcome.problems[0]


@pytest.mark.parametrize("deleted_first", [True, False])
def test_latest_position_wins_between_insert_and_delete(tmp_path: Path, deleted_first) -> None:
    changes = [("insert", 30, {"id": "4", "amount": "4"}), ("delete", 31, {"id": "4"})]
    files = [batch(tmp_path, f"c{i}", [c]) for i, c in enumerate(changes)]
    out = str(tmp_path / "state.parquet")
    apply_changes(
        duckdb.connect(), SPEC, "orders", None, files[::-1] if deleted_first else files, out
    )
    assert state(out) == []


def test_an_update_of_the_primary_key_moves_the_row(tmp_path: Path) -> None:
    path = tmp_path / "moved.parquet"
    with ChangeBatchWriter(path) as writer:
        writer.write([
            Change("insert", 40, 0, NOW, "public", "orders", {"id": "5", "amount": "5"}),
            Change("update", 41, 0, NOW, "public", "orders", {"id": "6", "amount": "5"},
                   key={"id": "5"}),
        ])  # fmt: skip
    out = str(tmp_path / "state.parquet")
    outcome = apply_changes(duckdb.connect(), SPEC, "orders", None, [str(path)], out)
    assert [row[0] for row in state(out)] == [6]
    assert (outcome.changes, outcome.deletes) == (2, 0)


def test_a_column_an_update_left_out_keeps_its_value_while_an_explicit_null_clears_it(
    tmp_path: Path,
) -> None:
    """PostgreSQL leaves unchanged TOAST values out of an update's row image."""
    first = batch(tmp_path, "t1", [
        ("insert", 50, {"id": "9", "email": "e@x.com", "amount": "1.00", "updated_at": None}),
    ])  # fmt: skip
    second = batch(tmp_path, "t2", [
        ("update", 51, {"id": "9", "amount": "2.00", "updated_at": None}),  # email left out
    ])  # fmt: skip
    third = batch(tmp_path, "t3", [
        ("update", 52, {"id": "9", "email": None, "amount": "3.00", "updated_at": None}),
    ])  # fmt: skip
    con = duckdb.connect()
    s1, s2, s3 = (str(tmp_path / f"toast{i}.parquet") for i in (1, 2, 3))
    apply_changes(con, SPEC, "orders", None, [first], s1)
    apply_changes(con, SPEC, "orders", s1, [second], s2)
    assert state(s2) == [(9, True, "2.00", 51)]
    apply_changes(con, SPEC, "orders", None, [first, second], s3)  # same from scratch
    assert state(s3) == state(s2)
    apply_changes(con, SPEC, "orders", s2, [third], s3)
    assert state(s3) == [(9, False, "3.00", 52)]


def test_retyped_added_and_dropped_columns_are_reported(tmp_path: Path) -> None:
    changes = batch(
        tmp_path,
        "b1",
        [
            ("insert", 10, {"id": "1", "amount": "1.50", "updated_at": None, "coupon": "X1"}),
            ("update", 11, {"id": "1", "amount": "lots", "updated_at": None, "coupon": "X2"}),
        ],
    )
    out = str(tmp_path / "state.parquet")
    with duckdb.connect() as con:
        outcome = apply_changes(con, SPEC, "orders", None, [changes], out)
    text = "\n".join(outcome.problems)
    assert "orders.amount: 1 value(s) do not fit the declared type DECIMAL(12,2)" in text
    assert "column(s) coupon that adlake.yaml does not declare" in text
    assert "declared column(s) email are in none of the 1 inserted row(s)" in text
    assert state(out) == [(1, False, None, 11)]
