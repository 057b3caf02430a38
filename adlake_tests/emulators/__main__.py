"""Serve the Amazon emulators where the project's adlake.yaml points (``make dev`` runs this).

For every pull source whose ``endpoint`` or ``token_url`` is on 127.0.0.1/localhost, the matching
emulator listens on that port: Login with Amazon, Amazon Ads (with the configured profile ids),
the Selling Partner API and AMC (with the configured tenants as instances); for an
``amazon_ads`` audience destination, the advertiser audiences API (knowing the configured
advertiser or connection); for a ``rest`` source on loopback, the Salesforce-style or
HubSpot-style emulator. The LWA emulator accepts the credentials found in the project's
secrets (``adlake init`` writes random ones), so the sample config pulls "Amazon" data offline.
Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import copy
import logging
import signal
import sys
import threading
from urllib.parse import urlparse

from adlake.config import AmazonAdsSourceConfig, AmcSourceConfig, RestSourceConfig, load_config
from adlake.config.rest import BearerAuth, OAuthRefreshTokenAuth
from adlake.resources.secrets import LocalSecretsResource, SecretNotFound
from adlake_tests.emulators.amazon_ads import DEFAULT_PROFILES, AmazonAdsEmulator
from adlake_tests.emulators.amazon_audiences import AmazonAudiencesEmulator
from adlake_tests.emulators.amc import AmcEmulator
from adlake_tests.emulators.hubspot import HubSpotEmulator
from adlake_tests.emulators.lwa import LwaEmulator, TokenAuthority
from adlake_tests.emulators.salesforce import SalesforceEmulator
from adlake_tests.emulators.selling_partner import SellingPartnerEmulator
from adlake_tests.emulators.server import EmulatorServer

LOOPBACK = ("127.0.0.1", "localhost")
log = logging.getLogger("adlake.emulators")


def loopback_port(url: str | None) -> int | None:
    """The port of a loopback URL, or None for anything else (a real Amazon host)."""
    if not url:
        return None
    parsed = urlparse(url)
    return parsed.port if parsed.hostname in LOOPBACK else None


def ads_profiles(profile_ids: list[str]) -> list[dict]:
    """Emulated profiles carrying the configured ids (US, CA, MX details, in turn)."""
    profiles = []
    for index, profile_id in enumerate(profile_ids):
        profile = copy.deepcopy(DEFAULT_PROFILES[index % len(DEFAULT_PROFILES)])
        profile["profileId"] = int(profile_id)
        profiles.append(profile)
    return profiles


def amc_emulator(authority: TokenAuthority, source: AmcSourceConfig, client_id: str) -> AmcEmulator:
    """An AMC emulator holding the source's tenants as its instances."""
    emulator = AmcEmulator(authority, polls_to_complete=3)
    emulator.instances = {
        tenant.instance_id: {"entity_id": tenant.entity_id, "marketplace_id": tenant.marketplace_id}
        for tenant in source.tenants.values()
    }
    emulator.client_ids.add(client_id)
    return emulator


def build_servers() -> list[tuple[EmulatorServer, int]]:
    """The emulators the configuration points at, each with the port it must listen on."""
    config = load_config()
    secrets = LocalSecretsResource(
        env_prefix=config.secrets.env_prefix,
        file=str(config.resolve(config.secrets.file)) if config.secrets.file else None,
    )
    authority = TokenAuthority()
    lwa = LwaEmulator(authority)
    servers: dict[int, EmulatorServer] = {}
    destinations = {n: d for n, d in config.destinations.items() if d.kind == "amazon_ads"}
    for name, source in [*config.pull_sources().items(), *destinations.items()]:
        api_port, token_port = loopback_port(source.endpoint), loopback_port(source.token_url)
        if api_port is None and token_port is None:
            continue
        names = source.credentials
        try:
            client_id = secrets.get(names.client_id)
            lwa.register(
                client_id, secrets.get(names.client_secret), secrets.get(names.refresh_token)
            )
        except SecretNotFound as exc:
            raise SystemExit(f"adlake emulators: {name}: {exc} (run `adlake init`)") from None
        if token_port is not None:
            servers[token_port] = lwa
        if api_port is None:
            continue
        if name in destinations:
            audiences = AmazonAudiencesEmulator(authority)
            audiences.client_ids.add(client_id)
            if source.advertiser_id:
                audiences.advertisers.add(int(source.advertiser_id))
            if source.connection_id:
                audiences.connections.add(source.connection_id)
            servers[api_port] = audiences
        elif isinstance(source, AmcSourceConfig):
            servers[api_port] = amc_emulator(authority, source, client_id)
        elif isinstance(source, AmazonAdsSourceConfig):
            ads = AmazonAdsEmulator(authority, polls_to_complete=3)
            ads.profiles = ads_profiles(source.profiles)
            ads.client_ids.add(client_id)
            servers[api_port] = ads
        else:
            sp = SellingPartnerEmulator(authority, polls_to_complete=3)
            servers[api_port] = sp
    for name, source in config.sources.items():
        if isinstance(source, RestSourceConfig) and (port := loopback_port(source.base_url)):
            try:
                servers[port] = saas_emulator(source, secrets.get)
            except SecretNotFound as exc:
                raise SystemExit(f"adlake emulators: {name}: {exc} (run `adlake init`)") from None
    return [(server, port) for port, server in servers.items()]


def saas_emulator(source: RestSourceConfig, secret) -> EmulatorServer:  # noqa: ANN001
    """The Salesforce-style (base URL under /services/data) or HubSpot-style emulator of a source.

    It accepts the credentials the project's secrets hold (``adlake init`` writes them).
    """
    auth = source.auth
    if "/services/data/" in source.base_url:
        salesforce = SalesforceEmulator(contacts=5_000)
        if isinstance(auth, OAuthRefreshTokenAuth):
            salesforce.register(
                secret(auth.client_id), secret(auth.client_secret), secret(auth.refresh_token)
            )
        return salesforce
    hubspot = HubSpotEmulator()
    hubspot.contacts = 5_000
    if isinstance(auth, BearerAuth):
        hubspot.tokens.add(secret(auth.token))
    return hubspot


def main() -> int:
    """Start the emulators and serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    servers = build_servers()
    if not servers:
        log.info("no pull source points at 127.0.0.1 in adlake.yaml: nothing to emulate")
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for server, port in servers:
        server.start(port)
        log.info("%s emulator on %s", server.name, server.base_url)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server, _ in servers:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
