"""JSON and XML report documents for the Selling Partner API emulator.

GET_SALES_AND_TRAFFIC_REPORT follows report-schemas/sellerSalesAndTrafficReport.json (every
required field, consistent totals, DAY/WEEK/MONTH periods and PARENT/CHILD/SKU ASIN levels);
the XML order reports follow Amazon's AllOrdersReport envelope (element names from Amazon's
docs, unverified against an XSD). Like the flat files, everything is deterministic so a test
can regenerate what a document holds.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from adlake_tests.emulators.sp_documents import CHANNELS, PRODUCTS, ReportRequest, order_items


def _periods(request: ReportRequest, granularity: str) -> list[date]:
    """First day of every DAY, WEEK (starting Sunday) or MONTH period the request touches."""
    first, last = request.start.date(), request.end.date()
    if granularity == "WEEK":
        first -= timedelta(days=(first.weekday() + 1) % 7)
    elif granularity == "MONTH":
        first = first.replace(day=1)
    periods = []
    current = first
    while current <= last:
        periods.append(current)
        if granularity == "WEEK":
            current += timedelta(days=7)
        elif granularity == "MONTH":
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            current += timedelta(days=1)
    return periods


def _money(amount: float, currency: str) -> dict[str, Any]:
    return {"amount": round(amount, 2), "currencyCode": currency}


def _sales_and_traffic_by_date(day: date, rng: random.Random, currency: str) -> dict[str, Any]:
    units = rng.randrange(10, 60)
    items = max(1, units - rng.randrange(0, 5))
    sales = round(units * rng.uniform(9.0, 14.0), 2)
    browser_views, app_views = rng.randrange(800, 1600), rng.randrange(50, 600)
    browser_sessions, app_sessions = rng.randrange(600, 1200), rng.randrange(40, 200)
    sessions = browser_sessions + app_sessions
    refunded = rng.randrange(0, 3)
    feedback = rng.randrange(0, 12)
    return {
        "date": day.isoformat(),
        "salesByDate": {
            "orderedProductSales": _money(sales, currency),
            "unitsOrdered": units,
            "totalOrderItems": items,
            "averageSalesPerOrderItem": _money(sales / items, currency),
            "averageUnitsPerOrderItem": round(units / items, 2),
            "averageSellingPrice": _money(sales / units, currency),
            "unitsRefunded": refunded,
            "refundRate": round(100.0 * refunded / units, 2),
            "claimsGranted": 0,
            "claimsAmount": _money(0.0, currency),
            "shippedProductSales": _money(sales * rng.uniform(0.5, 1.5), currency),
            "unitsShipped": units + rng.randrange(-5, 6),
            "ordersShipped": items,
        },
        "trafficByDate": {
            "browserPageViews": browser_views,
            "mobileAppPageViews": app_views,
            "pageViews": browser_views + app_views,
            "browserSessions": browser_sessions,
            "mobileAppSessions": app_sessions,
            "sessions": sessions,
            "buyBoxPercentage": round(rng.uniform(5.0, 99.0), 2),
            "orderItemSessionPercentage": round(100.0 * items / sessions, 2),
            "unitSessionPercentage": round(100.0 * units / sessions, 2),
            "averageOfferCount": rng.randrange(9000, 9800),
            "averageParentItems": rng.randrange(9000, 9700),
            "feedbackReceived": feedback,
            "negativeFeedbackReceived": min(feedback, rng.randrange(0, 2)),
            "receivedNegativeFeedbackRate": 0.0 if feedback == 0 else 10.0,
        },
    }


def _sales_and_traffic_by_asin(
    index: int, granularity: str, rng: random.Random, currency: str
) -> dict[str, Any]:
    asin, sku, _name, price = PRODUCTS[index % len(PRODUCTS)]
    units = rng.randrange(0, 20)
    browser, app = rng.randrange(1, 40), rng.randrange(0, 20)
    views_browser, views_app = browser + rng.randrange(0, 30), app + rng.randrange(0, 30)
    entry: dict[str, Any] = {"parentAsin": asin}
    if granularity in ("CHILD", "SKU"):
        entry["childAsin"] = asin
    if granularity == "SKU":
        entry["sku"] = sku
    entry["salesByAsin"] = {
        "unitsOrdered": units,
        "orderedProductSales": _money(units * price, currency),
        "totalOrderItems": max(0, units - rng.randrange(0, 2)),
    }
    entry["trafficByAsin"] = {
        "browserSessions": browser,
        "mobileAppSessions": app,
        "sessions": browser + app,
        "browserSessionPercentage": round(rng.uniform(0.05, 0.5), 2),
        "mobileAppSessionPercentage": round(rng.uniform(0.05, 0.5), 2),
        "sessionPercentage": round(rng.uniform(0.05, 0.5), 2),
        "browserPageViews": views_browser,
        "mobileAppPageViews": views_app,
        "pageViews": views_browser + views_app,
        "browserPageViewsPercentage": round(rng.uniform(0.05, 0.5), 2),
        "mobileAppPageViewsPercentage": round(rng.uniform(0.05, 0.5), 2),
        "pageViewsPercentage": round(rng.uniform(0.05, 0.5), 2),
        "buyBoxPercentage": round(rng.uniform(0.0, 100.0), 2),
        "unitSessionPercentage": round(100.0 * units / (browser + app), 2),
    }
    return entry


def sales_and_traffic(request: ReportRequest, *, asins: int = 5, seed: int = 0) -> dict[str, Any]:
    """A GET_SALES_AND_TRAFFIC_REPORT document: by date (per dateGranularity) and by ASIN."""
    rng = random.Random(f"{seed}:{request.report_id}")
    date_granularity = request.options.get("dateGranularity", "DAY")
    asin_granularity = request.options.get("asinGranularity", "PARENT")
    currency = CHANNELS.get(request.marketplace_ids[0], ("", "USD"))[1]
    return {
        "reportSpecification": {
            "reportType": request.report_type,
            "reportOptions": {
                "dateGranularity": date_granularity,
                "asinGranularity": asin_granularity,
            },
            "dataStartTime": request.start.date().isoformat(),
            "dataEndTime": request.end.date().isoformat(),
            "marketplaceIds": list(request.marketplace_ids),
        },
        "salesAndTrafficByDate": [
            _sales_and_traffic_by_date(day, rng, currency)
            for day in _periods(request, date_granularity)
        ],
        "salesAndTrafficByAsin": [
            _sales_and_traffic_by_asin(index, asin_granularity, rng, currency)
            for index in range(asins)
        ],
    }


def xml_orders(request: ReportRequest, *, rows_per_day: int, seed: int = 0) -> Iterator[dict]:
    """Orders of an XML AllOrdersReport, in the dict shape the connector's XML parser returns:
    repeated children as lists, attributes as ``@name`` and an element's own text as ``#text``.
    """
    for index, row in enumerate(order_items(request, rows_per_day=rows_per_day, seed=seed)):
        currency = row["currency"]

        def amount(kind: str, value: str, currency: str = currency) -> dict[str, Any]:
            """One ItemPrice component: its type and its amount with a currency attribute."""
            return {"Type": kind, "Amount": {"@currency": currency, "#text": value}}

        item = {
            "ASIN": row["asin"],
            "SKU": row["sku"],
            "ItemStatus": row["item-status"],
            "ProductName": row["product-name"],
            "Quantity": row["quantity"],
            "ItemPrice": {
                "Component": [
                    amount("Principal", row["item-price"]),
                    amount("Tax", row["item-tax"]),
                ]
            },
        }
        second = {**item, "ASIN": PRODUCTS[0][0], "SKU": PRODUCTS[0][1], "Quantity": "1"}
        yield {
            "AmazonOrderID": row["amazon-order-id"],
            "PurchaseDate": row["purchase-date"],
            "LastUpdatedDate": row["last-updated-date"],
            "OrderStatus": row["order-status"],
            "SalesChannel": row["sales-channel"],
            "FulfillmentData": {
                "FulfillmentChannel": row["fulfillment-channel"],
                "ShipServiceLevel": row["ship-service-level"],
                "Address": {
                    "City": row["ship-city"],
                    "State": row["ship-state"],
                    "PostalCode": row["ship-postal-code"],
                    "Country": row["ship-country"],
                },
            },
            "IsBusinessOrder": row["is-business-order"],
            "OrderItem": [item, second] if index % 4 == 0 else item,
        }


def _write_element(out: Any, tag: str, value: Any) -> None:
    """One element (or, for a list, one element per item) in the parser's dict convention."""
    if isinstance(value, list):
        for item in value:
            _write_element(out, tag, item)
    elif isinstance(value, dict):
        attributes = "".join(
            f" {key[1:]}={quoteattr(text)}" for key, text in value.items() if key[0] == "@"
        )
        out.write(f"<{tag}{attributes}>{escape(value.get('#text', ''))}")
        for key, child in value.items():
            if key[0] not in "@#":
                _write_element(out, key, child)
        out.write(f"</{tag}>\n")
    else:
        out.write(f"<{tag}>{escape(value)}</{tag}>\n")


def write_xml_orders(
    path: Path, request: ReportRequest, *, rows_per_day: int, seed: int = 0, compress: bool = True
) -> int:
    """Stream an AllOrdersReport envelope, one Message per order; return the orders written."""
    opener = gzip.open if compress else open
    count = 0
    with opener(path, "wt", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(
            '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">\n'
            "<Header><DocumentVersion>1.00</DocumentVersion></Header>\n"
            "<MessageType>AllOrdersReport</MessageType>\n"
        )
        for order in xml_orders(request, rows_per_day=rows_per_day, seed=seed):
            count += 1
            out.write(f"<Message><MessageID>{count}</MessageID>\n")
            _write_element(out, "Order", order)
            out.write("</Message>\n")
        out.write("</AmazonEnvelope>\n")
    return count


def write_json(path: Path, document: dict[str, Any], *, compress: bool = True) -> None:
    """Write a JSON report document (gzip unless ``compress`` is False)."""
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False, indent=1)


def write_error_document(path: Path, details: str, *, compress: bool = True) -> None:
    """The error document of a FATAL report: ``{"errorDetails": "..."}`` (shape unverified)."""
    write_json(path, {"errorDetails": details}, compress=compress)
