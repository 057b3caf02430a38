"""SaaS pulls against the Salesforce-style and HubSpot-style emulators, through the runner.

What lands in raw is read back and compared with what the emulators hold: 100,000 records
over many pages, a second pull that fetches only what changed, a pull killed mid-pagination
that resumes without loss or doubles, an expired token refreshed, 429s waited out, 4xx
messages surfaced, parent -> child requests, and config mistakes caught at load.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from adlake.config import ConfigError, load_config
from adlake.config.rest import RestSourceConfig
from adlake.connectors.http import ApiError
from adlake.connectors.rest import RestClient
from adlake.lake.deliveries import DeliveryLedger, current_deliveries
from adlake.lake.storage import Lake
from adlake.saas import pull_resource, saved_cursor
from adlake_tests.emulators.fixtures_ads import FAST_HTTP, SleepRecorder
from adlake_tests.emulators.hubspot import HubSpotEmulator, campaign_id, campaign_metrics
from adlake_tests.emulators.salesforce import SalesforceEmulator
from adlake_tests.saas_sources import SECRETS, hubspot_source, salesforce_source


def landed(lake: Lake, resource: str) -> list[dict[str, Any]]:
    """Every record of every recorded delivery of a resource today, in delivery order."""
    today = datetime.now(tz=UTC).date().isoformat()
    rows: list[dict[str, Any]] = []
    for delivery in current_deliveries(DeliveryLedger(lake, "crm", resource).for_dates([today])):
        with gzip.open(lake.full(delivery.raw_path), "rt") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


class Puller:
    """One source's client and lake: pull a resource as a run does."""

    def __init__(self, tmp_path: Path, source: dict[str, Any], sleeps: SleepRecorder) -> None:
        self.config = RestSourceConfig.model_validate(source)
        self.lake = Lake(tmp_path / "lake")
        self.sleeps = sleeps

    def client(self) -> RestClient:
        return RestClient(
            "crm", self.config, SECRETS.__getitem__, settings=FAST_HTTP, sleep=self.sleeps
        )

    def pull(self, resource: str, client: RestClient | None = None):  # noqa: ANN201
        own = client or self.client()
        try:
            return pull_resource(own, self.lake, "crm", self.config, resource, lambda _: None)
        finally:
            if client is None:
                own.close()


@pytest.fixture
def sf(tmp_path: Path, salesforce: SalesforceEmulator, sleeps: SleepRecorder) -> Puller:
    return Puller(tmp_path / "salesforce", salesforce_source(salesforce), sleeps)


@pytest.fixture
def hs(tmp_path: Path, hubspot: HubSpotEmulator, sleeps: SleepRecorder) -> Puller:
    return Puller(tmp_path / "hubspot", hubspot_source(hubspot.base_url), sleeps)


def test_salesforce_100k_contacts_then_only_what_changed(
    sf: Puller, salesforce: SalesforceEmulator
) -> None:
    salesforce.contacts = 100_000
    first = sf.pull("contacts")
    assert (first.records, first.pages) == (100_000, 50)
    ids = [r["Id"] for r in landed(sf.lake, "contacts")]
    assert len(ids) == len(set(ids)) == 100_000
    assert first.cursor_to == salesforce.latest_stamp("Contact")
    assert saved_cursor(sf.lake, "crm", "contacts") == first.cursor_to

    touched = salesforce.touch("Contact", [5, 50_000, 99_999])
    added = salesforce.add("Contact", 2)
    second = sf.pull("contacts")
    assert second.records == 5 and second.pages == 1
    assert [r["Id"] for r in landed(sf.lake, "contacts")][-5:] == [*touched, *added]
    assert "SystemModstamp > " + first.cursor_to[:19] in salesforce.queries[-1]
    third = sf.pull("contacts")
    assert third.records == 0 and third.cursor_from == second.cursor_to


