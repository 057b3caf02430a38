"""Pytest fixtures for Login with Amazon and Amazon Ads (reports, audiences): emulators and clients.

Registered by the project's conftest through ``pytest_plugins``; every fixture is per test, so
emulator state (faults, reports, tokens) never leaks between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adlake.connectors.amazon_ads import AmazonAdsClient
from adlake.connectors.http import HttpSettings
from adlake.connectors.lwa import LwaCredentials, LwaTokens
from adlake_tests.emulators.amazon_ads import AmazonAdsEmulator
from adlake_tests.emulators.amazon_audiences import AmazonAudiencesEmulator
from adlake_tests.emulators.amc import AmcEmulator
from adlake_tests.emulators.lwa import (
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_REFRESH_TOKEN,
    LwaEmulator,
    TokenAuthority,
)

# short timeouts and tiny backoffs: a test never waits on a real clock
FAST_HTTP = HttpSettings(max_attempts=4, backoff_base=0.01, backoff_max=0.05, timeout=10.0)


class SleepRecorder:
    """A ``sleep`` replacement that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    @property
    def total(self) -> float:
        """The sum of all delays asked for."""
        return sum(self.delays)


@pytest.fixture
def sleeps() -> SleepRecorder:
    """Records every sleep of the client under test instead of sleeping."""
    return SleepRecorder()


@pytest.fixture
def token_authority() -> TokenAuthority:
    """The access tokens issued by the LWA emulator, shared with the API emulators."""
    return TokenAuthority()


@pytest.fixture
def lwa_emulator(token_authority: TokenAuthority) -> Iterator[LwaEmulator]:
    """A running Login with Amazon emulator that knows the test client and refresh token."""
    with LwaEmulator(token_authority) as emulator:
        yield emulator


@pytest.fixture
def lwa_credentials() -> LwaCredentials:
    """The test client id, client secret and refresh token the LWA emulator accepts."""
    return LwaCredentials(TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_REFRESH_TOKEN)


@pytest.fixture
def lwa_tokens(
    lwa_emulator: LwaEmulator, lwa_credentials: LwaCredentials, sleeps: SleepRecorder
) -> LwaTokens:
    """An ``LwaTokens`` fetching tokens from the LWA emulator, with fast retries."""
    return LwaTokens(lwa_emulator.token_url, lwa_credentials, settings=FAST_HTTP, sleep=sleeps)


@pytest.fixture
def ads_emulator(token_authority: TokenAuthority) -> Iterator[AmazonAdsEmulator]:
    """A running Amazon Ads emulator (three NA profiles) trusting the LWA emulator's tokens."""
    with AmazonAdsEmulator(token_authority) as emulator:
        yield emulator


@pytest.fixture
def ads_client(
    ads_emulator: AmazonAdsEmulator, lwa_tokens: LwaTokens, sleeps: SleepRecorder
) -> Iterator[AmazonAdsClient]:
    """An ``AmazonAdsClient`` talking to the emulators; its sleeps are recorded, not slept."""
    client = AmazonAdsClient(
        endpoint=ads_emulator.base_url,
        client_id=TEST_CLIENT_ID,
        tokens=lwa_tokens,
        settings=FAST_HTTP,
        sleep=sleeps,
    )
    yield client
    client.close()


@pytest.fixture
def amazon_audiences(token_authority: TokenAuthority) -> Iterator[AmazonAudiencesEmulator]:
    """A running Amazon advertiser-audiences emulator trusting the LWA emulator's tokens."""
    with AmazonAudiencesEmulator(token_authority) as emulator:
        yield emulator


@pytest.fixture
def amc_emulator(token_authority: TokenAuthority) -> Iterator[AmcEmulator]:
    """A running AMC workflow-management emulator (two instances) trusting the LWA tokens."""
    with AmcEmulator(token_authority) as emulator:
        yield emulator
