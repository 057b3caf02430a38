"""Report documents for the Selling Partner API emulator, generated from the spec files.

Deterministic given (request, knobs): the emulator writes a document from a generator, and a
test calls the same generator again to know exactly which records the document holds, so even a
200k-row file never has to be kept in memory. Flat files use the columns of
report-types.index.json, GET_SALES_AND_TRAFFIC_REPORT follows sellerSalesAndTrafficReport.json,
XML order reports follow Amazon's AllOrdersReport envelope (element names from Amazon's docs,
unverified against an XSD).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import gmtime, strftime
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INDEX_FILE = REPO / "adlake/connectors/selling_partner/data/report-types.index.json"
REPORT_TYPES: dict[str, dict[str, Any]] = json.loads(INDEX_FILE.read_text(encoding="utf-8"))[
    "reportTypes"
]
SALES_AND_TRAFFIC = "GET_SALES_AND_TRAFFIC_REPORT"
LISTING_COLUMNS = [
    "item-name",
    "listing-id",
    "seller-sku",
    "price",
    "quantity",
    "open-date",
    "product-id-type",
    "asin1",
    "fulfillment-channel",
    "status",
]
# marketplace id -> (sales channel, currency)
CHANNELS = {
    "ATVPDKIKX0DER": ("Amazon.com", "USD"),
    "A2EUQ1WTGCTBG2": ("Amazon.ca", "CAD"),
    "A1AM78C64UM0Y8": ("Amazon.com.mx", "MXN"),
    "A1F83G8C2ARO7P": ("Amazon.co.uk", "GBP"),
    "A1PA6795UKMFR9": ("Amazon.de", "EUR"),
    "A13V1IB3VIYZZH": ("Amazon.fr", "EUR"),
    "APJ6JRA9NG5V4": ("Amazon.it", "EUR"),
    "A1RKKUPIHCS9HS": ("Amazon.es", "EUR"),
    "A1VC38T7YXB528": ("Amazon.co.jp", "JPY"),
}
# every name is representable in cp1252, so the encoding knob can use it
PRODUCTS = [
    ("B07XJ8C8F5", "AB-1C2D-EFGH", "Café Crème Espresso Cups, Set of 4", 24.99),
    ("B08N5WRWNW", "CD-2E3F-GHIJ", '12" Cast Iron Skillet, Pre-Seasoned', 19.99),
    ("B09G9FPHY6", "EF-3G4H-IJKL", "Große Tasche – Canvas Tote Bag", 15.49),
    ("B0B7RSV894", "GH-4I5J-KLMN", "Stainless Steel Water Bottle 750ml", 12.95),
    ("B0C1H26C46", "IJ-5K6L-MNOP", "Crème Brûlée Torch with Fuel Gauge", 29.00),
    ("B0D5BKRY4R", "KL-6M7N-OPQR", "Bamboo Cutting Board (Large)", 17.50),
]
CITIES = [
    ("SEATTLE", "WA", "98109", "US"),
    ("AUSTIN", "TX", "78701", "US"),
    ("NEW YORK", "NY", "10001", "US"),
    ("BERLIN", "BE", "10115", "DE"),
    ("LONDON", "", "EC1A 1BB", "GB"),
    ("TORONTO", "ON", "M5V 2T6", "CA"),
]
STATUSES = [("Shipped", "Shipped"), ("Shipped", "Shipped"), ("Pending", "Unshipped")]
STATUSES += [("Cancelled", "Cancelled"), ("Unshipped", "Unshipped")]
FIRST_NAMES = ["Ana", "Jean", "Ravi", "Mei", "Lukas", "Sofia", "Omar", "Chloé"]
LAST_NAMES = ["Silva", "Dupont", "Patel", "Chen", "Müller", "Rossi", "Haddad", "Martin"]


@dataclass(frozen=True)
class ReportRequest:
    """What createReport was asked for: the inputs of every document generator."""

    report_id: str
    report_type: str
    marketplace_ids: tuple[str, ...]
    start: datetime
    end: datetime
    options: dict[str, str] = field(default_factory=dict)


def report_format(report_type: str) -> str:
    """The document format of a report type, from the index."""
    return REPORT_TYPES[report_type]["format"]


def flat_file_columns(report_type: str, extra_columns: tuple[str, ...] = ()) -> list[str]:
    """The header of a flat file: the index's columns (orders columns when it lists none)."""
    if report_type == "GET_MERCHANT_LISTINGS_ALL_DATA":
        base = LISTING_COLUMNS
    else:
        base = (
            REPORT_TYPES[report_type].get("columns")
            or REPORT_TYPES["GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"]["columns"]
        )
    return [*base, *extra_columns]


def _days(request: ReportRequest) -> Iterator[tuple[float, float]]:
    """Each day's window of the request clipped to [start, end), as epoch seconds."""
    day = request.start.date()
    while day <= request.end.date():
        low = max(request.start, datetime.combine(day, time(), UTC))
        high = min(request.end, datetime.combine(day + timedelta(days=1), time(), UTC))
        if high > low:
            yield low.timestamp(), high.timestamp()
        day += timedelta(days=1)


def _stamp(epoch: float) -> str:
    return strftime("%Y-%m-%dT%H:%M:%S+00:00", gmtime(epoch))


