"""Login with Amazon: cached tokens, early refresh, refresh after a 401, and clear errors."""

from __future__ import annotations

import pytest
import requests

from adlake.connectors.amazon_ads import AmazonAdsClient
from adlake.connectors.http import Unauthorized
from adlake.connectors.lwa import LwaCredentials, LwaError, LwaTokens
from adlake_tests.emulators.amazon_ads import AmazonAdsEmulator
from adlake_tests.emulators.fixtures_ads import FAST_HTTP, SleepRecorder
from adlake_tests.emulators.lwa import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_REFRESH_TOKEN,
    LwaEmulator,
    TokenAuthority,
)


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tokens_with(lwa: LwaEmulator, clock: Clock, sleeps: SleepRecorder, **kw: str) -> LwaTokens:
    credentials = LwaCredentials(
        kw.get("client_id", TEST_CLIENT_ID),
        kw.get("client_secret", TEST_CLIENT_SECRET),
        kw.get("refresh_token", TEST_REFRESH_TOKEN),
    )
    return LwaTokens(lwa.token_url, credentials, settings=FAST_HTTP, clock=clock, sleep=sleeps)


def test_token_is_cached(lwa_emulator: LwaEmulator, lwa_tokens: LwaTokens) -> None:
    first = lwa_tokens.access_token()
    assert first.startswith("Atza|")
    assert lwa_tokens.access_token() == first
    assert lwa_emulator.grants == ["refresh_token"]


def test_token_refreshed_60_seconds_before_expiry(
    lwa_emulator: LwaEmulator, sleeps: SleepRecorder
) -> None:
    clock = Clock()
    tokens = tokens_with(lwa_emulator, clock, sleeps)
    first = tokens.access_token()
    clock.now = 3600 - 61
    assert tokens.access_token() == first
    clock.now = 3600 - 59
    second = tokens.access_token()
    assert second != first
    assert lwa_emulator.grants == ["refresh_token", "refresh_token"]


def test_invalidate_forces_a_new_token(lwa_emulator: LwaEmulator, lwa_tokens: LwaTokens) -> None:
    first = lwa_tokens.access_token()
    lwa_tokens.invalidate()
    assert lwa_tokens.access_token() != first
    assert lwa_tokens.refreshes == 2


def test_api_401_on_expired_token_refreshes_and_retries(
    token_authority: TokenAuthority, ads_client: AmazonAdsClient, lwa_emulator: LwaEmulator
) -> None:
    assert len(ads_client.profiles()) == 3
    token_authority.expire_all()
    assert len(ads_client.profiles()) == 3
    assert lwa_emulator.grants == ["refresh_token", "refresh_token"]


def test_api_keeps_refusing_after_refresh(
    ads_emulator: AmazonAdsEmulator, ads_client: AmazonAdsClient
) -> None:
    ads_emulator.client_ids = {"someone-else"}
    with pytest.raises(Unauthorized) as caught:
        ads_client.profiles()
    assert caught.value.status == 401
    assert "Atza|" not in str(caught.value)


def test_invalid_grant_names_the_fix_and_no_secret(
    lwa_emulator: LwaEmulator, sleeps: SleepRecorder
) -> None:
    lwa_emulator.revoke()
    tokens = tokens_with(lwa_emulator, Clock(), sleeps)
    with pytest.raises(LwaError) as caught:
        tokens.access_token()
    text = str(caught.value)
    assert caught.value.code == "invalid_grant" and caught.value.status == 400
    assert "invalid_grant" in text
    assert "refresh token was revoked" in text and "store it in the secret" in text
    assert TEST_REFRESH_TOKEN not in text and TEST_CLIENT_SECRET not in text
    assert len(lwa_emulator.requests) == 1 and sleeps.delays == []


def test_wrong_client_secret_is_invalid_client(
    lwa_emulator: LwaEmulator, sleeps: SleepRecorder
) -> None:
    secret = "amzn1.oa2-cs.v1.a-wrong-secret-that-must-not-leak"
    tokens = tokens_with(lwa_emulator, Clock(), sleeps, client_secret=secret)
    with pytest.raises(LwaError) as caught:
        tokens.access_token()
    assert caught.value.code == "invalid_client"
    assert "client secret" in caught.value.fix
    assert secret not in str(caught.value) and secret not in repr(tokens)


def test_server_errors_are_retried(lwa_emulator: LwaEmulator, lwa_tokens: LwaTokens) -> None:
    lwa_emulator.fail_next(500, count=2)
    assert lwa_tokens.access_token().startswith("Atza|")
    assert len(lwa_emulator.requests) == 3


def test_lasting_outage_is_an_lwa_error(lwa_emulator: LwaEmulator, lwa_tokens: LwaTokens) -> None:
    lwa_emulator.fail_next(503, count=20)
    with pytest.raises(LwaError) as caught:
        lwa_tokens.access_token()
    assert caught.value.code == "temporarily_unavailable"
    assert "try again later" in str(caught.value)


def test_credentials_repr_masks_secrets() -> None:
    credentials = LwaCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN)
    text = repr(credentials) + str(credentials)
    assert TEST_CLIENT_ID in text
    assert TEST_CLIENT_SECRET not in text and TEST_REFRESH_TOKEN not in text


def test_client_credentials_grant_with_scope(
    lwa_emulator: LwaEmulator, lwa_credentials: LwaCredentials
) -> None:
    tokens = LwaTokens(
        lwa_emulator.token_url,
        lwa_credentials,
        settings=FAST_HTTP,
        scope="sellingpartnerapi::notifications",
    )
    assert tokens.access_token().startswith("Atza|")
    assert lwa_emulator.grants == ["client_credentials"]


def test_emulator_accepts_json_bodies_as_amazons_java_client_sends(
    lwa_emulator: LwaEmulator,
) -> None:
    body = {
        "grant_type": "refresh_token",
        "refresh_token": TEST_REFRESH_TOKEN,
        "client_id": TEST_CLIENT_ID,
        "client_secret": TEST_CLIENT_SECRET,
    }
    response = requests.post(lwa_emulator.token_url, json=body, timeout=10)
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"
    assert response.json()["expires_in"] == 3600


def test_emulated_tokens_expire_after_token_ttl(token_authority: TokenAuthority) -> None:
    clock = Clock()
    token_authority.clock = clock
    with LwaEmulator(token_authority, token_ttl=10) as lwa:
        tokens = LwaTokens(
            lwa.token_url,
            LwaCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN),
            settings=FAST_HTTP,
        )
        token = tokens.access_token()
        assert token_authority.problem(token) is None
        clock.now = 11
        assert token_authority.problem(token) == "expired"
