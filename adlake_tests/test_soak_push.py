"""Soak of the push pattern: 2,000 files over 30 days and 10 datasets arrive while sensors tick.

The files arrive in 10 waves of three days each, some with an old modification time (moved in
from a staging folder). After each wave every landing sensor ticks until it has nothing left,
and each run it asks for is executed in process, as the daemon would. The test checks that
every file became exactly one delivery in raw and left landing, that no run key was asked for
twice, that no tick asked for more than ``max_files_per_tick`` files, and that the files of a
day found in one tick shared a run. Landing keeps the files until the catalog step archives
them, so the last ticks list all 2,000 files and must still ask for none. It prints the runs
created against the files, and the slowest tick.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from adlake.config import load_config
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.storage import Lake

pytestmark = pytest.mark.soak

DATASETS = [f"orders_{n}" for n in range(10)]
FIRST_DAY = date(2026, 3, 1)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(30)]
FILES = 2_000
MAX_FILES_PER_TICK = 25
ROWS_PER_FILE = 4


def write_project(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A push source ``soak`` of 10 CSV datasets dated by file name."""
    dataset = {
        "format": "csv",
        "landing": {"date_from": "filename", "filename_date_format": "%Y-%m-%d"},
        "columns": {
            "order_id": {"type": "string", "required": True},
            "email": {"type": "string", "pii": {"policy": "sha256", "identifier": "email"}},
            "amount": {"type": "decimal", "precision": 10, "scale": 2},
        },
        "primary_key": ["order_id"],
        "start_date": FIRST_DAY.isoformat(),
    }
    document = {
        "lake": {"root": str(folder / "lake")},
        "catalog": {"duckdb_path": str(folder / "catalog.duckdb")},
        "secrets": {"file": None},
        "sensors": {"interval_seconds": 5, "max_files_per_tick": MAX_FILES_PER_TICK},
        "sources": {"soak": {"kind": "push", "datasets": dict.fromkeys(DATASETS, dataset)}},
    }
    path = folder / "adlake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("ADLAKE_CONFIG", str(path))
    return path


def file_plan() -> list[tuple[str, date, str]]:
    """(dataset, day, name) of the 2,000 files: 6 or 7 per dataset and day."""
    plan = []
    for index in range(FILES):
        dataset = DATASETS[index % len(DATASETS)]
        day = DAYS[(index // len(DATASETS)) % len(DAYS)]
        plan.append((dataset, day, f"{dataset}_{day.isoformat()}_{index:04d}.csv"))
    return plan


def deliver(lake_root: Path, dataset: str, day: date, name: str, straggler: bool) -> None:
    """Drop one file into landing; a straggler keeps a modification time from last week."""
    folder = lake_root / "landing" / "soak" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.removesuffix(".csv")
    rows = "".join(f"{stem}-{n},buyer{n}@example.com,{n}.50\n" for n in range(ROWS_PER_FILE))
    target = folder / name
    target.write_text("order_id,email,amount\n" + rows)
    if straggler:
        old = time.time() - 7 * 86_400
        os.utime(target, (old, old))


def test_two_thousand_files_are_each_ingested_once_with_bounded_ticks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write_project(tmp_path, monkeypatch))
    import adlake.definitions

    defs = adlake.definitions.defs()
    sensors = {s.name: s for s in defs.sensors if s.name.startswith("landing_soak__")}
    assert len(sensors) == len(DATASETS)
    instance = dg.DagsterInstance.ephemeral()
    lake_root = config.resolve(config.lake.root)
    cursors: dict[str, str | None] = dict.fromkeys(sensors)
    run_keys: list[str] = []
    tick_seconds: list[float] = []
    files_per_run: list[int] = []
    plan = sorted(file_plan(), key=lambda item: item[1])  # chronological, as partners send
    wave = len(plan) // 10
    for start in range(0, len(plan), wave):
        for n, (dataset, day, name) in enumerate(plan[start : start + wave]):
            deliver(lake_root, dataset, day, name, straggler=n % 17 == 0)
        for name, sensor in sensors.items():
            while True:  # tick until the sensor has nothing left, as successive ticks would
                began = time.monotonic()
                with dg.build_sensor_context(
                    instance=instance, cursor=cursors[name], resources=defs.resources
                ) as context:
                    result = sensor(context)
                tick_seconds.append(time.monotonic() - began)
                if isinstance(result, dg.SkipReason):
                    break
                cursors[name] = result.cursor
                requests = result.run_requests or []
                asked = [
                    len(r.run_config["ops"][next(iter(r.run_config["ops"]))]["config"]["files"])
                    for r in requests
                ]
                assert sum(asked) <= MAX_FILES_PER_TICK
                assert len({r.partition_key for r in requests}) == len(requests)  # a run per day
                for request in requests:
                    run_keys.append(request.run_key)
                    files_per_run.append(asked[requests.index(request)])
                    run = dg.materialize(
                        list(defs.assets),
                        selection=request.asset_selection,
                        resources=defs.resources,
                        instance=instance,
                        partition_key=request.partition_key,
                        run_config=request.run_config,
                        tags=request.tags,
                    )
                    assert run.success

    assert len(run_keys) == len(set(run_keys)), "a run key was asked for twice"
    assert sum(files_per_run) == FILES  # every file asked for exactly once
    store = Lake(lake_root)
    deliveries = []
    for dataset in DATASETS:
        ledger = DeliveryLedger(store, "soak", dataset)
        recorded = ledger.for_dates([d.isoformat() for d in DAYS])
        deliveries += [(dataset, d.origin) for d in recorded]
        assert {d.status for d in recorded} == {"raw"}
        assert sum(d.lines for d in recorded) == (FILES // len(DATASETS)) * (ROWS_PER_FILE + 1)
    assert len(deliveries) == FILES and len(set(deliveries)) == FILES  # once each, none doubled
    # landing keeps them until the catalog step archives them: every tick lists all 2,000,
    # and none is asked for again
    assert len(list((lake_root / "landing").rglob("*.csv"))) == FILES
    assert len(run_keys) < FILES / 2  # files of a day found in one tick share one run
    print(
        f"\nsoak: {FILES} files, {len(run_keys)} runs ({FILES / len(run_keys):.1f} files/run), "
        f"{len(tick_seconds)} ticks, slowest tick {max(tick_seconds):.2f} s, "
        f"median {sorted(tick_seconds)[len(tick_seconds) // 2]:.3f} s"
    )
