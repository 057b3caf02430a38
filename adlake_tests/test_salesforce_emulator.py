"""The Salesforce REST emulator driven over HTTP with requests, as a SaaS-pull client would."""

from __future__ import annotations

import time
from typing import Any

import requests

from adlake_tests.emulators.salesforce import (
    API_VERSION,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_REFRESH_TOKEN,
    SalesforceEmulator,
    salesforce_id,
)

QUERY = f"/services/data/{API_VERSION}/query"
SINCE = (
    "SELECT Id, Phone, SystemModstamp FROM Contact WHERE SystemModstamp > {}"
    " ORDER BY SystemModstamp"
)


def grant(sf: SalesforceEmulator, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": TEST_CLIENT_ID,
        "client_secret": TEST_CLIENT_SECRET,
        "refresh_token": TEST_REFRESH_TOKEN,
        **overrides,
    }
    return requests.post(sf.token_url, data=form, timeout=10)


class Client:
    """A tiny Salesforce query client: token, first page, nextRecordsUrl pages."""

    def __init__(self, sf: SalesforceEmulator) -> None:
        self.sf = sf
        self.session = requests.Session()
        self.refresh()

    def refresh(self) -> None:
        response = grant(self.sf)
        assert response.status_code == 200, response.text
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def get(self, path: str, batch: int | None = None, **params: str) -> requests.Response:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        return self.session.get(self.sf.base_url + path, params=params, headers=headers, timeout=30)

    def query(self, soql: str, batch: int | None = None) -> requests.Response:
        return self.get(QUERY, batch, q=soql)

    def pages(self, soql: str, batch: int | None = None) -> list[dict[str, Any]]:
        response = self.query(soql, batch)
        assert response.status_code == 200, response.text
        pages = [response.json()]
        while not pages[-1]["done"]:
            response = self.get(pages[-1]["nextRecordsUrl"], batch)
            assert response.status_code == 200, response.text
            pages.append(response.json())
        return pages

    def records(self, soql: str, batch: int | None = None) -> list[dict[str, Any]]:
        return [r for page in self.pages(soql, batch) for r in page["records"]]


def test_token_grant_and_oauth_errors() -> None:
    with SalesforceEmulator() as sf:
        response = grant(sf)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {
            "access_token",
            "instance_url",
            "id",
            "token_type",
            "issued_at",
            "signature",
            "scope",
        }
        assert body["instance_url"] == sf.base_url
        assert body["token_type"] == "Bearer"
        assert body["issued_at"].isdigit()

        wrong_secret = grant(sf, client_secret="nope")
        assert wrong_secret.status_code == 400
        assert wrong_secret.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }
        unknown_client = grant(sf, client_id="3MVGunknown")
        assert unknown_client.status_code == 400
        assert unknown_client.json()["error"] == "invalid_client_id"

        bad_refresh = grant(sf, refresh_token="5Aep861nope")
        assert bad_refresh.status_code == 400
        assert bad_refresh.json() == {
            "error": "invalid_grant",
            "error_description": "expired access/refresh token",
        }
        sf.revoke()
        assert grant(sf).json()["error"] == "invalid_grant"
        assert grant(sf, grant_type="password").json()["error"] == "unsupported_grant_type"
        assert len(sf.grants) == 6
        assert sf.grants[0] == "refresh_token"


def test_query_pages_with_batch_size_header() -> None:
    with SalesforceEmulator(contacts=450) as sf:
        client = Client(sf)
        pages = client.pages("SELECT Id, Email FROM Contact", batch=200)
        assert [len(p["records"]) for p in pages] == [200, 200, 50]
        assert all(p["totalSize"] == 450 for p in pages)
        assert [p["done"] for p in pages] == [False, False, True]
        assert "nextRecordsUrl" not in pages[-1]
        first_url = pages[0]["nextRecordsUrl"]
        assert first_url.startswith(f"/services/data/{API_VERSION}/query/01g")
        assert first_url.endswith("-200")
        records = [r for p in pages for r in p["records"]]
        ids = [r["Id"] for r in records]
        assert ids == sorted(ids) and len(set(ids)) == 450
        assert ids[0] == sf.record_id("Contact", 0) and len(ids[0]) == 18
        assert records[0] == {
            "attributes": {
                "type": "Contact",
                "url": f"/services/data/{API_VERSION}/sobjects/Contact/{ids[0]}",
            },
            "Id": ids[0],
            "Email": "ada.lovelace0@example.com",
        }
        assert sf.pages_served == 3
        assert sf.calls["query"] == 1 and sf.calls["queryMore"] == 2
        assert sf.queries == ["SELECT Id, Email FROM Contact"]

        # knob, and the header clamped to 200..2000
        sf.batch_size = 100
        sizes = [len(p["records"]) for p in client.pages("SELECT Id FROM Contact")]
        assert sizes == [100, 100, 100, 100, 50]
        assert len(client.query("SELECT Id FROM Contact", batch=5).json()["records"]) == 200


