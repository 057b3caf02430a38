"""The Amazon Ads audience destination against the audiences and LWA emulators, via the runner.

Checks what Amazon holds and received: Amazon's normalization (golden vectors), batches of at
most 6,000 records, removals naming the record their addition created, the audience found
again by its remembered id, upload jobs polled to their end, a FAILED job re-sent in full, a
crashed delivery resumed without re-sending, throttling and an expired token survived, and the
AMC Terms refusal explained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from adlake.config.pulls import LwaCredentialsConfig
from adlake.config.segments import AmazonAudienceDestinationConfig, ExportConfig
from adlake.destinations import amazon_ads
from adlake.destinations.amazon_ads import AmazonAudienceDestination, amazon_record
from adlake.destinations.base import DestinationError
from adlake.lake import Lake
from adlake.segments.export import ExportRefused, ExportReport, run_export
from adlake_tests.emulators.amazon_audiences import (
    TEST_ADVERTISER_ID,
    TEST_CONNECTION_ID,
    AmazonAudiencesEmulator,
)
from adlake_tests.emulators.fixtures_ads import SleepRecorder
from adlake_tests.emulators.lwa import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_REFRESH_TOKEN,
    LwaEmulator,
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# golden vectors: Amazon's normalizers (AWS "AMC Uploader from AWS", source/glue/normalizers:
# e-mail keeps only word characters, '.', '@' and '-'; phone is E.164 without '+'; names fold
# umlauts and keep a-z/0-9; US postal codes are 5 digits); hashed values pass through
GOLDEN = [
    ({"email": " John.Smith+Ads@Example.COM "}, "email", sha("john.smithads@example.com")),
    ({"phone_digits": "+1 (206) 555-0100"}, "phone", sha("12065550100")),
    ({"phone": "+44 20 7031 3000"}, "phone", sha("442070313000")),
    ({"first_name": "Jörg"}, "firstname", sha("joerg")),
    ({"last_name": "Strauß-Müller"}, "lastname", sha("straussmueller")),
    ({"last_name": "O'Neil"}, "lastname", sha("oneil")),
    ({"zip": "98101-1234"}, "postal", sha("98101")),
    ({"email": sha("already@hashed.com")}, "email", sha("already@hashed.com")),
]


@pytest.mark.parametrize(("member", "key", "sent"), GOLDEN)
def test_amazon_normalization_golden_vectors(member: dict, key: str, sent: str) -> None:
    record = amazon_record({"member": "m1", **member}, "CREATE", "US", {})
    assert record is not None and record["hashedPII"] == [{key: sent}]
    assert record["externalUserId"] == "m1" and record["action"] == "CREATE"


def test_country_is_clear_and_upper_case_and_unmatched_keys_are_counted() -> None:
    skipped: dict[str, int] = {}
    gb = amazon_record({"member": "m", "email": "a@b.co", "country": "gb"}, "DELETE", "US", skipped)
    assert gb is not None and gb["countryCode"] == "GB"
    unknown = amazon_record({"member": "m", "email": "a@b.co", "country": "zz"}, "CREATE", "DE", {})
    assert unknown is not None and unknown["countryCode"] == "DE"
    only_ids = {"member": "m", "maid": "6d92078a-8246-4ba4-ae5b-76104861e7dc", "external_id": "7"}
    assert amazon_record(only_ids, "CREATE", "US", skipped) is None
    hashed_e164 = {"member": "m", "email": "a@b.co", "phone": sha("+12065550100")}
    record = amazon_record(hashed_e164, "CREATE", "US", skipped)
    assert record is not None and "phone" not in record["hashedPII"][0]
    assert skipped == {"maid": 1, "external_id": 1, "phone": 1}


def test_a_target_must_be_exactly_one_of_advertiser_and_connection() -> None:
    with pytest.raises(ValueError, match="exactly one of advertiser_id and connection_id"):
        AmazonAudienceDestinationConfig(kind="amazon_ads")
    with pytest.raises(ValueError, match="do not take country 'CH'"):
        AmazonAudienceDestinationConfig(kind="amazon_ads", advertiser_id="1", country_code="CH")


def snapshot(numbers: range) -> pa.Table:
    return pa.table(
        {
            "member": [sha(f"m{n}") for n in numbers],
            "email": [sha(f"user{n}@example.com") for n in numbers],
            "phone_digits": [sha(f"1206{n:07d}") for n in numbers],
        }
    )


SECRETS = {
    "amazon_client_id": TEST_CLIENT_ID,
    "amazon_client_secret": TEST_CLIENT_SECRET,
    "amazon_refresh_token": TEST_REFRESH_TOKEN,
}


def destination(
    emulator: AmazonAudiencesEmulator,
    lwa: LwaEmulator,
    sleeps: SleepRecorder,
    **target: str,
) -> AmazonAudienceDestination:
    config = AmazonAudienceDestinationConfig(
        kind="amazon_ads",
        endpoint=emulator.base_url,
        token_url=lwa.token_url,
        credentials=LwaCredentialsConfig(),
        membership_days=30,
        **(target or {"advertiser_id": str(TEST_ADVERTISER_ID)}),
    )
    return AmazonAudienceDestination(config, SECRETS.__getitem__, sleep=sleeps)


EXPORT = ExportConfig(destination="amazon", audience="Buyers", min_members=1_000)


@dataclass
class Amazon:
    """The emulators, a lake and the sleeps of one test, and the export run against them."""

    emulator: AmazonAudiencesEmulator
    lwa: LwaEmulator
    sleeps: SleepRecorder
    lake: Lake

    def client(self, **target: str) -> AmazonAudienceDestination:
        return destination(self.emulator, self.lwa, self.sleeps, **target)

    def export(
        self,
        numbers: range,
        export: ExportConfig = EXPORT,
        client: AmazonAudienceDestination | None = None,
    ) -> ExportReport:
        target = client or self.client()
        return run_export(self.lake, "buyers", "amazon", snapshot(numbers), export, target)

    def held(self, audience_id: str | None) -> set[str]:
        return set(self.emulator.members(audience_id or ""))


@pytest.fixture
def amazon(
    amazon_audiences: AmazonAudiencesEmulator,
    lwa_emulator: LwaEmulator,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> Amazon:
    return Amazon(amazon_audiences, lwa_emulator, sleeps, Lake(tmp_path / "lake"))


def fingerprints(numbers: range) -> set[str]:
    return {sha(f"m{n}") for n in numbers}


def test_export_deltas_and_full_refresh(amazon: Amazon) -> None:
    first = amazon.export(range(15_000))
    assert [batch.size for batch in amazon.emulator.received] == [6_000, 6_000, 3_000]
    audience = first.audience_id
    assert audience is not None
    created = amazon.emulator.audiences[int(audience)].body
    assert created["targetResource"] == {"advertiserId": TEST_ADVERTISER_ID}
    assert created["metadata"] == {"externalAudienceId": "Buyers", "ttl": 30 * 86_400}
    assert amazon.held(audience) == fingerprints(range(15_000))
    assert amazon.emulator.members(audience)[sha("m7")] == (
        "US",
        {"email": sha("user7@example.com"), "phone": sha("12060000007")},
    )
    assert first.details == {"records_processed": 15_000}

    amazon.emulator.received.clear()
    second = amazon.export(range(750, 15_750))
    assert (second.added, second.removed, second.audience_id) == (750, 750, audience)
    assert [b.actions for b in amazon.emulator.received] == [{"DELETE": 750}, {"CREATE": 750}]
    assert amazon.held(audience) == fingerprints(range(750, 15_750))
    assert len(amazon.emulator.audiences) == 1

    amazon.emulator.received.clear()
    refreshed = amazon.export(range(750, 14_750), EXPORT.model_copy(update={"full_refresh": True}))
    assert (refreshed.mode, refreshed.added, refreshed.removed) == ("refresh", 14_000, 1_000)
    assert sum(b.size for b in amazon.emulator.received) == 15_000
    assert amazon.held(audience) == fingerprints(range(750, 14_750))


def test_a_deleted_audience_is_created_again(amazon: Amazon) -> None:
    first = amazon.export(range(1_000))
    del amazon.emulator.audiences[int(first.audience_id or 0)]
    amazon.lake.delete("state/exports/buyers/amazon/delivered.parquet")
    again = amazon.export(range(1_000))
    assert again.audience_id != first.audience_id
    assert amazon.held(again.audience_id) == fingerprints(range(1_000))


def test_a_failed_job_is_sent_again_in_full(amazon: Amazon) -> None:
    amazon.emulator.fail_next_job("Audience upload failed: identity resolution unavailable")
    with pytest.raises(DestinationError, match="identity resolution unavailable") as failed:
        amazon.export(range(8_000))
    assert failed.value.restart
    audience = str(next(iter(amazon.emulator.audiences)))
    assert len(amazon.held(audience)) == 2_000  # the first batch's job failed
    report = amazon.export(range(8_000))
    assert report.resumed_batches == 0
    assert amazon.held(audience) == fingerprints(range(8_000))


def test_a_crashed_delivery_resumes_and_survives_throttling_and_token_expiry(
    amazon: Amazon,
) -> None:
    client = amazon.client()
    real_send = client.send
    calls = {"n": 0}

    def send_then_die(members, info, state):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("killed")
        return real_send(members, info, state)

    client.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        amazon.export(range(15_000), client=client)
    assert sum(b.size for b in amazon.emulator.received) == 12_000

    resumed = amazon.client()
    resumed_finish = resumed.finish

    def expire_then_finish(state):  # noqa: ANN001, ANN202
        amazon.lwa.authority.expire_all()  # the token dies between the upload and the polls
        return resumed_finish(state)

    resumed.finish = expire_then_finish  # type: ignore[method-assign]
    amazon.emulator.fail_next(429, count=2, retry_after=7)
    report = amazon.export(range(15_000), client=resumed)
    assert report.resumed_batches == 2
    assert sum(b.size for b in amazon.emulator.received) == 15_000
    assert amazon.held(report.audience_id) == fingerprints(range(15_000))
    assert amazon.sleeps.delays.count(7) == 2
    assert amazon.lwa.grants.count("refresh_token") == 3


def test_records_amazon_refuses_are_counted_as_rejected(
    amazon: Amazon, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = amazon_ads.amazon_record

    def corrupt_m3(member, action, country, skipped):  # noqa: ANN001, ANN202
        record = real(member, action, country, skipped)
        if record and member["member"] == sha("m3"):
            record["hashedPII"] = [{"email": "user3@example.com"}]
        return record

    monkeypatch.setattr(amazon_ads, "amazon_record", corrupt_m3)
    report = amazon.export(range(1_000))
    assert report.rejected == 1
    assert amazon.held(report.audience_id) == fingerprints(range(1_000)) - {sha("m3")}


def test_amc_connection_uploads_need_the_amc_terms(amazon: Amazon) -> None:
    amazon.emulator.terms_accepted = False
    client = amazon.client(connection_id=TEST_CONNECTION_ID)
    with pytest.raises(DestinationError, match="accept the AMC Terms") as refused:
        amazon.export(range(1_000), client=client)
    assert TEST_CLIENT_SECRET not in str(refused.value)

    amazon.emulator.terms_accepted = True
    report = amazon.export(range(1_000), client=amazon.client(connection_id=TEST_CONNECTION_ID))
    assert amazon.emulator.received[0].target == {"connectionId": TEST_CONNECTION_ID}
    assert amazon.held(report.audience_id) == fingerprints(range(1_000))


def test_the_platform_minimum_guards_a_small_audience(amazon: Amazon) -> None:
    with pytest.raises(ExportRefused, match="below the minimum of 2,000"):
        amazon.export(range(1_999), ExportConfig(destination="amazon"))
    assert amazon.emulator.calls["manageAudience"] == 0
