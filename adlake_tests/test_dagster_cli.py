"""The command lines: Dagster's as a user's CI runs it (a day, then a range), and adlake init."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from adlake.cli import main
from adlake.config import AdlakeConfig
from adlake_tests.conftest import REPO, SAMPLE_DAYS

TIMEOUT = 180


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    """A Dagster instance folder configured like the one ``make dev`` uses."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    return home


def dagster(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dagster ...`` with the project's configuration and this instance."""
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "dagster", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_materialize_a_day_then_backfill_a_range_as_one_run(
    project: AdlakeConfig,
    sample_landing: list[Path],
    dagster_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = SAMPLE_DAYS[1]
    raw = dagster(
        "asset", "materialize", "-m", "adlake.definitions",
        "--select", "raw/retail_partner/pos_transactions", "--partition", day,
        home=dagster_home, cwd=tmp_path,
    )  # fmt: skip
    assert raw.returncode == 0, raw.stderr[-3000:]

    first, last = "2026-03-07", "2026-03-09"
    clean = dagster(
        "asset", "materialize", "-m", "adlake.definitions",
        "--select", "clean/retail_partner/pos_transactions",
        "--partition-range", f"{first}...{last}",
        home=dagster_home, cwd=tmp_path,
    )  # fmt: skip

    assert clean.returncode == 0, clean.stderr[-3000:]
    range_days = ["2026-03-07", "2026-03-08", "2026-03-09"]
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        ranged = [r for r in runs if r.tags.get("dagster/asset_partition_range_start")]
        assert len(ranged) == 1
        assert ranged[0].tags["dagster/asset_partition_range_start"] == first
        assert ranged[0].tags["dagster/asset_partition_range_end"] == last
        clean_key = dg.AssetKey(["clean", "retail_partner", "pos_transactions"])
        records = instance.fetch_materializations(clean_key, limit=100).records
        assert {r.run_id for r in records} == {ranged[0].run_id}
        assert sorted(r.partition_key or "" for r in records) == range_days
    lake = project.resolve(project.lake.root)
    raw_zone = lake / "raw" / "retail_partner" / "pos_transactions"
    assert [p.name for p in raw_zone.rglob("pos_*")] == [f"pos_{day}.csv"]
    clean_zone = lake / "clean" / "retail_partner" / "pos_transactions"
    assert sorted(p.parent.name for p in clean_zone.glob("dt=*/data.parquet")) == [
        f"dt={d}" for d in range_days
    ]


def test_definitions_validate(project: AdlakeConfig, dagster_home: Path, tmp_path: Path) -> None:
    result = dagster(
        "definitions", "validate", "-m", "adlake.definitions", home=dagster_home, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_dg_check_defs(project: AdlakeConfig, dagster_home: Path) -> None:
    dg_command = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg_command), "check", "defs"],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(dagster_home)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_adlake_init_writes_a_private_hmac_key_and_sample_files(project: AdlakeConfig) -> None:
    assert main(["init", "--days", "2"]) == 0

    secrets_file = project.resolve(project.secrets.file or "")
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    key = json.loads(secrets_file.read_text())["crm_hmac_key"]
    assert len(key) == 64
    landing = project.resolve(project.lake.root) / "landing"
    assert len([p for p in (landing / "retail_partner").rglob("*") if p.is_file()]) == 2
    assert len([p for p in (landing / "crm").rglob("*") if p.is_file()]) == 2
    # yesterday's hourly ad-server logs: 24 of bids and of impressions, clicks when there were
    assert len(list((landing / "ad_server" / "bids").rglob("bids_*.jsonl.gz"))) == 24

    assert main(["init", "--days", "0"]) == 0
    assert json.loads(secrets_file.read_text())["crm_hmac_key"] == key, "the key must be kept"


def test_adlake_init_refuses_a_broken_secrets_file(
    project: AdlakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets_file = project.resolve(project.secrets.file or "")
    secrets_file.parent.mkdir(parents=True)
    secrets_file.write_text('{"crm_hmac_key": ')

    assert main(["init", "--days", "0"]) == 2

    error = capsys.readouterr().err
    assert f"{secrets_file}: not valid JSON (line 1)" in error
    assert "Traceback" not in error
    assert secrets_file.read_text() == '{"crm_hmac_key": '
