"""Pytest fixture for the Meta Graph API (Custom Audiences) emulator.

Registered by the project's conftest through ``pytest_plugins``; per test, so audiences,
sessions, faults and the ``received`` log never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adlake_tests.emulators.meta import MetaEmulator


@pytest.fixture
def meta_emulator() -> Iterator[MetaEmulator]:
    """A running Meta emulator trusting ``TEST_TOKEN`` on ad account ``TEST_AD_ACCOUNT``."""
    with MetaEmulator() as emulator:
        yield emulator
