"""Selling Partner report document parsers, as tables of (document bytes, arguments, records),
plus the report-type index lookups and the errors that name file and line."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from adlake.connectors.selling_partner import (
    MARKETPLACES,
    SP_HOSTS,
    DocumentError,
    UnknownReportType,
    is_gzip,
    iter_records,
    marketplace_region,
    report_columns,
    report_format,
)

SALES_DOCUMENT = b"""{
 "reportSpecification": {"reportType": "GET_SALES_AND_TRAFFIC_REPORT",
   "dataStartTime": "2026-03-07", "marketplaceIds": ["ATVPDKIKX0DER"]},
 "salesAndTrafficByDate": [
  {"date": "2026-03-07", "salesByDate": {"orderedProductSales":
     {"amount": 238.44, "currencyCode": "USD"}, "unitsOrdered": 23, "refundRate": 4.35}},
  {"date": "2026-03-08", "salesByDate": {"orderedProductSales":
     {"amount": 0.0, "currencyCode": "USD"}, "unitsOrdered": 0, "refundRate": 0}}
 ],
 "salesAndTrafficByAsin": [{"parentAsin": "B0C1H26C46", "salesByAsin": {"unitsOrdered": 1}}]
}"""
ORDERS_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<Header><DocumentVersion>1.00</DocumentVersion></Header>
<Message><MessageID>1</MessageID>
 <Order>
  <AmazonOrderID>111-0000001-0000001</AmazonOrderID>
  <FulfillmentData><Address><City>SEATTLE</City><PostalCode>98109</PostalCode></Address>
  </FulfillmentData>
  <OrderItem><ASIN>B07XJ8C8F5</ASIN><ProductName>Caf\xc3\xa9 &amp; Cr\xc3\xa8me</ProductName>
   <ItemPrice><Component><Type>Principal</Type><Amount currency="EUR">24.99</Amount></Component>
   </ItemPrice></OrderItem>
  <OrderItem><ASIN>B08N5WRWNW</ASIN><ProductName/></OrderItem>
 </Order>
</Message>
<Message><MessageID>2</MessageID><Order><AmazonOrderID>111-2</AmazonOrderID></Order></Message>
</AmazonEnvelope>"""
NAMESPACED_XML = b"""<r:Report xmlns:r="urn:x"><r:Row id="7"><r:Sku>A</r:Sku></r:Row>
<r:Row id="8"><r:Sku>B</r:Sku></r:Row></r:Report>"""
ORDER_ONE = {
    "AmazonOrderID": "111-0000001-0000001",
    "FulfillmentData": {"Address": {"City": "SEATTLE", "PostalCode": "98109"}},
    "OrderItem": [
        {
            "ASIN": "B07XJ8C8F5",
            "ProductName": "Café & Crème",
            "ItemPrice": {
                "Component": {"Type": "Principal", "Amount": {"@currency": "EUR", "#text": "24.99"}}
            },
        },
        {"ASIN": "B08N5WRWNW", "ProductName": ""},
    ],
}