def test_fields_stamps_and_limit() -> None:
    with SalesforceEmulator(contacts=20, accounts=3) as sf:
        client = Client(sf)
        soql = (
            "select id, firstname, lastname, phone, accountid, createddate, systemmodstamp, "
            "lastmodifieddate from contact where SystemModstamp > 2026-01-01T00:00:04.000+0000 "
            "and SystemModstamp <= 2026-01-01T00:00:10Z order by systemmodstamp asc limit 3"
        )
        page = client.query(soql).json()
        assert page["totalSize"] == 3 and page["done"] is True
        first = page["records"][0]
        assert list(first) == [
            "attributes",
            "Id",
            "FirstName",
            "LastName",
            "Phone",
            "AccountId",
            "CreatedDate",
            "SystemModstamp",
            "LastModifiedDate",
        ]
        assert first["SystemModstamp"] == "2026-01-01T00:00:05.000+0000"
        assert first["Phone"] == "+1 206 555 0005"
        assert first["AccountId"] == salesforce_id("001", 5 % 3)
        window = client.records(soql.rsplit(" limit", 1)[0])
        assert [r["SystemModstamp"][17:19] for r in window] == ["05", "06", "07", "08", "09", "10"]
        accounts = client.records("SELECT Id, Name, Industry FROM Account")
        assert [a["Id"][:3] for a in accounts] == ["001"] * 3
        count = client.query("SELECT COUNT() FROM Contact").json()
        assert count == {"totalSize": 20, "done": True, "records": []}
        newest = client.records("SELECT Id FROM Contact ORDER BY SystemModstamp DESC LIMIT 2")
        assert [r["Id"] for r in newest] == [sf.record_id("Contact", i) for i in (19, 18)]
        every = client.get(f"/services/data/{API_VERSION}/queryAll", q="SELECT Id FROM Account")
        assert every.json()["totalSize"] == 3


def test_incremental_touch_and_add() -> None:
    with SalesforceEmulator(contacts=5000) as sf:
        client = Client(sf)
        everything = client.records(
            "SELECT Id, SystemModstamp FROM Contact ORDER BY SystemModstamp"
        )
        assert len(everything) == 5000
        watermark = everything[-1]["SystemModstamp"]
        assert client.records(SINCE.format(watermark)) == []

        touched = sf.touch("Contact", [4000, 7, 1234])
        changed = client.records(SINCE.format(watermark))
        # one transaction: one stamp, ties broken by Id
        assert [r["Id"] for r in changed] == sorted(touched)
        assert {r["SystemModstamp"] for r in changed} == {sf.latest_stamp("Contact")}
        assert all(r["SystemModstamp"] > watermark for r in changed)
        assert changed[0]["Phone"] == "+1 206 555 0007 x1"
        # the touched records moved to the end of a full stamp-ordered scan, without duplicates
        again = client.records("SELECT Id FROM Contact ORDER BY SystemModstamp", batch=2000)
        assert len(again) == 5000 and [r["Id"] for r in again[-3:]] == sorted(touched)
        # and stay in Id order without ORDER BY
        by_id = [r["Id"] for r in client.records("SELECT Id FROM Contact")]
        assert by_id == sorted(by_id) and len(by_id) == 5000

        watermark = changed[-1]["SystemModstamp"]
        added = sf.add("Contact", 2)
        sf.touch("Contact", [7])
        later = client.records(SINCE.format(watermark))
        assert [r["Id"] for r in later] == [*added, sf.record_id("Contact", 7)]
        assert later[-1]["Phone"] == "+1 206 555 0007 x2"
        assert sf.contacts == 5002
        total = client.query("SELECT Id FROM Contact").json()["totalSize"]
        assert total == 5002

        name = sf.record("Account", 3)["Name"]
        sf.touch("Account", [3])
        assert sf.record("Account", 3)["Name"] == f"{name} (rev 1)"


def test_cursor_keeps_its_snapshot() -> None:
    with SalesforceEmulator(contacts=600) as sf:
        client = Client(sf)
        first = client.query("SELECT Id, Phone FROM Contact ORDER BY SystemModstamp", 200).json()
        sf.touch("Contact", [300, 500])
        sf.add("Contact", 10)
        rest = client.get(first["nextRecordsUrl"], 200).json()
        assert rest["totalSize"] == 600
        assert rest["records"][100]["Id"] == sf.record_id("Contact", 300)
        assert rest["records"][100]["Phone"] == "+1 206 555 0300"  # as when the query ran
        assert sf.record("Contact", 300)["Phone"] == "+1 206 555 0300 x1"


