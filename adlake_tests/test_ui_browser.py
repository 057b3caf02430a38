"""The Dagster UI as a user sees it: the sample project under ``dagster dev``, in a real browser.

``adlake init`` writes the sample project's data into a fresh folder and ``dagster dev`` serves
it, the way the README's first command does. Debian's Chromium, driven by Playwright (never a
downloaded browser), opens the asset graph and finds every group and asset the definitions
hold, reads a clean asset's owners, tags and PII-tagged columns, launches one partition from
the asset page's Materialize dialog, waits for the run, and reads the row count back from the
partition's metadata, checked against the file in the lake. Screenshots of each page go to
``test-artifacts/ui/``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from adlake_tests.conftest import REPO, SAMPLE_CONFIG, link_examples
from adlake_tests.servers._process import stop_group

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOCATION = "adlake"  # workspace.yaml's code location
START_SECONDS = 240
RUN_SECONDS = 240
ASSET = "clean/retail_partner/pos_transactions"


@dataclass(frozen=True)
class DevServer:
    """A running ``dagster dev`` of the sample project: its URL, folder and environment."""

    url: str
    folder: Path
    env: dict[str, str]
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serving(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """``adlake init`` then ``dagster dev`` in a fresh folder, as the README's first command."""
    folder = tmp_path_factory.mktemp("ui_project")
    shutil.copy(SAMPLE_CONFIG, folder / "adlake.yaml")
    link_examples(folder)
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "ADLAKE_CONFIG": str(folder / "adlake.yaml"), "DAGSTER_HOME": str(home)}
    adlake = Path(sys.executable).with_name("adlake")
    subprocess.run([str(adlake), "init"], cwd=folder, env=env, check=True, capture_output=True)
    url = f"http://127.0.0.1:{_free_port()}"
    log = folder / "dagster_dev.log"
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _serving(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dagster dev did not start: {log.read_text()[-3000:]}")
            time.sleep(1)
        yield DevServer(url, folder, env, log)
    finally:
        _stop(server)


def _stop(server: subprocess.Popen) -> None:
    """Stop dagster dev and everything it started (webserver, daemon, code server, runs)."""
    stop_group(server)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, under Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make tools` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, dev_server: DevServer):
    """A fresh browser page, tall enough that every asset of a group renders."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 2400})
    context.set_default_timeout(60_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


def open_ui(page, dev_server: DevServer, path: str) -> None:
    """Open a UI page; dismiss the first-visit community dialog if it shows."""
    page.goto(dev_server.url + path)
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=3_000)
        skip.click()
    except Exception:  # the dialog shows on a browser's first visit only
        pass


def expected_groups(dev_server: DevServer) -> dict[str, list[str]]:
    """Each group's asset keys as the UI writes them ("raw / source / dataset")."""
    script = (
        "import json, adlake.definitions as d\n"
        "groups = {}\n"
        "for spec in d.defs().resolve_all_asset_specs():\n"
        "    groups.setdefault(spec.group_name, []).append(' / '.join(spec.key.path))\n"
        "print(json.dumps(groups))\n"
    )
    import json

    found = subprocess.run(
        [sys.executable, "-c", script], cwd=dev_server.folder, env=dev_server.env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(found.stdout.strip().splitlines()[-1])


def test_the_asset_graph_shows_every_group_and_each_group_lists_its_assets(
    page, dev_server: DevServer
) -> None:
    groups = expected_groups(dev_server)
    assert {"retail_partner", "crm", "ad_server", "amazon_ads", "audiences"} <= set(groups)

    open_ui(page, dev_server, "/asset-groups")
    page.get_by_text("Materialize all").first.wait_for()
    for group in groups:
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=ARTIFACTS / "asset_graph.png")

    for group, keys in sorted(groups.items()):
        open_ui(page, dev_server, f"/locations/{LOCATION}/asset-groups/{group}/list")
        page.get_by_text("Asset name", exact=True).first.wait_for()
        missing = until_shown(page, keys)
        assert not missing, f"group {group} does not show {missing}"
    page.screenshot(path=ARTIFACTS / "asset_group_list.png")


def until_shown(page, texts: list[str], seconds: float = 30) -> list[str]:
    """Wait until the page shows every text; the ones still missing when time is up."""
    deadline = time.monotonic() + seconds
    while True:
        shown = page.inner_text("body")
        missing = [text for text in texts if text not in shown]
        if not missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def test_a_clean_asset_page_shows_owners_tags_and_the_columns_that_hold_hashed_pii(
    page, dev_server: DevServer
) -> None:
    open_ui(page, dev_server, "/assets/clean/crm/contacts")
    page.get_by_text("Columns", exact=True).first.wait_for()
    missing = until_shown(
        page,
        [
            "crm-admins@example.com",  # owners, from sources.crm.owners
            "domain: customers",  # tags, from sources.crm.tags
            "layer: clean",
            "PII: sha256 of normalized email",  # the column's note and tags
            "pii: sha256",
            "pii_identifier: email",
            "pii: hmac",
        ],
    )
    page.screenshot(path=ARTIFACTS / "clean_asset_overview.png", full_page=True)
    assert not missing, f"the clean asset's page does not show {missing}"


def launch_partition(page, dev_server: DevServer, asset: str, partition: str) -> str:
    """Launch one partition of an asset from its page's Materialize dialog; the run's id."""
    open_ui(page, dev_server, f"/assets/{asset}")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.locator("[role=dialog]")
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(partition)
    partitions.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    page.screenshot(path=ARTIFACTS / f"launch_{asset.replace('/', '__')}.png")
    dialog.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    toast.wait_for()
    link = page.locator("a[href^='/runs/']", has_text="View").first
    return link.get_attribute("href").rsplit("/", 1)[1]


def wait_for_success(page, dev_server: DevServer, run_id: str) -> None:
    """Open the run's page and wait until it says Success; fail on Failure."""
    open_ui(page, dev_server, f"/runs/{run_id}")
    deadline = time.monotonic() + RUN_SECONDS
    header = page.locator("body")
    while time.monotonic() < deadline:
        text = header.inner_text()
        if re.search(r"\bSuccess\b", text):
            return
        if re.search(r"\bFailure\b", text):
            page.screenshot(path=ARTIFACTS / f"run_{run_id}.png")
            pytest.fail(f"run {run_id} failed; see {ARTIFACTS}/run_{run_id}.png")
        time.sleep(2)
    pytest.fail(
        f"run {run_id} did not finish in {RUN_SECONDS} s: {dev_server.log.read_text()[-2000:]}"
    )


def test_a_partition_launched_from_the_ui_succeeds_and_shows_its_row_count(
    page, dev_server: DevServer
) -> None:
    day = (datetime.now(tz=UTC).date() - timedelta(days=1)).isoformat()  # adlake init's last day
    for asset in ("raw/retail_partner/pos_transactions", ASSET):
        wait_for_success(page, dev_server, launch_partition(page, dev_server, asset, day))
    page.screenshot(path=ARTIFACTS / "run_succeeded.png")

    open_ui(page, dev_server, f"/assets/{ASSET}?view=partitions&partition={day}")
    # the day's own count: the sample's automation may clean this day again in a range run,
    # whose rows_out is the range's total
    page.get_by_text("partition_rows_out", exact=True).first.wait_for()
    page.screenshot(path=ARTIFACTS / "partition_metadata.png", full_page=True)
    shown = re.search(r"partition_rows_out\s+([\d,]+)", page.inner_text("body"))
    assert shown, "the partition's metadata has no partition_rows_out"
    clean_file = dev_server.folder / ".adlake" / "lake" / ASSET / f"dt={day}" / "data.parquet"
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{clean_file}')").fetchone()[0]
    assert rows > 0
    assert int(shown.group(1).replace(",", "")) == rows