CASES: list[tuple[str, bytes, dict[str, Any], list[dict[str, Any]]]] = [
    (
        "tsv",
        b"amazon-order-id\tproduct-name\tquantity\r\n111-1\tMug\t2\r\n111-2\t\t1\r\n",
        {},
        [
            {"amazon-order-id": "111-1", "product-name": "Mug", "quantity": "2"},
            {"amazon-order-id": "111-2", "product-name": "", "quantity": "1"},
        ],
    ),
    (
        "tsv",
        b'sku\tproduct-name\nSK-1\t12" Skillet "Pro\n',
        {},
        [{"sku": "SK-1", "product-name": '12" Skillet "Pro'}],
    ),
    (
        "tsv",
        "sku\tproduct-name\nSK-1\tGroße Tasche – Café\n".encode("cp1252"),
        {"encoding": "cp1252"},
        [{"sku": "SK-1", "product-name": "Große Tasche – Café"}],
    ),
    (
        "tsv",
        "ship-city\nMünchen\n".encode("latin-1"),
        {"encoding": "latin-1"},
        [{"ship-city": "München"}],
    ),
    ("tsv", "\ufeffsku\nA\n".encode(), {}, [{"sku": "A"}]),
    ("tsv", b"sku\tasin\r\n", {}, []),
    ("tsv", b"sku\tasin\nA\tB\n\n", {}, [{"sku": "A", "asin": "B"}]),
    (
        "csv",
        b'sku,note,qty\nA,"line one\nline two",1\nB,"say ""hi"", then go",2\n',
        {},
        [
            {"sku": "A", "note": "line one\nline two", "qty": "1"},
            {"sku": "B", "note": 'say "hi", then go', "qty": "2"},
        ],
    ),
    ("csv", b"sku,qty\r\n", {}, []),
    (
        "json",
        SALES_DOCUMENT,
        {"record_path": "salesAndTrafficByDate"},
        [
            {
                "date": "2026-03-07",
                "salesByDate": {
                    "orderedProductSales": {"amount": 238.44, "currencyCode": "USD"},
                    "unitsOrdered": 23,
                    "refundRate": 4.35,
                },
            },
            {
                "date": "2026-03-08",
                "salesByDate": {
                    "orderedProductSales": {"amount": 0.0, "currencyCode": "USD"},
                    "unitsOrdered": 0,
                    "refundRate": 0,
                },
            },
        ],
    ),
    (
        "json",
        SALES_DOCUMENT,
        {"record_path": "salesAndTrafficByAsin"},
        [{"parentAsin": "B0C1H26C46", "salesByAsin": {"unitsOrdered": 1}}],
    ),
    ("json", SALES_DOCUMENT, {"record_path": "noSuchKey"}, []),
    ("json", b'[{"a": 1}, {"a": 2.5}]', {}, [{"a": 1}, {"a": 2.5}]),
    ("json", b'{"data": {"rows": [{"a": "x"}]}}', {"record_path": "data.rows"}, [{"a": "x"}]),
    ("json", b"", {"record_path": "rows"}, []),
    (
        "xml",
        ORDERS_XML,
        {"record_path": "Order"},
        [ORDER_ONE, {"AmazonOrderID": "111-2"}],
    ),
    (
        "xml",
        NAMESPACED_XML,
        {"record_path": "Row"},
        [{"@id": "7", "Sku": "A"}, {"@id": "8", "Sku": "B"}],
    ),
    ("xml", ORDERS_XML, {"record_path": "Nothing"}, []),
    ("xml", b"", {"record_path": "Order"}, []),
]


def _ids() -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for fmt, _, kwargs, _ in CASES:
        key = f"{fmt}-{kwargs.get('record_path') or kwargs.get('encoding') or 'plain'}"
        seen[key] = seen.get(key, 0) + 1
        names.append(f"{key}-{seen[key]}")
    return names


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(("fmt", "content", "kwargs", "expected"), CASES, ids=_ids())
def test_iter_records(
    tmp_path: Path,
    fmt: str,
    content: bytes,
    kwargs: dict[str, Any],
    expected: list[dict[str, Any]],
    compressed: bool,
) -> None:
    path = tmp_path / "document"
    path.write_bytes(gzip.compress(content) if compressed else content)

    records = list(iter_records(path, fmt, **kwargs))  # type: ignore[arg-type]

    assert records == expected
    assert is_gzip(path) is compressed
    for record in records:
        assert "Decimal" not in repr(record), "numbers come back as int or float"


@pytest.mark.parametrize(
    ("fmt", "content", "kwargs", "line", "message"),
    [
        ("tsv", b"a\tb\n1\t2\n3\n", {}, 3, "1 fields where the header has 2"),
        ("tsv", b"a\tb\n1\t2\t3\n", {}, 2, "3 fields where the header has 2"),
        ("tsv", b"sku\tsku\n1\t2\n", {}, 1, "the header names sku twice"),
        ("tsv", b"sku\nok\n\xe9t\xe9\n", {}, 3, "text is not valid utf-8"),
        ("csv", b'a,b\n1,"unterminated\n', {}, 2, "not valid CSV"),
        ("json", b'{"rows": [{"a": 1}, {"a": ', {"record_path": "rows"}, None, "not valid JSON"),
        ("json", b'{"rows": [1, 2]}', {"record_path": "rows"}, None, "is int, not object"),
        ("xml", b"<r><Order><a>1</a></r>", {"record_path": "Order"}, 1, "not well-formed XML"),
    ],
    ids=[
        "short-row",
        "long-row",
        "duplicate-header",
        "bad-utf8",
        "csv",
        "json",
        "json-scalar",
        "xml",
    ],
)
def test_bad_documents_name_file_and_line(
    tmp_path: Path, fmt: str, content: bytes, kwargs: dict[str, Any], line: int | None, message: str
) -> None:
    path = tmp_path / "report.txt"
    path.write_bytes(content)

    with pytest.raises(DocumentError) as failed:
        list(iter_records(path, fmt, **kwargs))  # type: ignore[arg-type]

    assert failed.value.line == line
    assert message in str(failed.value) and str(path) in str(failed.value)
    assert "Fix:" in str(failed.value)


