"""Execution tests: landing -> raw -> clean -> catalog with the project's resources on tmp_path."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.config import AdlakeConfig
from adlake.lake.storage import Lake
from adlake_tests.conftest import SAMPLE_DAYS

DATASETS = [("retail_partner", "pos_transactions"), ("crm", "contacts")]
# Sample rows are dated from the day before a delivery to the day after it (time zones).
RANGE = ("2026-03-05", "2026-03-10")
RANGE_DAYS = [f"2026-03-{day:02d}" for day in range(5, 11)]
# Three days of 200 POS rows, each day re-sending one corrected row and one amount "12,50".
POS_ROWS = {"rows_in": 603, "rows_out": 597, "duplicates": 3, "quarantined": 3}


def layer(name: str, source: str = "retail_partner", dataset: str = "pos_transactions") -> str:
    """An asset key string such as ``clean/retail_partner/pos_transactions``."""
    return f"{name}/{source}/{dataset}"


def materialize(
    defs: dg.Definitions,
    selection: list[str],
    instance: dg.DagsterInstance,
    partition: str | None = None,
    partition_range: tuple[str, str] | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """One run of the selected assets, for a partition or a partition range."""
    tags = {}
    if partition_range:
        tags = {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
    return dg.materialize(
        list(defs.assets),
        selection=selection,
        resources=defs.resources,
        instance=instance,
        partition_key=partition,
        tags=tags,
        raise_on_error=raise_on_error,
    )


def ingest_sample_days(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Raw runs for every sample delivery date, as the landing sensor would request them."""
    for day in SAMPLE_DAYS:
        materialize(defs, [layer("raw", s, d) for s, d in DATASETS], instance, partition=day)


