"""Pytest fixtures for the SaaS emulators (Salesforce-style, HubSpot-style).

Registered by the project's conftest through ``pytest_plugins``; per test, so records, tokens,
faults and logs never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adlake_tests.emulators.hubspot import HubSpotEmulator
from adlake_tests.emulators.salesforce import SalesforceEmulator


@pytest.fixture
def salesforce() -> Iterator[SalesforceEmulator]:
    """A running Salesforce-style emulator (1,000 contacts, 100 accounts)."""
    with SalesforceEmulator() as emulator:
        yield emulator


@pytest.fixture
def hubspot() -> Iterator[HubSpotEmulator]:
    """A running HubSpot-style emulator (1,000 contacts, 20 campaigns)."""
    with HubSpotEmulator() as emulator:
        yield emulator
