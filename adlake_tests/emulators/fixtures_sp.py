"""Pytest fixtures for the Selling Partner API: the emulator, a virtual clock and clients.

The LWA side (``token_authority``, ``lwa_emulator``, ``lwa_tokens``) comes from
:mod:`adlake_tests.emulators.fixtures_ads`; both modules are meant to be registered together
through ``pytest_plugins``. The emulator and the client share a :class:`VirtualClock`: the
client's sleeps advance it and the emulator's token buckets and URL expiry read it, so rate
limits are honoured exactly without a test ever waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from adlake.connectors.lwa import LwaTokens
from adlake.connectors.selling_partner import SellingPartnerClient
from adlake_tests.emulators.fixtures_ads import FAST_HTTP
from adlake_tests.emulators.lwa import TokenAuthority
from adlake_tests.emulators.selling_partner import SellingPartnerEmulator


class VirtualClock:
    """Monotonic time that moves only when something sleeps on it (or a test advances it)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.delays: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the delay and advance the clock by it, at once."""
        self.delays.append(seconds)
        self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Let time pass without a sleep being recorded."""
        self.now += seconds

    @property
    def slept(self) -> float:
        """The total of every sleep so far."""
        return sum(self.delays)


@pytest.fixture
def sp_clock() -> VirtualClock:
    """The time the Selling Partner emulator and the client under test share."""
    return VirtualClock()


@pytest.fixture
def sp_emulator(
    token_authority: TokenAuthority, sp_clock: VirtualClock
) -> Iterator[SellingPartnerEmulator]:
    """A running Reports API emulator accepting the LWA emulator's tokens, on virtual time."""
    with SellingPartnerEmulator(token_authority, clock=sp_clock) as emulator:
        yield emulator


@pytest.fixture
def sp_client_factory(
    sp_emulator: SellingPartnerEmulator, lwa_tokens: LwaTokens, sp_clock: VirtualClock
) -> Iterator[Callable[[], SellingPartnerClient]]:
    """Makes clients of the emulator (each with its own HTTP session and learned pacing)."""
    clients: list[SellingPartnerClient] = []

    def make() -> SellingPartnerClient:
        """A new client, closed when the test ends."""
        client = SellingPartnerClient(
            endpoint=sp_emulator.endpoint,
            tokens=lwa_tokens,
            settings=FAST_HTTP,
            sleep=sp_clock.sleep,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sp_client(sp_client_factory: Callable[[], SellingPartnerClient]) -> SellingPartnerClient:
    """A Selling Partner client of the emulator with fast retries and virtual sleeps."""
    return sp_client_factory()