def clean_and_catalog(
    defs: dg.Definitions, instance: dg.DagsterInstance, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """Clean and catalog of the POS dataset over RANGE, as one run."""
    return materialize(
        defs,
        [layer("clean"), layer("catalog")],
        instance,
        partition_range=RANGE,
        raise_on_error=raise_on_error,
    )


def digests(folder: Path, name: str) -> dict[str, str]:
    """SHA-256 of every file called ``name`` below a folder, by relative path."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob(name))
    }


def lake_dir(project: AdlakeConfig) -> Path:
    """The project's lake folder."""
    return project.resolve(project.lake.root)


def clean_dir(project: AdlakeConfig) -> Path:
    """The POS dataset's folder in the clean zone."""
    return lake_dir(project) / "clean" / "retail_partner" / "pos_transactions"


def catalog_count(project: AdlakeConfig, table: str = "retail_partner.pos_transactions") -> int:
    """Rows a user's query of the catalog sees."""
    path = project.resolve(project.catalog.duckdb_path)
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, dict[str, object]]:
    """Materialization metadata values of one asset in a run, by partition."""
    return {
        event.partition or "": {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == key
    }


def test_landing_to_catalog_in_one_range_run(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    lake = lake_dir(project)
    delivered = digests(lake / "landing", "*.*")
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    runs_before = len(instance.get_runs())

    result = materialize(
        adlake_defs,
        [layer(name, s, d) for name in ("clean", "catalog") for s, d in DATASETS],
        instance,
        partition_range=RANGE,
    )

    assert len(instance.get_runs()) == runs_before + 1
    clean = metadata(result, layer("clean"))
    assert sorted(clean) == RANGE_DAYS
    counts = {name: clean[RANGE[0]][name] for name in POS_ROWS}
    assert counts == POS_ROWS
    assert counts["rows_in"] == counts["rows_out"] + counts["duplicates"] + counts["quarantined"]
    stages = {k: v for k, v in clean[RANGE[0]].items() if k.startswith("seconds_")}
    assert set(stages) == {"seconds_stage", "seconds_finish", "seconds_publish"}
    assert all(0 <= seconds < 120 for seconds in stages.values())
    # each day also says what it holds itself: the days add up to the run's totals
    per_day = [clean[day]["partition_rows_out"] for day in RANGE_DAYS]
    assert sum(per_day) == POS_ROWS["rows_out"] and len(set(per_day)) > 1
    assert all(clean[day]["dagster/row_count"] == clean[day]["partition_rows_out"] for day in clean)
    # a range run points at the dataset's folder and lists the file of each day
    folder = lake / "clean" / "retail_partner" / "pos_transactions"
    assert clean[RANGE[0]]["partition_path"] == str(folder)
    listed = clean[RANGE[0]]["partition_files"]
    assert all(f"`{folder}/dt={day}/data.parquet`" in listed for day in RANGE_DAYS)
    assert "partition_url" not in clean[RANGE[0]]  # browsers refuse file:// links
    crm = metadata(result, layer("clean", "crm", "contacts"))[RANGE[0]]
    assert crm["rows_in"] == crm["rows_out"] + crm["duplicates"] + crm["quarantined"]
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed
        for c in result.get_asset_check_evaluations()
    }
    assert checks == {
        (layer("clean", s, d), check): True
        for s, d in DATASETS
        for check in ("rows_balance", "no_clear_pii")
    }

    assert catalog_count(project) == POS_ROWS["rows_out"]
    assert catalog_count(project, "crm.contacts") == crm["rows_out"]
    path = project.resolve(project.catalog.duckdb_path)
    with duckdb.connect(str(path), read_only=True) as con:
        days = con.execute(
            "SELECT CAST(dt AS VARCHAR), count(*) FROM retail_partner.pos_transactions GROUP BY 1"
        ).fetchall()
    assert {day for day, _ in days} <= set(RANGE_DAYS)
    assert sum(n for _, n in days) == POS_ROWS["rows_out"]

    assert len(delivered) == len(sample_landing)
    assert [p for p in (lake / "landing").rglob("*") if p.is_file()] == []
    assert digests(lake / "archive", "*.*") == delivered


def test_running_clean_again_writes_identical_files(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    clean_and_catalog(adlake_defs, instance)
    quarantine = lake_dir(project) / "quarantine" / "retail_partner" / "pos_transactions"
    first = digests(clean_dir(project), "data.parquet")
    first_quarantine = digests(quarantine, "rows.parquet")

    again = clean_and_catalog(adlake_defs, instance)

    assert sorted(first) == [f"dt={day}/data.parquet" for day in RANGE_DAYS]
    assert digests(clean_dir(project), "data.parquet") == first
    assert first_quarantine and digests(quarantine, "rows.parquet") == first_quarantine
    assert {k: metadata(again, layer("clean"))[RANGE[0]][k] for k in POS_ROWS} == POS_ROWS
    assert catalog_count(project) == POS_ROWS["rows_out"]


def redeliver_renamed(archived: Path, landing: Path) -> Path:
    """The partner sends the same file again under another name."""
    copy = landing / archived.name.replace(".csv", "_resent.csv")
    shutil.copyfile(archived, copy)
    return copy


def redeliver_touched(archived: Path, landing: Path) -> Path:
    """The partner sends the same file again under the same name, so it gets a new mtime."""
    copy = landing / archived.name
    shutil.copyfile(archived, copy)
    later = archived.stat().st_mtime_ns + 60 * 10**9
    os.utime(copy, ns=(later, later))
    return copy


@pytest.mark.parametrize("redeliver", [redeliver_renamed, redeliver_touched])
def test_a_file_that_lands_twice_is_ingested_once(
    project: AdlakeConfig,
    adlake_defs: dg.Definitions,
    sample_landing: list[Path],
    redeliver,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    clean_and_catalog(adlake_defs, instance)
    before = digests(clean_dir(project), "data.parquet")
    lake = lake_dir(project)
    landing = lake / "landing" / "retail_partner" / "pos_transactions"
    raw = lake / "raw" / "retail_partner" / "pos_transactions"
    raw_files = sorted(p for p in raw.rglob("*") if p.is_file())
    day = SAMPLE_DAYS[1]
    redeliver(lake / "archive" / "retail_partner" / "pos_transactions" / f"pos_{day}.csv", landing)

    result = materialize(adlake_defs, [layer("raw")], instance, partition=day)

    (raw_run,) = metadata(result, layer("raw")).values()
    assert (raw_run["files_ingested"], raw_run["files_duplicate"]) == (0, 1)
    assert sorted(p for p in raw.rglob("*") if p.is_file()) == raw_files
    ledger = lake / "state" / "retail_partner" / "pos_transactions" / "deliveries" / f"dt={day}"
    assert len(list(ledger.glob("*.json"))) == 2

    again = clean_and_catalog(adlake_defs, instance)

    assert {k: metadata(again, layer("clean"))[RANGE[0]][k] for k in POS_ROWS} == POS_ROWS
    assert digests(clean_dir(project), "data.parquet") == before
    assert catalog_count(project) == POS_ROWS["rows_out"]
    assert [p for p in landing.rglob("*") if p.is_file()] == []


def test_the_same_file_twice_in_one_raw_run_counts_once(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    day = SAMPLE_DAYS[1]
    original = next(p for p in sample_landing if p.name == f"pos_{day}.csv")
    redeliver_renamed(original, original.parent)

    result = materialize(adlake_defs, [layer("raw")], instance, partition=day)

    (raw_run,) = metadata(result, layer("raw")).values()
    assert (raw_run["files_ingested"], raw_run["files_duplicate"]) == (1, 1)
    cleaned = materialize(adlake_defs, [layer("clean")], instance, partition_range=RANGE)
    counts = metadata(cleaned, layer("clean"))[RANGE[0]]
    # one day's file: 200 rows, one corrected re-send and one bad amount; not 402 rows
    assert {k: counts[k] for k in POS_ROWS} == {
        "rows_in": 201,
        "rows_out": 199,
        "duplicates": 1,
        "quarantined": 1,
    }


def test_a_clean_run_that_fails_leaves_published_partitions_unchanged(
    project: AdlakeConfig,
    adlake_defs: dg.Definitions,
    sample_landing: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    clean_and_catalog(adlake_defs, instance)
    before = digests(clean_dir(project), "data.parquet")
    day = SAMPLE_DAYS[1]
    archived = lake_dir(project) / "archive" / "retail_partner" / "pos_transactions"
    correction = lake_dir(project) / "landing" / "retail_partner" / "pos_transactions"
    correction.mkdir(parents=True, exist_ok=True)
    lines = (archived / f"pos_{day}.csv").read_text().splitlines(keepends=True)
    (correction / f"pos_{day}_correction.csv").write_text("".join(lines[:50]).replace("USD", "EUR"))
    materialize(adlake_defs, [layer("raw")], instance, partition=day)

    def crash(self: Lake, staged: str, path: str) -> None:
        raise OSError(f"simulated crash while publishing {path}")

    with monkeypatch.context() as patch:
        patch.setattr(Lake, "publish", crash)
        failed = clean_and_catalog(adlake_defs, instance, raise_on_error=False)

    assert not failed.success
    assert "simulated crash" in str(failed.get_step_failure_events()[0].event_specific_data)
    assert digests(clean_dir(project), "data.parquet") == before
    assert catalog_count(project) == POS_ROWS["rows_out"]
    assert list((lake_dir(project) / "_tmp").glob("*")) == []

    clean_and_catalog(adlake_defs, instance)

    assert digests(clean_dir(project), "data.parquet") != before


def test_catalog_before_any_clean_partition_says_what_to_do(
    project: AdlakeConfig, adlake_defs: dg.Definitions
) -> None:
    instance = dg.DagsterInstance.ephemeral()

    result = materialize(
        adlake_defs, [layer("catalog")], instance, partition=SAMPLE_DAYS[0], raise_on_error=False
    )

    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    assert failure.step_failure_data.user_failure_data.description == (
        "retail_partner/pos_transactions has no clean partition yet, so there is nothing to "
        "register; materialize clean/retail_partner/pos_transactions first"
    )


def test_a_missing_hmac_key_fails_the_clean_run_and_says_where_to_set_it(
    project: AdlakeConfig,
    adlake_defs: dg.Definitions,
    sample_landing: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ADLAKE_SECRET_CRM_HMAC_KEY")
    instance = dg.DagsterInstance.ephemeral()
    day = SAMPLE_DAYS[0]
    materialize(adlake_defs, [layer("raw", "crm", "contacts")], instance, partition=day)

    result = materialize(
        adlake_defs, [layer("clean", "crm", "contacts")], instance, partition=day,
        raise_on_error=False,
    )  # fmt: skip

    assert not result.success
    (failure,) = result.get_step_failure_events()
    cause = failure.step_failure_data.error.cause
    secrets_file = project.resolve(project.secrets.file or "")
    assert cause is not None
    assert cause.message.strip().endswith(
        f"secret 'crm_hmac_key' is not set: set ADLAKE_SECRET_CRM_HMAC_KEY or add "
        f'"crm_hmac_key" to {secrets_file}'
    )
    assert not (lake_dir(project) / "clean" / "crm").exists()