def test_query_errors() -> None:
    with SalesforceEmulator() as sf:
        client = Client(sf)
        field = client.query("SELECT Id, Foo FROM Contact")
        assert field.status_code == 400
        [error] = field.json()
        assert error["errorCode"] == "INVALID_FIELD"
        assert "No such column 'Foo' on entity 'Contact'" in error["message"]
        assert "ERROR at Row:1:Column:12" in error["message"]

        sobject = client.query("SELECT Id FROM Foo")
        assert sobject.status_code == 400
        [error] = sobject.json()
        assert error["errorCode"] == "INVALID_TYPE"
        assert "sObject type 'Foo' is not supported." in error["message"]

        for soql in (
            "SELEC Id FROM Contact",
            "SELECT Id FROM Contact WHERE",
            "SELECT Id FROM Contact LIMIT ten",
            "SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z OR Id = 'x'",
            "SELECT Id, Id FROM Contact",
        ):
            response = client.query(soql)
            assert response.status_code == 400, soql
            assert response.json()[0]["errorCode"] == "MALFORMED_QUERY", soql

        quoted = client.query("SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01'")
        assert quoted.json()[0]["errorCode"] == "INVALID_FIELD"
        no_query = client.get(QUERY)
        assert no_query.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_unknown_locator() -> None:
    with SalesforceEmulator(contacts=300) as sf:
        client = Client(sf)
        page = client.query("SELECT Id FROM Contact", batch=200).json()
        assert client.get(page["nextRecordsUrl"]).status_code == 200
        for path in (
            f"{QUERY}/01gNOPE000000000AAA-200",
            page["nextRecordsUrl"].rsplit("-", 1)[0] + "-900",
            f"{QUERY}/garbage",
        ):
            response = client.get(path)
            assert response.status_code == 400
            assert response.json() == [
                {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
            ]


def test_expired_session_then_refresh() -> None:
    now = [1000.0]
    with SalesforceEmulator(clock=lambda: now[0], token_ttl=60) as sf:
        client = Client(sf)
        assert client.query("SELECT Id FROM Account").status_code == 200
        now[0] += 61
        expired = client.query("SELECT Id FROM Account")
        assert expired.status_code == 401
        assert expired.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]
        client.refresh()
        assert client.query("SELECT Id FROM Account").status_code == 200
        sf.expire_tokens()
        assert client.query("SELECT Id FROM Account").status_code == 401
        client.refresh()
        assert client.query("SELECT Id FROM Account").status_code == 200
        missing = requests.get(sf.base_url + QUERY, params={"q": "SELECT Id FROM Account"})
        assert missing.status_code == 401
        assert missing.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_faults() -> None:
    with SalesforceEmulator(contacts=1000) as sf:
        client = Client(sf)
        sf.fail_next(503)
        unavailable = client.query("SELECT Id FROM Contact")
        assert unavailable.status_code == 503
        assert unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"

        sf.fail_after_pages(2)
        first = client.query("SELECT Id FROM Contact", batch=200).json()
        second = client.get(first["nextRecordsUrl"], 200).json()
        failed = client.get(second["nextRecordsUrl"], 200)
        assert failed.status_code == 500
        assert failed.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
        retried = client.get(second["nextRecordsUrl"], 200)
        assert retried.status_code == 200
        assert retried.json()["records"][0]["Id"] == sf.record_id("Contact", 400)

        sf.fail_next(503, path="/services/oauth2/token")
        oauth = grant(sf)
        assert oauth.status_code == 503
        assert oauth.json()["error"] == "temporarily_unavailable"


def test_hundred_thousand_contacts_page_quickly() -> None:
    with SalesforceEmulator(contacts=100_000) as sf:
        client = Client(sf)
        started = time.perf_counter()
        pages = client.pages(
            "SELECT Id, Email, SystemModstamp FROM Contact ORDER BY SystemModstamp", batch=2000
        )
        elapsed = time.perf_counter() - started
        assert len(pages) == 50
        assert all(len(p["records"]) == 2000 and p["totalSize"] == 100_000 for p in pages)
        assert pages[0]["records"][0]["Id"] == salesforce_id("003", 0)
        assert pages[-1]["records"][-1]["Id"] == salesforce_id("003", 99_999)
        assert pages[-1]["records"][-1]["SystemModstamp"] == "2026-01-02T03:46:39.000+0000"
        assert pages[-1]["records"][-1]["Email"].endswith("99999@example.com")
        assert elapsed < 5, elapsed