def test_a_pull_killed_mid_pagination_resumes_without_loss_or_doubles(
    sf: Puller, salesforce: SalesforceEmulator
) -> None:
    salesforce.contacts = 10_000
    salesforce.fail_after_pages(2, status=400)  # the third page fails for good: the run dies
    with pytest.raises(ApiError):
        sf.pull("contacts")
    assert landed(sf.lake, "contacts") == []  # nothing recorded yet; two pages kept in raw
    assert saved_cursor(sf.lake, "crm", "contacts") is None
    resumed = sf.pull("contacts")
    assert resumed.resumed_pages == 2 and not resumed.restarted
    ids = [r["Id"] for r in landed(sf.lake, "contacts")]
    assert len(ids) == len(set(ids)) == 10_000
    assert salesforce.calls["query"] == 1  # the resume went on with the saved nextRecordsUrl


def test_a_stale_saved_request_restarts_the_pull_and_drops_the_broken_pages(
    sf: Puller, salesforce: SalesforceEmulator
) -> None:
    salesforce.contacts = 6_000
    salesforce.fail_after_pages(1, status=400)
    with pytest.raises(ApiError):
        sf.pull("contacts")
    checkpoint = sf.lake.read_json("state/crm/rest/contacts/pull.json")
    checkpoint["next"]["url"] = checkpoint["next"]["url"].rsplit("/", 1)[0] + "/01gEXPIRED-2000"
    sf.lake.write_json("state/crm/rest/contacts/pull.json", checkpoint)
    again = sf.pull("contacts")
    assert again.restarted and again.records == 6_000
    ids = [r["Id"] for r in landed(sf.lake, "contacts")]
    assert len(ids) == len(set(ids)) == 6_000


def test_an_expired_token_is_refreshed_mid_run_and_429s_are_waited_out(
    hs: Puller, sf: Puller, salesforce: SalesforceEmulator, hubspot: HubSpotEmulator
) -> None:
    salesforce.contacts = 6_000
    client = sf.client()
    real_page = client.page
    pages = {"n": 0}

    def expire_after_first(resource, request):  # noqa: ANN001, ANN202
        pages["n"] += 1
        if pages["n"] == 2:
            salesforce.expire_tokens()
        return real_page(resource, request)

    client.page = expire_after_first  # type: ignore[method-assign]
    assert sf.pull("contacts", client).records == 6_000
    assert salesforce.grants.count("refresh_token") == 2

    hubspot.rate_limit_every = 3
    hubspot.rate_limit_retry_after = 2
    outcome = hs.pull("contacts")
    assert outcome.records == 1_000 and hs.sleeps.delays.count(2) >= 2


def test_hubspot_100k_contacts_across_the_10k_search_cap_then_only_changes(
    hs: Puller, hubspot: HubSpotEmulator
) -> None:
    hubspot.contacts = 100_000
    first = hs.pull("contacts")
    ids = [r["id"] for r in landed(hs.lake, "contacts")]
    assert first.records == 100_000 and len(set(ids)) == 100_000
    starts = {s["filterGroups"][0]["filters"][0]["value"] for s in hubspot.searches}
    assert len(starts) == 10  # a new query from the newest stamp every 10,000 results
    touched = hubspot.touch([0, 77_777])
    second = hs.pull("contacts")
    assert second.records == 2 and [r["id"] for r in landed(hs.lake, "contacts")][-2:] == touched


def test_parent_to_child_requests_one_child_call_per_parent(
    hs: Puller, hubspot: HubSpotEmulator
) -> None:
    assert hs.pull("campaigns").records == 20
    metrics = hs.pull("campaign_metrics")
    rows = landed(hs.lake, "campaign_metrics")
    assert metrics.records == 20 and len(rows) == 20
    first = rows[0]
    assert first["campaign_id"] == campaign_id(0)
    expected = campaign_metrics(campaign_id(0), date(2026, 1, 1), date(2026, 1, 31))
    assert first["sessions"] == expected["sessions"]


