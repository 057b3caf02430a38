"""The HubSpot CRM v3 emulator driven over HTTP with requests, as a connector would."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import requests

from adlake_tests.emulators.hubspot import (
    AUTH_MESSAGE,
    START_MS,
    TEST_TOKEN,
    HubSpotEmulator,
    campaign_id,
    campaign_metrics,
)

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"


def get(hs: HubSpotEmulator, path: str, **params: Any) -> requests.Response:
    return requests.get(hs.base_url + path, headers=AUTH, params=params, timeout=10)


def search(hs: HubSpotEmulator, body: dict[str, Any]) -> requests.Response:
    return requests.post(hs.base_url + SEARCH, headers=AUTH, json=body, timeout=10)


def modified_after(stamp: int | str, *, after: int | str | None = None, limit: int = 100) -> Any:
    body: dict[str, Any] = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": stamp}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "phone"],
        "limit": limit,
    }
    if after is not None:
        body["after"] = after
    return body


def test_missing_or_wrong_token_is_401_in_hubspot_shape() -> None:
    with HubSpotEmulator() as hs:
        for headers in ({}, {"Authorization": "Bearer pat-na1-wrong"}):
            response = requests.get(hs.base_url + CONTACTS, headers=headers, timeout=10)
            assert response.status_code == 401
            body = response.json()
            assert set(body) == {"status", "message", "correlationId", "category"}
            assert body["status"] == "error"
            assert body["message"] == AUTH_MESSAGE
            assert body["category"] == "INVALID_AUTHENTICATION"
            assert len(body["correlationId"]) == 36
        assert hs.calls["getPage"] == 2
        assert all("authorization" not in {k.lower() for k in r.headers} for r in hs.requests)


def test_list_pages_with_limit_and_after_until_no_paging() -> None:
    with HubSpotEmulator(contacts=25) as hs:
        ids: list[str] = []
        params: dict[str, Any] = {"limit": 10, "properties": "email,phone,zip", "archived": "false"}
        pages = 0
        while True:
            response = get(hs, CONTACTS, **params)
            assert response.status_code == 200, response.text
            body = response.json()
            pages += 1
            ids += [record["id"] for record in body["results"]]
            if "paging" not in body:
                break
            following = body["paging"]["next"]
            assert following["link"].startswith(f"{hs.base_url}{CONTACTS}?after=")
            params["after"] = following["after"]
        assert pages == 3
        assert ids == [str(n) for n in range(1, 26)]
        first = get(hs, CONTACTS, limit=1, properties="email,phone").json()
        record = first["results"][0]
        assert record == {
            "id": "1",
            "properties": {
                "createdate": "2026-01-01T00:00:00.000Z",
                "email": "user1@example.com",
                "hs_object_id": "1",
                "lastmodifieddate": "2026-01-01T00:00:00.000Z",
                "phone": "+12065550001",
            },
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "archived": False,
        }
        assert first["paging"]["next"]["after"] == "2"
        defaults = get(hs, CONTACTS, limit=1).json()["results"][0]["properties"]
        assert set(defaults) == {
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        }
        assert hs.pages_served == 5
        assert get(hs, CONTACTS).json()["paging"]["next"]["after"] == "11"  # default limit 10


def test_list_limit_above_100_is_a_validation_error() -> None:
    with HubSpotEmulator() as hs:
        response = get(hs, CONTACTS, limit=101)
        assert response.status_code == 400
        assert response.json()["category"] == "VALIDATION_ERROR"
        assert get(hs, CONTACTS, limit=100).status_code == 200


def test_search_after_touch_returns_exactly_the_touched_contacts_ascending() -> None:
    with HubSpotEmulator() as hs:
        latest = hs.latest_stamp
        assert latest == START_MS + 999 * 1000
        assert search(hs, modified_after(latest)).json() == {"total": 0, "results": []}
        touched = hs.touch([500, 7, 321])
        assert touched == ["501", "8", "322"]
        body = search(hs, modified_after(latest)).json()
        assert body["total"] == 3
        assert "paging" not in body
        assert [record["id"] for record in body["results"]] == touched
        stamps = [record["properties"]["lastmodifieddate"] for record in body["results"]]
        assert stamps == sorted(stamps)
        assert all(record["updatedAt"] > record["createdAt"] for record in body["results"])
        assert body["results"][1]["properties"]["phone"] != "+12065550008"
        # ISO values and the hs_lastmodifieddate alias select the same contacts
        iso_body = modified_after("2026-01-01T00:16:39.000Z")
        iso_body["filterGroups"][0]["filters"][0]["propertyName"] = "hs_lastmodifieddate"
        assert [r["id"] for r in search(hs, iso_body).json()["results"]] == touched
        # the touched contacts moved to the end: a window over the originals skips them
        window = modified_after(START_MS + 4_000, limit=5)
        window["filterGroups"][0]["filters"].append(
            {"propertyName": "lastmodifieddate", "operator": "LTE", "value": START_MS + 9_000}
        )
        answer = search(hs, window).json()
        assert [r["id"] for r in answer["results"]] == ["6", "7", "9", "10"]
        assert answer["total"] == 4
        assert hs.calls["doSearch"] == 4
        assert hs.searches[1]["filterGroups"][0]["filters"][0]["value"] == latest


def test_search_pages_by_offset_and_stops_at_10000_results() -> None:
    with HubSpotEmulator(contacts=12_000) as hs:
        first = search(hs, modified_after(0, limit=200)).json()
        assert first["total"] == 12_000
        assert first["paging"] == {"next": {"after": "200"}}
        second = search(hs, modified_after(0, after="200", limit=200)).json()
        assert second["results"][0]["id"] == "201"
        last = search(hs, modified_after(0, after="9900", limit=200)).json()
        assert [r["id"] for r in last["results"]] == [str(n) for n in range(9901, 10001)]
        assert last["paging"] == {"next": {"after": "10000"}}
        refused = search(hs, modified_after(0, after="10000", limit=200))
        assert refused.status_code == 400
        body = refused.json()
        assert body["status"] == "error"
        assert body["category"] == "VALIDATION_ERROR"
        assert {"message", "correlationId"} <= set(body)
        # the connector's way on: re-query from the newest stamp it saw
        newest = last["results"][-1]["properties"]["lastmodifieddate"]
        more = search(hs, modified_after(newest, limit=200)).json()
        assert more["total"] == 2_000
        assert more["results"][0]["id"] == "10001"
        assert search(hs, modified_after(0, limit=201)).status_code == 400


def test_added_contacts_appear_in_search_after_touched_ones() -> None:
    with HubSpotEmulator(contacts=50) as hs:
        latest = hs.latest_stamp
        hs.touch([0])
        added = hs.add(3)
        assert added == ["51", "52", "53"]
        assert hs.contacts == 53
        body = search(hs, modified_after(latest)).json()
        assert [r["id"] for r in body["results"]] == ["1", "51", "52", "53"]
        newest = body["results"][0]["properties"]["lastmodifieddate"]
        assert [r["id"] for r in search(hs, modified_after(newest)).json()["results"]] == added
        listed = get(hs, CONTACTS, limit=100).json()
        assert [r["id"] for r in listed["results"]][-3:] == added
        assert "paging" not in listed


def test_campaigns_list_metrics_and_unknown_campaign() -> None:
    with HubSpotEmulator(campaigns=5) as hs:
        first = get(hs, "/marketing/v3/campaigns", limit=3).json()
        assert len(first["results"]) == 3
        campaign = first["results"][0]
        assert set(campaign) == {"id", "properties", "createdAt", "updatedAt"}
        assert campaign["id"] == campaign_id(0)
        assert campaign["properties"]["hs_name"] == "Campaign 001"
        rest = get(hs, "/marketing/v3/campaigns", limit=3, after=first["paging"]["next"]["after"])
        assert len(rest.json()["results"]) == 2
        assert "paging" not in rest.json()
        path = f"/marketing/v3/campaigns/{campaign['id']}/reports/metrics"
        dates = {"startDate": "2026-01-01", "endDate": "2026-01-31"}
        metrics = get(hs, path, **dates).json()
        assert set(metrics) == {
            "sessions",
            "newContactsFirstTouch",
            "newContactsLastTouch",
            "influencedContacts",
        }
        assert all(isinstance(value, int) for value in metrics.values())
        assert metrics == get(hs, path, **dates).json()
        assert metrics == campaign_metrics(campaign["id"], date(2026, 1, 1), date(2026, 1, 31))
        assert get(hs, path, startDate="2026-01-01", endDate="2026-01-02").json() != metrics
        unknown = get(hs, "/marketing/v3/campaigns/not-a-campaign/reports/metrics", **dates)
        assert unknown.status_code == 404
        assert unknown.json()["category"] == "OBJECT_NOT_FOUND"
        assert get(hs, path, startDate="2026-02-01", endDate="2026-01-01").status_code == 400
        assert hs.calls["getCampaigns"] == 2
        assert hs.calls["getCampaignMetrics"] == 5


def test_rate_limit_every_nth_call_is_429_with_retry_after() -> None:
    with HubSpotEmulator(rate_limit_every=3, rate_limit_retry_after=2) as hs:
        statuses = []
        for _ in range(6):
            response = get(hs, CONTACTS, limit=1)
            statuses.append(response.status_code)
            assert "X-HubSpot-RateLimit-Secondly" in response.headers
            assert "X-HubSpot-RateLimit-Secondly-Remaining" in response.headers
            if response.status_code == 429:
                assert response.headers["Retry-After"] == "2"
                assert response.headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
                body = response.json()
                assert body["status"] == "error"
                assert body["message"] == "You have reached your secondly limit."
                assert body["errorType"] == "RATE_LIMIT"
                assert body["policyName"] == "SECONDLY"
                assert body["correlationId"]
        assert statuses == [200, 200, 429, 200, 200, 429]
    with HubSpotEmulator() as hs:
        hs.fail_next(429, retry_after=5)
        limited = search(hs, modified_after(0))
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "5"
        assert limited.json()["errorType"] == "RATE_LIMIT"
        assert search(hs, modified_after(0)).status_code == 200


def test_100000_contacts_page_fast_from_constructed_cursors() -> None:
    with HubSpotEmulator(contacts=100_000) as hs:
        began = time.monotonic()
        cursor = None
        for page in range(3):
            params: dict[str, Any] = {"limit": 100, "properties": "email"}
            if cursor:
                params["after"] = cursor
            body = get(hs, CONTACTS, **params).json()
            assert body["results"][0]["id"] == str(page * 100 + 1)
            cursor = body["paging"]["next"]["after"]
        # the cursor is the next page's first id: jump deep, then walk off the end
        assert cursor == "301"
        deep = get(hs, CONTACTS, limit=100, after=str(int(cursor) + 50_000)).json()
        assert deep["results"][0]["id"] == "50301"
        assert deep["results"][0]["properties"]["email"] == "user50301@example.com"
        cursor = "99801"
        ids = []
        while cursor:
            body = get(hs, CONTACTS, limit=100, after=cursor).json()
            ids += [r["id"] for r in body["results"]]
            cursor = body.get("paging", {}).get("next", {}).get("after")
        assert ids == [str(n) for n in range(99801, 100_001)]
        hs.touch([10, 99_998])
        tail = search(hs, modified_after(START_MS + 99_990_000, limit=200)).json()
        assert [r["id"] for r in tail["results"]][-2:] == ["11", "99999"]
        assert tail["total"] == 10
        assert time.monotonic() - began < 5