def order_items(
    request: ReportRequest,
    *,
    rows_per_day: int,
    seed: int = 0,
) -> Iterator[dict[str, str]]:
    """Order items of an order-tracking report, by flat-file column name, day by day.

    The column that selects the report (purchase-date for BY_ORDER_DATE, last-updated-date
    for BY_LAST_UPDATE) always lies in [dataStartTime, dataEndTime).
    """
    rng = random.Random(f"{seed}:{request.report_id}").random
    by_update = "LAST_UPDATE" in request.report_type
    markets = [CHANNELS.get(m, ("Amazon.com", "USD")) for m in request.marketplace_ids]
    counter = 0
    for low, high in _days(request):
        span = int(high - low)
        for _ in range(rows_per_day):
            counter += 1
            channel, currency = markets[counter % len(markets)]
            asin, sku, name, price = PRODUCTS[int(rng() * len(PRODUCTS))]
            city, state, postal, country = CITIES[int(rng() * len(CITIES))]
            status, item_status = STATUSES[int(rng() * len(STATUSES))]
            quantity = 1 + int(rng() * 3)
            selected = low + int(rng() * span)
            lag = 60 * int(rng() * 2880)
            if by_update:
                purchased, updated = selected - lag, selected
            else:
                purchased, updated = selected, min(selected + lag, high - 1)
            first, last = FIRST_NAMES[counter % 8], LAST_NAMES[(counter // 8) % 8]
            row = {
                "amazon-order-id": f"{111 + counter % 5}-{counter:07d}-{int(rng() * 1e7):07d}",
                "merchant-order-id": "",
                "purchase-date": _stamp(purchased),
                "last-updated-date": _stamp(updated),
                "order-status": status,
                "fulfillment-channel": "Amazon" if counter % 3 else "Merchant",
                "sales-channel": channel,
                "order-channel": "",
                "ship-service-level": "Expedited" if counter % 7 == 0 else "Standard",
                "product-name": name,
                "sku": sku,
                "asin": asin,
                "item-status": item_status,
                "quantity": str(quantity),
                "currency": currency,
                "item-price": f"{price * quantity:.2f}",
                "item-tax": f"{price * quantity * 0.08:.2f}",
                "shipping-price": "0.00" if counter % 4 else "4.99",
                "shipping-tax": "0.00",
                "gift-wrap-price": "",
                "gift-wrap-tax": "",
                "item-promotion-discount": "0.00" if counter % 5 else "-2.00",
                "ship-promotion-discount": "",
                "ship-city": city,
                "ship-state": state,
                "ship-postal-code": postal,
                "ship-country": country,
                "promotion-ids": "" if counter % 5 else "Core Free Shipping 2026",
                "cpf": "",
                "is-business-order": "true" if counter % 11 == 0 else "false",
                "purchase-order-number": "",
                "price-designation": "",
                "buyer-email": f"{first}.{last}{counter}@example.com".lower(),
                "buyer-name": f"{first} {last}",
                "buyer-phone-number": f"+1 206-555-{counter % 10000:04d}",
                "number-of-items": str(quantity),
            }
            yield row


def listing_rows(request: ReportRequest, *, rows_per_day: int) -> Iterator[dict[str, str]]:
    """Active listings of GET_MERCHANT_LISTINGS_ALL_DATA (a snapshot; rows_per_day rows)."""
    for index in range(rows_per_day):
        asin, sku, name, price = PRODUCTS[index % len(PRODUCTS)]
        yield {
            "item-name": name,
            "listing-id": f"0{index:09d}",
            "seller-sku": f"{sku}-{index}",
            "price": f"{price:.2f}",
            "quantity": str(index % 40),
            "open-date": "2025-11-02 08:30:12 PST",
            "product-id-type": "1",
            "asin1": asin,
            "fulfillment-channel": "DEFAULT" if index % 2 else "AMAZON_NA",
            "status": "Active",
        }


def _rows(request: ReportRequest, rows_per_day: int, seed: int) -> Iterator[dict[str, str]]:
    if request.report_type == "GET_MERCHANT_LISTINGS_ALL_DATA":
        return listing_rows(request, rows_per_day=rows_per_day)
    return order_items(request, rows_per_day=rows_per_day, seed=seed)


def flat_file_records(
    request: ReportRequest,
    *,
    rows_per_day: int,
    seed: int = 0,
    extra_columns: tuple[str, ...] = (),
) -> Iterator[dict[str, str]]:
    """The records of a flat-file report exactly as its header and rows hold them."""
    columns = flat_file_columns(request.report_type, extra_columns)
    for row in _rows(request, rows_per_day, seed):
        yield {column: row.get(column, "") for column in columns}


def write_flat_file(
    path: Path,
    request: ReportRequest,
    *,
    rows_per_day: int,
    seed: int = 0,
    extra_columns: tuple[str, ...] = (),
    encoding: str = "utf-8",
    compress: bool = True,
) -> int:
    """Stream a tab-separated flat file (gzip unless ``compress`` is False); return its rows.

    Lines end in CRLF like Amazon's flat files; gzip level 1 keeps big test documents quick.
    """
    columns = flat_file_columns(request.report_type, extra_columns)
    rows = 0
    batch: list[str] = ["\t".join(columns)]
    with (
        gzip.open(path, "wt", encoding=encoding, newline="", compresslevel=1)
        if compress
        else path.open("w", encoding=encoding, newline="")
    ) as out:
        for row in _rows(request, rows_per_day, seed):
            batch.append("\t".join([row.get(column, "") for column in columns]))
            rows += 1
            if len(batch) >= 1000:
                out.write("\r\n".join(batch) + "\r\n")
                batch.clear()
        if batch:
            out.write("\r\n".join(batch) + "\r\n")
    return rows