def test_a_4xx_carries_the_server_s_message_and_no_secret(
    tmp_path: Path, salesforce: SalesforceEmulator, sleeps: SleepRecorder
) -> None:
    bad = Puller(
        tmp_path,
        salesforce_source(
            salesforce, params={"q": "SELECT Nope FROM Contact WHERE SystemModstamp > {cursor}"}
        ),
        sleeps,
    )
    with pytest.raises(ApiError, match="No such column 'Nope'") as refused:
        bad.pull("contacts")
    assert "GET " in str(refused.value) and SECRETS["salesforce_client_secret"] not in str(
        refused.value
    )


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"paginator": {"type": "curser"}}, "paginator", "'curser'"),
        ({"records": "$.records["}, "records", "not a JSONPath"),
        ({"path": "/query/{locator}"}, "path", "placeholder {locator} is filled by nothing"),
        ({"parent": {"resource": "acounts", "fields": {"x": "Id"}}}, "parent.resource",
         "no resource 'acounts'"),
    ],
)  # fmt: skip
def test_config_mistakes_fail_at_load_naming_the_key(
    tmp_path: Path, salesforce: SalesforceEmulator, change: dict, key: str, fragment: str
) -> None:
    path = tmp_path / "adlake.yaml"
    path.write_text(yaml.safe_dump({"sources": {"crm": salesforce_source(salesforce, **change)}}))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert f"sources.crm.resources.contacts.{key}" in str(error.value)
    assert fragment in str(error.value)


def test_the_readme_rest_source_example_is_valid_config() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## SaaS sources: declarative REST", 1)[1]
    example = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    source = RestSourceConfig.model_validate(example["sources"]["salesforce"])
    contacts = source.resources["contacts"]
    assert contacts.paginator.type == "next_url" and contacts.incremental is not None
    assert source.secret_names() == {
        "salesforce_client_id",
        "salesforce_client_secret",
        "salesforce_refresh_token",
    }


KILLER = """
import os, signal, sys
from pathlib import Path
from adlake.config.rest import RestSourceConfig
from adlake.connectors.rest import RestClient
from adlake.lake.storage import Lake
from adlake.saas import pull_resource
from adlake_tests.saas_sources import SECRETS, salesforce_source
import adlake.lake.storage as storage

source, lake_root, point, after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
config = RestSourceConfig.model_validate_json(Path(source).read_text())
count = {"n": 0}
if point == "after_fetch":
    real = RestClient.page
    def page(self, resource, request):
        result = real(self, resource, request)
        count["n"] += 1
        if count["n"] == after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    RestClient.page = page
else:  # after a part is in raw, before the checkpoint names it
    real_publish = storage.Lake.publish
    def publish(self, staged, path):
        real_publish(self, staged, path)
        if "/part-" in path:
            count["n"] += 1
            if count["n"] == after:
                os.kill(os.getpid(), signal.SIGKILL)
    storage.Lake.publish = publish
client = RestClient("crm", config, SECRETS.__getitem__)
pull_resource(client, Lake(Path(lake_root)), "crm", config, "contacts", print)
"""


@pytest.mark.parametrize("point", ["after_fetch", "after_part"])
def test_a_pull_killed_with_sigkill_resumes_without_loss_or_doubles(
    tmp_path: Path, salesforce: SalesforceEmulator, sleeps: SleepRecorder, point: str
) -> None:
    import subprocess
    import sys

    salesforce.contacts = 12_000
    puller = Puller(tmp_path, salesforce_source(salesforce), sleeps)
    source_file = tmp_path / "source.json"
    source_file.write_text(puller.config.model_dump_json(by_alias=True))
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    done = subprocess.run(
        [sys.executable, str(script), str(source_file), str(tmp_path / "lake"), point, "3"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    assert landed(puller.lake, "contacts") == []
    resumed = puller.pull("contacts")
    ids = [r["Id"] for r in landed(puller.lake, "contacts")]
    assert len(ids) == len(set(ids)) == 12_000
    assert resumed.resumed_pages == 2  # the third page was fetched (or written) unrecorded
    parts = list((tmp_path / "lake" / "raw" / "crm" / "contacts").rglob("part-*.jsonl.gz"))
    assert len(parts) == resumed.pages == 6  # a part written before the kill was overwritten
