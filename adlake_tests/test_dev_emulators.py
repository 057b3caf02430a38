"""`make dev` offline: adlake init writes emulator credentials, the emulators serve the sample
config's ports, and a day of Amazon Ads data is pulled with the sample adlake.yaml."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from adlake.cli import main
from adlake.config import load_config
from adlake_tests.conftest import REPO, SAMPLE_CONFIG, link_examples


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sample_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample adlake.yaml with its emulator ports moved to free ones (parallel-safe)."""
    document = yaml.safe_load(SAMPLE_CONFIG.read_text())
    lwa, ads, sp, audiences, amc, sf, hs = (free_port() for _ in range(7))
    places = [(document["sources"]["amazon_ads"], ads), (document["sources"]["seller"], sp)]
    places.append((document["sources"]["amc"], amc))
    for place, port in [*places, (document["destinations"]["amazon_dsp"], audiences)]:
        place["endpoint"] = f"http://127.0.0.1:{port}"
        place["token_url"] = f"http://127.0.0.1:{lwa}/auth/o2/token"
    salesforce = document["sources"]["salesforce"]
    salesforce["base_url"] = f"http://127.0.0.1:{sf}/services/data/v60.0"
    salesforce["auth"]["token_url"] = f"http://127.0.0.1:{sf}/services/oauth2/token"
    document["sources"]["hubspot"]["base_url"] = f"http://127.0.0.1:{hs}"
    config = tmp_path / "adlake.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    link_examples(tmp_path)
    monkeypatch.setenv("ADLAKE_CONFIG", str(config))
    for variable in [v for v in os.environ if v.startswith("ADLAKE_SECRET_")]:
        monkeypatch.delenv(variable)
    return config


@pytest.fixture
def emulators(sample_project: Path) -> Iterator[subprocess.Popen[str]]:
    """``python -m adlake_tests.emulators`` as make dev starts it, stopped after the test."""
    assert main(["init", "--days", "0"]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "adlake_tests.emulators"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    config = load_config(sample_project)
    ports = [int(u.rsplit(":", 1)[1].split("/")[0]) for u in (
        config.sources["amazon_ads"].endpoint, config.sources["seller"].endpoint,
        config.sources["amazon_ads"].token_url.removesuffix("/auth/o2/token"),
        config.destinations["amazon_dsp"].endpoint, config.sources["amc"].endpoint,
        config.sources["salesforce"].base_url.removesuffix("/services/data/v60.0"),
        config.sources["hubspot"].base_url,
    )]  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if all(_listening(port) for port in ports):
            break
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()[0]
    yield process
    process.terminate()
    process.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_init_writes_private_emulator_credentials_only_for_loopback_sources(
    sample_project: Path,
) -> None:
    assert main(["init", "--days", "0"]) == 0
    secrets_file = sample_project.parent / ".adlake" / "secrets.json"
    values = json.loads(secrets_file.read_text())
    assert {"amazon_client_id", "amazon_client_secret", "amazon_refresh_token"} <= set(values)
    assert secrets_file.stat().st_mode & 0o077 == 0

    document = yaml.safe_load(sample_project.read_text())
    places = [document["sources"][name] for name in ("amazon_ads", "seller", "amc")]
    for place in [*places, document["destinations"]["amazon_dsp"]]:  # Amazon: nothing made up
        del place["endpoint"], place["token_url"]
    document["sources"]["salesforce"]["base_url"] = (
        "https://example.my.salesforce.com/services/data/v60.0"
    )
    document["sources"]["hubspot"]["base_url"] = "https://api.hubapi.com"
    secrets_file.unlink()
    sample_project.write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["init", "--days", "0"]) == 0
    assert set(json.loads(secrets_file.read_text())) == {"crm_hmac_key"}


def test_the_sample_config_pulls_amazon_ads_offline(
    sample_project: Path, emulators: subprocess.Popen[str], tmp_path: Path
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    yesterday = (datetime.now(tz=UTC) - timedelta(days=1)).date().isoformat()
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "adlake.definitions",
         "--select", "raw/amazon_ads/sp_campaigns", "--partition", f"{yesterday}|1001"],
        cwd=tmp_path, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows landed over 1 day(s)" in result.stderr
    lake = sample_project.parent / ".adlake" / "lake"
    (entry,) = [
        json.loads(p.read_text()) for p in (lake / "state/amazon_ads/report_ledger").rglob("*.json")
    ]
    assert (entry["scope"], entry["status"], entry["rows"]) == ("1001", "landed", 5)
