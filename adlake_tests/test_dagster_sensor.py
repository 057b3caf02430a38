"""Landing sensor tests: evaluate one tick and assert run keys, partitions, run config, cursor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

import adlake.definitions
from adlake.config import AdlakeConfig
from adlake_tests.conftest import SAMPLE_DAYS

POS_SENSOR = "landing_retail_partner__pos_transactions_sensor"
CRM_SENSOR = "landing_crm__contacts_sensor"
POS_OP = "raw__retail_partner__pos_transactions"


def tick(
    defs: dg.Definitions, name: str, cursor: str | None = None
) -> dg.SensorResult | dg.SkipReason:
    """One evaluation of a sensor, with the resources Dagster would give it."""
    sensor = next(s for s in defs.sensors if s.name == name)
    with dg.build_sensor_context(cursor=cursor, resources=defs.resources) as context:
        return sensor(context)


def lake_relative(project: AdlakeConfig, path: Path) -> str:
    """The lake-relative path of a file, as run keys and run config name it."""
    return path.resolve().relative_to(project.resolve(project.lake.root).resolve()).as_posix()


def pos_files(sample_landing: list[Path]) -> list[Path]:
    """The sample POS files, oldest first."""
    return sorted((p for p in sample_landing if p.name.startswith("pos_")), key=lambda p: p.name)


def test_first_tick_requests_one_raw_run_per_file(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    files = pos_files(sample_landing)

    result = tick(adlake_defs, POS_SENSOR)

    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests or []
    expected_keys = []
    for file in files:
        stat = file.stat()
        expected_keys.append(f"{lake_relative(project, file)}:{stat.st_size}:{stat.st_mtime_ns}")
    assert [r.run_key for r in requests] == expected_keys
    assert [r.partition_key for r in requests] == list(SAMPLE_DAYS)
    for request, file in zip(requests, files, strict=True):
        assert request.asset_selection == [
            dg.AssetKey(["raw", "retail_partner", "pos_transactions"])
        ]
        assert request.run_config["ops"][POS_OP]["config"]["files"] == [
            lake_relative(project, file)
        ]
    last = files[-1]
    assert json.loads(result.cursor or "") == {
        "mtime_ns": last.stat().st_mtime_ns,
        "path": lake_relative(project, last),
        "requested": expected_keys,
    }


def test_folder_dated_files_get_the_folder_date(
    adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    result = tick(adlake_defs, CRM_SENSOR)

    assert isinstance(result, dg.SensorResult)
    assert [r.partition_key for r in result.run_requests or []] == list(SAMPLE_DAYS)


def test_second_tick_with_the_cursor_skips_until_a_new_file_lands(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    first = tick(adlake_defs, POS_SENSOR)
    assert isinstance(first, dg.SensorResult)

    second = tick(adlake_defs, POS_SENSOR, first.cursor)

    assert isinstance(second, dg.SkipReason)
    assert "no new files in landing/retail_partner/pos_transactions/" in (second.skip_message or "")

    newest = pos_files(sample_landing)[-1]
    late = newest.with_name("pos_2026-03-10.csv")
    late.write_bytes(newest.read_bytes())
    mark = newest.stat().st_mtime_ns + 1_000_000_000
    os.utime(late, ns=(mark, mark))

    third = tick(adlake_defs, POS_SENSOR, first.cursor)

    assert isinstance(third, dg.SensorResult)
    assert [r.run_key for r in third.run_requests or []] == [
        f"{lake_relative(project, late)}:{late.stat().st_size}:{mark}"
    ]
    assert [r.partition_key for r in third.run_requests or []] == ["2026-03-10"]


def test_a_file_without_a_date_is_reported_and_not_requested(
    project: AdlakeConfig,
    adlake_defs: dg.Definitions,
    sample_landing: list[Path],
    capfd: pytest.CaptureFixture[str],
) -> None:
    undated = pos_files(sample_landing)[0].with_name("pos_latest.csv")
    undated.write_text("transaction_id\nT1\n")
    path = lake_relative(project, undated)

    first = tick(adlake_defs, POS_SENSOR)

    assert isinstance(first, dg.SensorResult)
    assert len(first.run_requests or []) == len(SAMPLE_DAYS)
    assert all(path not in (r.run_key or "") for r in first.run_requests or [])
    assert path in capfd.readouterr().err

    second = tick(adlake_defs, POS_SENSOR, first.cursor)

    assert isinstance(second, dg.SkipReason)
    message = second.skip_message or ""
    assert "1 file(s) without a date are waiting" in message
    assert path in message
    assert "filename_date_format" in message


def test_max_files_per_tick_bounds_the_work(
    project: AdlakeConfig, sample_landing: list[Path]
) -> None:
    config_file = Path(os.environ["ADLAKE_CONFIG"])
    document = yaml.safe_load(config_file.read_text())
    document["sensors"]["max_files_per_tick"] = 2
    config_file.write_text(yaml.safe_dump(document, sort_keys=False))
    same = pos_files(sample_landing)[0].stat().st_mtime_ns
    for file in pos_files(sample_landing):  # equal times: the path breaks the tie
        os.utime(file, ns=(same, same))
    defs = adlake.definitions.defs()

    pages = []
    cursor = None
    for _ in range(3):
        result = tick(defs, POS_SENSOR, cursor)
        if isinstance(result, dg.SkipReason):
            break
        pages.append([r.partition_key for r in result.run_requests or []])
        cursor = result.cursor

    assert pages == [list(SAMPLE_DAYS[:2]), list(SAMPLE_DAYS[2:])]


def test_the_requested_run_ingests_exactly_its_file(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    result = tick(adlake_defs, POS_SENSOR)
    assert isinstance(result, dg.SensorResult)
    request = (result.run_requests or [])[1]
    raw_key = dg.AssetKey(["raw", "retail_partner", "pos_transactions"])
    raw = next(
        a for a in adlake_defs.assets if isinstance(a, dg.AssetsDefinition) and a.key == raw_key
    )

    run = dg.materialize(
        [raw],
        resources=adlake_defs.resources,
        run_config=request.run_config,
        partition_key=request.partition_key,
    )

    (materialization,) = run.asset_materializations_for_node(POS_OP)
    assert materialization.metadata["files_ingested"].value == 1
    lake = project.resolve(project.lake.root)
    copies = list((lake / "raw" / "retail_partner" / "pos_transactions").rglob("pos_*"))
    assert [p.name for p in copies] == [f"pos_{request.partition_key}.csv"]


def test_a_file_arriving_with_an_older_mtime_is_requested_once(
    project: AdlakeConfig, adlake_defs: dg.Definitions, sample_landing: list[Path]
) -> None:
    first = tick(adlake_defs, POS_SENSOR)
    assert isinstance(first, dg.SensorResult)
    oldest = pos_files(sample_landing)[0]
    moved = oldest.with_name("pos_2026-03-10.csv")  # like `mv` or `cp -p` from staging
    moved.write_bytes(b"transaction_id\nT1\n")
    old = oldest.stat().st_mtime_ns - 1_000_000_000
    os.utime(moved, ns=(old, old))

    second = tick(adlake_defs, POS_SENSOR, first.cursor)

    assert isinstance(second, dg.SensorResult)
    assert [r.run_key for r in second.run_requests or []] == [
        f"{lake_relative(project, moved)}:{moved.stat().st_size}:{old}"
    ]
    third = tick(adlake_defs, POS_SENSOR, second.cursor)
    assert isinstance(third, dg.SkipReason)
