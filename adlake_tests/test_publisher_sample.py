"""The sample publisher: hourly ad-server logs -> raw -> clean -> catalog -> yield aggregates.

The yield figures the aggregates publish are compared with figures computed in Python from the
generator's own events, so a wrong join, filter or rate fails here.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.config import AdlakeConfig
from adlake.sample_events import DATASETS, SOURCE, day_of_events, write_publisher_landing
from adlake.sensors.landing import sensor_name
from adlake_tests.conftest import REPO, SAMPLE_TODAY
from adlake_tests.test_dagster_flow import materialize, metadata
from adlake_tests.test_dagster_sensor import tick

DAY = date(2026, 3, 9)  # yesterday of SAMPLE_TODAY: the day write_publisher_landing writes
PER_HOUR = 30
AGGREGATES = ("yield_hourly", "revenue_daily", "floor_suggestions")


@pytest.fixture
def published(project: AdlakeConfig, adlake_defs: dg.Definitions) -> dg.DagsterInstance:
    """The sample day's logs through the landing sensor's runs, clean, catalog and aggregates."""
    lake = project.resolve(project.lake.root)
    written = write_publisher_landing(lake, SAMPLE_TODAY, auctions_per_hour=PER_HOUR)
    hours = {d: sum(f.parent.parent.name == d for f in written) for d in DATASETS}
    assert hours["bids"] == hours["impressions"] == 24 and 0 < hours["clicks"] < 24
    instance = dg.DagsterInstance.ephemeral()
    for dataset in DATASETS:
        result = tick(adlake_defs, sensor_name(SOURCE, dataset))
        requests = result.run_requests or []
        # the hourly files of one day become one raw run, not one per file
        assert [(r.partition_key, r.tags["adlake/landing_files"]) for r in requests] == [
            (DAY.isoformat(), str(hours[dataset]))
        ]
        dg.materialize(
            list(adlake_defs.assets),
            selection=[f"raw/{SOURCE}/{dataset}"],
            resources=adlake_defs.resources,
            instance=instance,
            partition_key=DAY.isoformat(),
            run_config=requests[0].run_config,
        )
    days = (DAY.isoformat(), date(2026, 3, 10).isoformat())
    layers = [f"{z}/{SOURCE}/{d}" for z in ("clean", "catalog") for d in DATASETS]
    result = materialize(adlake_defs, layers, instance, partition_range=days)
    for dataset in DATASETS:
        clean = metadata(result, f"clean/{SOURCE}/{dataset}")[DAY.isoformat()]
        assert clean["quarantined"] == 0
        if dataset == "bids":  # each hour's log repeats its first line once
            assert clean["duplicates"] == 24
    materialize(
        adlake_defs, [f"aggregates/{a}" for a in AGGREGATES], instance, partition=DAY.isoformat()
    )
    return instance


def expected_hourly() -> dict[tuple[int, str], dict[str, object]]:
    """Per (hour, ad unit): the yield figures, computed from the generator's events."""
    figures: dict[tuple[int, str], dict[str, object]] = defaultdict(
        lambda: {"auctions": set(), "bids": 0, "wins": 0, "impressions": 0, "price": Decimal(0)}
    )
    for _, events in day_of_events(DAY, PER_HOUR):
        for bid in events.bids:
            if not bid["ts"].startswith(DAY.isoformat()):
                continue
            row = figures[(int(bid["ts"][11:13]), bid["ad_unit"])]
            row["auctions"].add(bid["auction_id"])
            row["bids"] += bid["bid_price"] is not None
            row["wins"] += bid["won"]
        for shown in events.impressions:
            if shown["ts"].startswith(DAY.isoformat()):
                row = figures[(int(shown["ts"][11:13]), shown["ad_unit"])]
                row["impressions"] += 1
                row["price"] += Decimal(str(shown["price"]))
    return figures


def test_yield_per_hour_and_ad_unit_matches_the_events(
    project: AdlakeConfig, published: dg.DagsterInstance
) -> None:
    catalog = project.resolve(project.catalog.duckdb_path)
    with duckdb.connect(str(catalog), read_only=True) as con:
        rows = con.execute(
            "SELECT hour, ad_unit, requests, bids, impressions, fill_rate, win_rate, revenue, ecpm"
            " FROM aggregates.yield_hourly"
        ).fetchall()
    expected = expected_hourly()
    assert {(h, u) for h, u, *_ in rows} == set(expected)
    for hour, unit, requests, bids, impressions, fill, win, revenue, ecpm in rows:
        want = expected[(hour, unit)]
        assert (requests, bids, impressions) == (len(want["auctions"]), want["bids"],
                                                 want["impressions"])  # fmt: skip
        assert fill == pytest.approx(want["impressions"] / requests)
        assert win == (pytest.approx(want["wins"] / bids) if bids else None)
        assert revenue == pytest.approx(want["price"] / 1000, abs=Decimal("0.0000001"))
        if impressions:
            assert ecpm == pytest.approx(want["price"] / impressions, abs=Decimal("0.0001"))


def test_revenue_by_dimension_and_floor_suggestions_are_queryable(
    project: AdlakeConfig, published: dg.DagsterInstance
) -> None:
    catalog = project.resolve(project.catalog.duckdb_path)
    with duckdb.connect(str(catalog), read_only=True) as con:
        hourly = con.execute("SELECT sum(revenue), sum(impressions) FROM aggregates.yield_hourly")
        revenue, impressions = hourly.fetchone()
        by_dimension = con.execute(
            "SELECT sum(revenue), sum(impressions), sum(clicks), count(DISTINCT demand_partner)"
            " FROM aggregates.revenue_daily"
        ).fetchone()
        clicks = con.execute(
            "SELECT count(*) FROM ad_server.clicks WHERE dt = DATE '2026-03-09'"
        ).fetchone()[0]
        floors = con.execute(
            "SELECT ad_unit, current_floor, suggested_floor, winning_price_p25_p50_p90"
            " FROM aggregates.floor_suggestions ORDER BY ad_unit"
        ).fetchall()
    assert by_dimension[:2] == (revenue, impressions)
    assert by_dimension[2] <= clicks and by_dimension[3] == 5
    assert [unit for unit, *_ in floors] == sorted(
        ["article_mpu", "article_sidebar", "home_leaderboard", "video_preroll"]
    )
    for _, floor, suggested, (p25, p50, p90) in floors:
        # winning bids are at or above the floor, so the suggestion never lowers it
        assert floor <= Decimal(str(p25)) <= p50 <= p90
        assert suggested == pytest.approx(Decimal(str(p25)), abs=Decimal("0.0001"))


def test_publisher_logs_keep_no_clear_device_id_or_ip(
    project: AdlakeConfig, published: dg.DagsterInstance
) -> None:
    catalog = project.resolve(project.catalog.duckdb_path)
    with duckdb.connect(str(catalog), read_only=True) as con:
        columns = [c[0] for c in con.execute("DESCRIBE ad_server.impressions").fetchall()]
        device_ids = con.execute("SELECT device_id FROM ad_server.impressions").fetchall()
    assert "ip" not in columns
    assert all(len(d) == 64 and d == d.lower() for (d,) in device_ids)


def test_the_yield_chart_example_draws_a_chart_of_the_catalog(
    project: AdlakeConfig, published: dg.DagsterInstance, tmp_path: Path
) -> None:
    chart = tmp_path / "yield.png"
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "publisher" / "yield_chart.py"), "--day",
         DAY.isoformat(), "--out", str(chart)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert "revenue" in done.stdout and "fill rate" in done.stdout
