"""Selling Partner report pulls as Dagster runs against the emulator: orders into clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.storage import Lake
from adlake.pulls import ReportLedger
from adlake_tests.emulators.lwa import LwaEmulator, TokenAuthority
from adlake_tests.emulators.selling_partner import SellingPartnerEmulator
from adlake_tests.pull_project import days_ago, key, materialize, write_project

ORDERS_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
RAW = "raw/seller/orders"
CLEAN = "clean/seller/orders"


@pytest.fixture
def sp_live(token_authority: TokenAuthority) -> Iterator[SellingPartnerEmulator]:
    """The SP-API emulator on the real clock (Dagster runs sleep for real, briefly)."""
    with SellingPartnerEmulator(token_authority) as emulator:
        yield emulator


@pytest.fixture
def seller_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lwa_emulator: LwaEmulator,
    sp_live: SellingPartnerEmulator,
):
    """A project pulling the order report of two marketplaces."""
    source = {
        "kind": "selling_partner",
        "endpoint": sp_live.endpoint,
        "token_url": lwa_emulator.token_url,
        "marketplaces": [US, CA],
        "poll_interval_seconds": 0.02,
        "start_date": days_ago(60),
        "reports": {
            "orders": {
                "report_type": ORDERS_TYPE,
                "columns": {
                    "amazon_order_id": {
                        "type": "string",
                        "source": "amazon-order-id",
                        "required": True,
                    },
                    "sku": {"type": "string", "required": True},
                    "last_updated_date": {
                        "type": "timestamp_tz",
                        "source": "last-updated-date",
                        "required": True,
                    },
                    "quantity": {"type": "integer"},
                    "item_price": {"type": "decimal", "source": "item-price", "scale": 2},
                    "ship_postal_code": {
                        "type": "string",
                        "source": "ship-postal-code",
                        "pii": {"policy": "sha256", "identifier": "zip"},
                    },
                },
                "primary_key": ["amazon_order_id", "sku"],
                "partition_column": "last_updated_date",
            }
        },
    }
    return write_project(tmp_path, monkeypatch, {"seller": source})


def test_orders_of_two_marketplaces_land_per_day_and_clean_with_pii_hashed(
    seller_project, sp_live: SellingPartnerEmulator
) -> None:
    defs = seller_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    first, last = days_ago(4), days_ago(2)
    materialize(
        defs,
        [RAW],
        instance,
        key(first, US, "marketplace"),
        key(last, CA, "marketplace"),
    )
    materialize(defs, [CLEAN], instance, first, last)

    created = [body for body, report_id in sp_live.create_calls if report_id]
    assert sorted(b["marketplaceIds"][0] for b in created) == sorted([US, CA])  # one window each
    lake = Lake(seller_project.lake_root())
    entries = ReportLedger(lake, "seller", "orders").entries()
    assert {(e.scope, e.status) for e in entries} == {(US, "landed"), (CA, "landed")}
    files = f"{lake.full('clean/seller/orders')}/**/*.parquet"
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT marketplace_id), min(length(ship_postal_code)), "
        f"typeof(any_value(last_updated_date)), typeof(any_value(item_price)), "
        f"min(dt)::VARCHAR, max(dt)::VARCHAR FROM read_parquet('{files}', hive_partitioning=true)"
    ).fetchall()[0]
    assert rows[0] == sum(e.rows for e in entries) > 0
    assert rows[1:] == (2, 64, "TIMESTAMP WITH TIME ZONE", "DECIMAL(18,2)", first, last)


def test_a_marketplace_without_data_lands_empty_days_and_fatal_fails_with_amazons_text(
    seller_project, sp_live: SellingPartnerEmulator
) -> None:
    defs = seller_project.defs()
    instance = dg.DagsterInstance.ephemeral()
    day = days_ago(3)
    sp_live.no_data_marketplaces = {CA}
    materialize(defs, [RAW], instance, key(day, US, "marketplace"), key(day, CA, "marketplace"))
    lake = Lake(seller_project.lake_root())
    ledger = ReportLedger(lake, "seller", "orders")
    assert ledger.get(CA, day, day).status == "no_data"
    ca_days = [
        d
        for d in DeliveryLedger(lake, "seller", "orders").for_dates([day])
        if d.extra["scope"] == CA
    ]
    assert [d.lines for d in ca_days] == [0]

    other = days_ago(10)
    sp_live.fatal_report_types = {ORDERS_TYPE}
    result = materialize(
        defs,
        [RAW],
        instance,
        key(other, US, "marketplace"),
        key(other, US, "marketplace"),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.event_specific_data.user_failure_data.description
    assert sp_live.fatal_details[:40] in description and US in description
    assert ledger.get(US, other, other).status == "failed"
