"""Daily aggregates: a yield report computed in SQL over clean events, published and queryable."""

from __future__ import annotations

import random
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import adlake.definitions
from adlake.config import ConfigError, load_config
from adlake.config.aggregates import AggregateConfig

DAY = "2026-11-30"
YIELD_SQL = """
SELECT ad_unit,
       count(*) AS requests,
       count(*) FILTER (WHERE filled) AS impressions,
       count(*) FILTER (WHERE filled)::DOUBLE / count(*) AS fill_rate,
       count(*) FILTER (WHERE won)::DOUBLE / nullif(count(bid_price), 0) AS win_rate,
       sum(price) FILTER (WHERE filled) / nullif(count(*) FILTER (WHERE filled), 0) * 1000
         AS ecpm,
       quantile_cont(bid_price, 0.25) FILTER (WHERE won) AS floor_suggestion
FROM adserver.auctions WHERE dt = {dt} GROUP BY ad_unit ORDER BY ad_unit
"""


def auctions(count: int) -> pa.Table:
    rng = random.Random(7)
    rows = []
    for n in range(count):
        bid = round(rng.uniform(0.1, 4.0), 2) if rng.random() < 0.8 else None
        won = bid is not None and rng.random() < 0.5
        rows.append({"request_id": f"r{n}", "ad_unit": f"unit{n % 3}", "bid_price": bid,
                     "won": won, "filled": won, "price": bid / 1000 if won else None})  # fmt: skip
    return pa.Table.from_pylist(rows)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    document = {
        "lake": {"root": str(tmp_path / "lake")},
        "catalog": {"duckdb_path": str(tmp_path / "catalog.duckdb")},
        "secrets": {"file": None},
        "sources": {
            "adserver": {
                "kind": "push",
                "datasets": {
                    "auctions": {
                        "format": "jsonl",
                        "columns": {
                            "request_id": {"type": "string"},
                            "ad_unit": {"type": "string"},
                            "bid_price": {"type": "double"},
                            "won": {"type": "boolean"},
                            "filled": {"type": "boolean"},
                            "price": {"type": "double"},
                        },
                        "primary_key": ["request_id"],
                    }
                },
            }
        },
        "aggregates": {"yield_daily": {"description": "Yield per ad unit.", "sql": YIELD_SQL}},
    }
    path = tmp_path / "adlake.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("ADLAKE_CONFIG", str(path))
    return tmp_path


def test_a_yield_report_per_ad_unit_is_published_and_queryable(project: Path) -> None:
    events = auctions(3_000)
    clean = project / "lake" / "clean" / "adserver" / "auctions" / f"dt={DAY}"
    clean.mkdir(parents=True)
    pq.write_table(events, clean / "data.parquet")
    defs = adlake.definitions.defs()
    result = dg.materialize(
        list(defs.assets),
        selection=["aggregates/yield_daily"],
        resources=defs.resources,
        partition_key=DAY,
        instance=dg.DagsterInstance.ephemeral(),
    )
    metadata = result.asset_materializations_for_node("aggregates__yield_daily")[0].metadata
    assert metadata["rows"].value == 3 and metadata["table"].value == "aggregates.yield_daily"

    rows = events.to_pylist()
    unit0 = [r for r in rows if r["ad_unit"] == "unit0"]
    filled = [r for r in unit0 if r["filled"]]
    with duckdb.connect(str(project / "catalog.duckdb"), read_only=True) as con:
        got = con.execute(
            "SELECT requests, impressions, fill_rate, win_rate, ecpm, dt FROM "
            "aggregates.yield_daily WHERE ad_unit = 'unit0'"
        ).fetchone()
    assert got[0] == len(unit0) and got[1] == len(filled)
    assert got[2] == pytest.approx(len(filled) / len(unit0))
    assert got[3] == pytest.approx(len(filled) / sum(r["bid_price"] is not None for r in unit0))
    assert got[4] == pytest.approx(sum(r["price"] for r in filled) / len(filled) * 1000)
    assert str(got[5]) == DAY


def test_an_aggregate_must_name_its_day_and_not_shadow_a_source(project: Path) -> None:
    path = project / "adlake.yaml"
    document = yaml.safe_load(path.read_text())
    document["aggregates"]["yield_daily"]["sql"] = "SELECT 1"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="aggregates.yield_daily.sql.*does not name the day"):
        load_config(path)
    document["aggregates"]["yield_daily"]["sql"] = YIELD_SQL
    document["sources"]["aggregates"] = document["sources"]["adserver"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(
        ConfigError, match="sources.aggregates.*the catalog schema of the aggregates"
    ):
        load_config(path)


def test_the_readme_aggregate_example_is_valid_config() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Aggregates: yield and reporting tables", 1)[1]
    example = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    aggregate = AggregateConfig.model_validate(example["aggregates"]["yield_daily"])
    assert "{dt}" in aggregate.sql and aggregate.schedule == "0 5 * * *"
