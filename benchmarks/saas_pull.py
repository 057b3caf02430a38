"""SaaS-pull benchmark: records/s of adlake's REST pull against a naive requests loop.

Run with ``uv run python benchmarks/saas_pull.py`` (``--records 100000``). The Salesforce-style
and HubSpot-style emulators run in this process with the same records for both contenders:

- ours: adlake's pull of the example source's ``contacts`` (auth, pagination, every page
  written to raw as a gzip JSON-lines part and checkpointed, deliveries recorded, cursor
  saved), and
- baseline: the loop people write first: ``requests.get``/``post`` page after page with the
  token in a header, ``response.json()``, the records appended to a list, one JSON-lines file
  written at the end (no retries, no checkpoint, everything in memory).

It prints records/s of both per API and the ratio, and ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def ours(source: dict[str, Any], folder: Path) -> int:
    """Pull the source's contacts with adlake; the number of records landed."""
    from adlake.config.rest import RestSourceConfig
    from adlake.connectors.rest import RestClient
    from adlake.lake.storage import Lake
    from adlake.saas import pull_resource
    from adlake_tests.saas_sources import SECRETS

    config = RestSourceConfig.model_validate(source)
    client = RestClient("bench", config, SECRETS.__getitem__)
    try:
        outcome = pull_resource(client, Lake(folder), "bench", config, "contacts", lambda _: None)
    finally:
        client.close()
    return outcome.records


def naive_salesforce(emulator: Any, folder: Path) -> int:
    """Token, then GET the query and each nextRecordsUrl, collect, write once."""
    import requests

    from adlake_tests.emulators.salesforce import (
        API_VERSION,
        TEST_CLIENT_ID,
        TEST_CLIENT_SECRET,
        TEST_REFRESH_TOKEN,
    )
    from adlake_tests.saas_sources import SOQL

    token = requests.post(
        emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": TEST_CLIENT_ID,
            "client_secret": TEST_CLIENT_SECRET,
            "refresh_token": TEST_REFRESH_TOKEN,
        },
        timeout=60,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Sforce-Query-Options": "batchSize=2000"}
    url = f"{emulator.base_url}/services/data/{API_VERSION}/query"
    params: dict[str, str] | None = {"q": SOQL.replace("{cursor}", "2025-12-31T00:00:00Z")}
    records: list[dict[str, Any]] = []
    with requests.Session() as session:
        while url:
            body = session.get(url, params=params, headers=headers, timeout=60).json()
            records += body["records"]
            following = body.get("nextRecordsUrl")
            url, params = (urljoin(url, following), None) if following else ("", None)
    return _write(records, folder)


def naive_hubspot(emulator: Any, folder: Path) -> int:
    """POST the search page after page (a new query every 10,000), collect, write once."""
    import requests

    from adlake_tests.emulators.hubspot import TEST_TOKEN
    from adlake_tests.saas_sources import hubspot_source

    body_template = hubspot_source(emulator.base_url)["resources"]["contacts"]["json"]
    url = f"{emulator.base_url}/crm/v3/objects/contacts/search"
    headers = {"Authorization": f"Bearer {TEST_TOKEN}"}
    records: list[dict[str, Any]] = []
    since, after = "0", None
    with requests.Session() as session:
        while True:
            body = json.loads(json.dumps(body_template).replace("{cursor}", since))
            if after is not None:
                body["after"] = after
            answer = session.post(url, json=body, headers=headers, timeout=60).json()
            records += answer["results"]
            after = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if after is None:
                break
            if int(after) >= 10_000:
                since, after = _epoch_ms(records[-1]["properties"]["lastmodifieddate"]), None
    return _write(records, folder)


def _epoch_ms(iso: str) -> str:
    from datetime import datetime

    return str(int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


def _write(records: list[dict[str, Any]], folder: Path) -> int:
    with (folder / "records.jsonl").open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")
    return len(records)


def timed(function, *args: Any) -> tuple[float, int]:  # noqa: ANN001
    """Seconds and records of one call, in a fresh temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        count = function(*args, Path(folder))
        return time.perf_counter() - started, count


def main() -> None:
    """Run both contenders against both emulators and print the figures."""
    from adlake_tests.emulators.hubspot import HubSpotEmulator
    from adlake_tests.emulators.salesforce import SalesforceEmulator
    from adlake_tests.saas_sources import hubspot_source, salesforce_source

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    figures: dict[str, Any] = {"benchmark": "saas_pull", "records": args.records}
    lines = [f"{args.records:,} contacts per API"]
    with SalesforceEmulator(contacts=args.records) as sf, HubSpotEmulator() as hs:
        hs.contacts = args.records
        contenders = {
            "salesforce": (salesforce_source(sf), naive_salesforce, sf),
            "hubspot": (hubspot_source(hs.base_url), naive_hubspot, hs),
        }
        for api, (source, naive, emulator) in contenders.items():
            mine, mine_count = timed(ours, source)
            base, base_count = timed(naive, emulator)
            assert mine_count == base_count == args.records, (api, mine_count, base_count)
            ours_rate, base_rate = args.records / mine, args.records / base
            lines.append(
                f"  {api}: ours {ours_rate:,.0f} records/s ({mine:.1f} s), naive loop "
                f"{base_rate:,.0f} records/s ({base:.1f} s), ratio {ours_rate / base_rate:.2f}"
            )
            figures[f"{api}_ours_records_per_s"] = round(ours_rate)
            figures[f"{api}_baseline_records_per_s"] = round(base_rate)
            figures[f"{api}_ratio"] = round(ours_rate / base_rate, 3)
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