def test_truncated_gzip_is_a_document_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    rows = b"".join(b"%d\t%d\n" % (index, index**3) for index in range(20_000))
    path.write_bytes(gzip.compress(b"a\tb\n" + rows)[:5_000])

    with pytest.raises(DocumentError, match="gzip stream is damaged or cut short"):
        list(iter_records(path, "tsv"))


@pytest.mark.parametrize(
    ("fmt", "kwargs", "message"),
    [
        ("xml", {}, "XML report documents need record_path"),
        ("parquet", {}, "unknown report document format 'parquet'"),
        ("tsv", {"encoding": "klingon"}, "unknown text encoding 'klingon'"),
    ],
)
def test_wrong_arguments(tmp_path: Path, fmt: str, kwargs: dict[str, Any], message: str) -> None:
    path = tmp_path / "doc"
    path.write_bytes(b"a\n1\n")
    with pytest.raises(ValueError, match=message):
        list(iter_records(path, fmt, **kwargs))  # type: ignore[arg-type]


def test_xml_records_are_freed_as_they_are_read(tmp_path: Path) -> None:
    """Records under one container (no per-record wrapper) must not pile up in the tree."""
    row = b"<Row><Sku>SKU-%d</Sku><Name>Stainless Steel Water Bottle 750ml</Name></Row>\n"
    path = tmp_path / "rows.xml"
    with path.open("wb") as out:
        out.write(b"<Report><Rows>\n")
        for index in range(20_000):
            out.write(row % index)
        out.write(b"</Rows></Report>\n")

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_records(path, "xml", record_path="Row"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert count == 20_000
    assert peak < path.stat().st_size / 4, f"{peak} bytes held for a {path.stat().st_size} file"


@pytest.mark.parametrize(
    ("report_type", "fmt", "columns"),
    [
        ("GET_SALES_AND_TRAFFIC_REPORT", "json", None),
        ("GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL", "tsv", 31),
        ("GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", "tsv", 32),
        ("GET_XML_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL", "xml", None),
        ("GET_MERCHANT_LISTINGS_ALL_DATA", "tsv", None),
        ("GET_FLAT_FILE_RETURNS_DATA_BY_RETURN_DATE", "tsv", None),
        ("GET_XML_RETURNS_DATA_BY_RETURN_DATE", "xml", None),
    ],
)
def test_report_index(report_type: str, fmt: str, columns: int | None) -> None:
    assert report_format(report_type) == fmt
    found = report_columns(report_type)
    assert (len(found) if found is not None else None) == columns
    if found:
        assert found[0] == "amazon-order-id" and "ship-postal-code" in found


def test_unknown_report_type_names_the_fix() -> None:
    with pytest.raises(UnknownReportType, match="GET_SOMETHING_NEW.*Fix: add it to the index"):
        report_format("GET_SOMETHING_NEW")


def test_marketplaces_and_hosts() -> None:
    assert marketplace_region("ATVPDKIKX0DER") == "NA"
    assert marketplace_region("A1PA6795UKMFR9") == "EU"
    assert marketplace_region("A1VC38T7YXB528") == "FE"
    assert MARKETPLACES["A1F83G8C2ARO7P"] == ("UK", "EU")
    assert set(SP_HOSTS) == {region for _, region in MARKETPLACES.values()}
    with pytest.raises(ValueError, match="unknown marketplace id 'XX'"):
        marketplace_region("XX")
