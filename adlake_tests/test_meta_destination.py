"""The Meta destination against the Meta emulator, through the export runner.

Checks what Meta holds and received: batch sizes, Meta's phone hash without '+', MADID
unhashed, removals, a replace in one session, throttling waited out, a refused token named by
its secret, and a resumed delivery that does not re-send.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from adlake.config.segments import ExportConfig, MetaDestinationConfig
from adlake.destinations.base import DestinationError
from adlake.destinations.meta import MetaDestination, meta_rows
from adlake.lake import Lake
from adlake.segments.export import run_export
from adlake_tests.emulators.meta import TEST_AD_ACCOUNT, TEST_TOKEN, MetaEmulator


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# golden vectors: Meta's normalization (specs README 2.6, Meta's customer-list formatting page)
GOLDEN = [
    ({"email": " John_Smith@GMAIL.com "}, "EMAIL", sha("john_smith@gmail.com")),
    ({"phone_digits": "+1 (650) 555-1212"}, "PHONE", sha("16505551212")),
    ({"phone": "+1 (650) 555-1212"}, "PHONE", sha("16505551212")),
    ({"first_name": "Mary-Ann."}, "FN", sha("maryann")),
    ({"last_name": "O'Neil"}, "LN", sha("oneil")),
    ({"zip": "94025-1234"}, "ZIP", sha("94025")),
    ({"country": "US"}, "COUNTRY", sha("us")),
    (
        {"maid": "6D92078A-8246-4BA4-AE5B-76104861E7DC"},
        "MADID",
        "6d92078a-8246-4ba4-ae5b-76104861e7dc",
    ),
    ({"external_id": " crm-42 "}, "EXTERN_ID", "crm-42"),
    ({"email": sha("already@hashed.com")}, "EMAIL", sha("already@hashed.com")),
]


@pytest.mark.parametrize(("member", "key", "sent"), GOLDEN)
def test_meta_normalization_golden_vectors(member: dict, key: str, sent: str) -> None:
    schema, rows, _ = meta_rows([member])
    assert rows[0][schema.index(key)] == sent


def test_a_hashed_e164_phone_is_skipped_and_counted() -> None:
    schema, rows, skipped = meta_rows([{"email": sha("a@b.co"), "phone": sha("+16505551212")}])
    assert rows[0][schema.index("PHONE")] == "" and skipped == {"phone": 1}


def snapshot(numbers: range) -> pa.Table:
    return pa.table(
        {
            "member": [sha(f"m{n}") for n in numbers],
            "email": [sha(f"user{n}@example.com") for n in numbers],
            "phone_digits": [sha(f"1206{n:07d}") for n in numbers],
        }
    )


def destination(emulator: MetaEmulator, token: str = TEST_TOKEN) -> MetaDestination:
    config = MetaDestinationConfig(
        kind="meta",
        ad_account_id=f"act_{TEST_AD_ACCOUNT}",
        access_token="meta_token",
        endpoint=emulator.base_url,
    )
    return MetaDestination(config, {"meta_token": token}.__getitem__, sleep=lambda _: None)


def emails(emulator: MetaEmulator, audience_id: str) -> set[str]:
    return emulator.values(audience_id, "EMAIL")


def test_export_deltas_and_replace(meta_emulator: MetaEmulator, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    export = ExportConfig(destination="meta", audience="Buyers")
    first = run_export(
        lake, "buyers", "meta", snapshot(range(25_000)), export, destination(meta_emulator)
    )
    sizes = [len(batch.rows) for batch in meta_emulator.received]
    assert sizes == [10_000, 10_000, 5_000]
    audience = first.audience_id
    assert emails(meta_emulator, audience) == {sha(f"user{n}@example.com") for n in range(25_000)}
    assert sha("12060000007") in meta_emulator.values(audience, "PHONE")

    meta_emulator.throttle_next(2, code=80003)
    second = run_export(
        lake, "buyers", "meta", snapshot(range(1_000, 26_000)), export, destination(meta_emulator)
    )
    assert (second.added, second.removed, second.audience_id) == (1_000, 1_000, audience)
    assert emails(meta_emulator, audience) == {
        sha(f"user{n}@example.com") for n in range(1_000, 26_000)
    }

    full = ExportConfig(destination="meta", audience="Buyers", full_refresh=True)
    replaced = run_export(
        lake,
        "buyers",
        "meta",
        snapshot(range(1_000, 13_000)),
        full,
        destination(meta_emulator),
        allow_shrink=True,
    )
    assert replaced.mode == "replace"
    assert emails(meta_emulator, audience) == {
        sha(f"user{n}@example.com") for n in range(1_000, 13_000)
    }


def test_a_crashed_upload_resumes_without_resending(
    meta_emulator: MetaEmulator, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    export = ExportConfig(destination="meta")
    client = destination(meta_emulator)
    calls = {"n": 0}
    real_send = client.send

    def send_then_die(members, info, state):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("killed")
        return real_send(members, info, state)

    client.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        run_export(lake, "buyers", "meta", snapshot(range(25_000)), export, client)
    before = len(meta_emulator.received)
    report = run_export(
        lake, "buyers", "meta", snapshot(range(25_000)), export, destination(meta_emulator)
    )
    assert report.resumed_batches == 1
    assert len(meta_emulator.received) - before == 2
    assert len(emails(meta_emulator, report.audience_id)) == 25_000


def test_a_refused_token_names_the_secret(meta_emulator: MetaEmulator, tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match="secret 'meta_token'") as failure:
        run_export(
            Lake(tmp_path / "lake"),
            "buyers",
            "meta",
            snapshot(range(200)),
            ExportConfig(destination="meta"),
            destination(meta_emulator, token="EAAwrong-token"),
        )
    assert "EAAwrong-token" not in str(failure.value)
