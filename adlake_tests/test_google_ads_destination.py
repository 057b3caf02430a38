"""The Google Ads Customer Match destination against the emulator, through the export runner.

Checks what the list holds and what each addOperations call carried: Google's hashes (E.164
with '+'), clear postal and country codes in addressInfo, batch sizes, removals, a replace with
removeAll, quota errors retried, a FAILED job's reason, and the match rate.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from adlake.config.segments import ExportConfig, GoogleAdsDestinationConfig
from adlake.destinations.base import DestinationError
from adlake.destinations.google_ads import GoogleAdsDestination, user_identifiers
from adlake.lake import Lake
from adlake.segments.export import run_export
from adlake_tests.emulators.google_ads import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_CUSTOMER_ID,
    TEST_DEVELOPER_TOKEN,
    TEST_REFRESH_TOKEN,
    GoogleAdsEmulator,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# golden vectors: Google's normalization (specs README 2.7)
GOLDEN = [
    ({"email": " Dana@Example.com "}, {"hashedEmail": sha("dana@example.com")}),
    ({"phone": "(650) 555-1212"}, {"hashedPhoneNumber": sha("+16505551212")}),
    ({"phone": sha("+16505551212")}, {"hashedPhoneNumber": sha("+16505551212")}),
    (
        {"first_name": "Dana", "last_name": "O'Neil", "country": "us", "zip": "94043-1351"},
        {
            "addressInfo": {
                "hashedFirstName": sha("dana"),
                "hashedLastName": sha("oneil"),
                "countryCode": "US",
                "postalCode": "94043",
            }
        },
    ),
]


@pytest.mark.parametrize(("member", "expected"), GOLDEN)
def test_google_normalization_golden_vectors(member: dict, expected: dict) -> None:
    assert user_identifiers(member, {}) == [expected]


def test_a_hashed_zip_cannot_go_to_google_and_is_counted() -> None:
    skipped: dict[str, int] = {}
    member = {"first_name": "a", "last_name": "b", "country": "US", "zip": sha("94043")}
    assert user_identifiers(member, skipped) == []
    assert skipped == {"zip": 1}


def snapshot(numbers: range) -> pa.Table:
    return pa.table(
        {
            "member": [sha(f"m{n}") for n in numbers],
            "email": [sha(f"user{n}@example.com") for n in numbers],
            "phone": [sha(f"+1206{n:07d}") for n in numbers],
        }
    )


def destination(emulator: GoogleAdsEmulator, refresh: str = TEST_REFRESH_TOKEN):  # noqa: ANN201
    config = GoogleAdsDestinationConfig(
        kind="google_ads",
        customer_id=TEST_CUSTOMER_ID,
        developer_token="google_dev",
        oauth="google_oauth",
        token_url=emulator.token_url,
        endpoint=emulator.base_url,
    )
    oauth = {
        "client_id": TEST_CLIENT_ID,
        "client_secret": TEST_CLIENT_SECRET,
        "refresh_token": refresh,
    }
    secrets = {"google_dev": TEST_DEVELOPER_TOKEN, "google_oauth": json.dumps(oauth)}
    return GoogleAdsDestination(config, secrets.__getitem__, sleep=lambda _: None)


def emails(emulator: GoogleAdsEmulator, user_list: str) -> set[str]:
    return emulator.identifiers(user_list, "hashedEmail")


def test_export_deltas_replace_and_match_rate(
    google_ads_emulator: GoogleAdsEmulator, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    export = ExportConfig(destination="google", audience="Buyers")
    first = run_export(
        lake, "buyers", "google", snapshot(range(25_000)), export, destination(google_ads_emulator)
    )
    assert [len(call.operations) for call in google_ads_emulator.received] == [
        10_000,
        10_000,
        5_000,
    ]
    user_list = first.audience_id
    assert first.match_rate == "MATCH_RANGE_51_TO_60"
    assert emails(google_ads_emulator, user_list) == {
        sha(f"user{n}@example.com") for n in range(25_000)
    }
    assert sha("+12060000007") in google_ads_emulator.identifiers(user_list, "hashedPhoneNumber")

    google_ads_emulator.exhaust_quota_next(1, retry_delay=0)
    second = run_export(
        lake,
        "buyers",
        "google",
        snapshot(range(1_000, 26_000)),
        export,
        destination(google_ads_emulator),
    )
    assert (second.added, second.removed, second.audience_id) == (1_000, 1_000, user_list)
    assert emails(google_ads_emulator, user_list) == {
        sha(f"user{n}@example.com") for n in range(1_000, 26_000)
    }

    full = ExportConfig(destination="google", audience="Buyers", full_refresh=True)
    run_export(
        lake,
        "buyers",
        "google",
        snapshot(range(5_000)),
        full,
        destination(google_ads_emulator),
        allow_shrink=True,
    )
    assert emails(google_ads_emulator, user_list) == {
        sha(f"user{n}@example.com") for n in range(5_000)
    }


def test_a_failed_job_names_its_reason_and_is_sent_again(
    google_ads_emulator: GoogleAdsEmulator, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "lake")
    export = ExportConfig(destination="google")
    google_ads_emulator.fail_next_job("INSUFFICIENT_MATCHED_TRANSACTIONS")
    with pytest.raises(DestinationError, match="FAILED: INSUFFICIENT_MATCHED_TRANSACTIONS"):
        run_export(
            lake,
            "buyers",
            "google",
            snapshot(range(2_000)),
            export,
            destination(google_ads_emulator),
        )
    report = run_export(
        lake, "buyers", "google", snapshot(range(2_000)), export, destination(google_ads_emulator)
    )
    assert len(emails(google_ads_emulator, report.audience_id)) == 2_000
