"""Pytest fixtures for the Google Ads Customer Match emulator.

Registered by the project's conftest through ``pytest_plugins``; per test, so user lists, jobs
and faults never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adlake_tests.emulators.google_ads import (
    TEST_ACCESS_TOKEN,
    TEST_CUSTOMER_ID,
    TEST_DEVELOPER_TOKEN,
    GoogleAdsEmulator,
)


@pytest.fixture
def google_ads_emulator() -> Iterator[GoogleAdsEmulator]:
    """A running Google Ads emulator accepting the test OAuth and developer tokens."""
    with GoogleAdsEmulator() as emulator:
        yield emulator


@pytest.fixture
def google_ads_headers() -> dict[str, str]:
    """The headers a client sends: bearer token, developer token, login customer id."""
    return {
        "Authorization": f"Bearer {TEST_ACCESS_TOKEN}",
        "developer-token": TEST_DEVELOPER_TOKEN,
        "login-customer-id": TEST_CUSTOMER_ID,
    }
