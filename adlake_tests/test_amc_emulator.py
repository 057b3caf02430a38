"""The AMC workflow-management emulator driven over HTTP with requests, as a client would."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests

from adlake.connectors.lwa import LwaTokens
from adlake_tests.emulators.amc import (
    EXECUTIONS_TYPE,
    TEST_ENTITY_ID,
    TEST_ENTITY_ID_2,
    TEST_INSTANCE_ID,
    TEST_MARKETPLACE_ID,
    WORKFLOWS_TYPE,
    AmcEmulator,
)
from adlake_tests.emulators.lwa import TEST_CLIENT_ID

SQL = "SELECT campaign, SUM(impressions) AS impressions FROM sponsored_ads_traffic GROUP BY 1"
WINDOW = {
    "timeWindowType": "EXPLICIT",
    "timeWindowStart": "2024-01-20T00:00:00",
    "timeWindowEnd": "2024-01-25T00:00:00",
    "timeWindowTimeZone": "America/New_York",
}


class Amc:
    """A tiny requests client of one emulated instance."""

    def __init__(self, emulator: AmcEmulator, token: str, instance: str = TEST_INSTANCE_ID):
        self.emulator = emulator
        self.base = f"{emulator.base_url}/amc/reporting/{instance}"
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Amazon-Advertising-API-ClientId": TEST_CLIENT_ID,
            "Amazon-Advertising-API-AdvertiserId": TEST_ENTITY_ID,
            "Amazon-Advertising-API-MarketplaceId": TEST_MARKETPLACE_ID,
        }

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        media_type: str = WORKFLOWS_TYPE,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> requests.Response:
        sent = {**self.headers, "Accept": media_type}
        if body is not None:
            sent["Content-Type"] = media_type
        sent.update(headers or {})
        return requests.request(
            method, self.base + path, json=body, headers=sent, params=params, timeout=10
        )

    def create_workflow(self, workflow_id: str, sql: str = SQL) -> requests.Response:
        return self.call("POST", "/workflows", {"workflowId": workflow_id, "sqlQuery": sql})

    def execute(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/workflowExecutions", body, media_type=EXECUTIONS_TYPE)

    def execution(self, execution_id: str) -> dict[str, Any]:
        response = self.call(
            "GET", f"/workflowExecutions/{execution_id}", media_type=EXECUTIONS_TYPE
        )
        assert response.status_code == 200, response.text
        return response.json()

    def cancel(self, execution_id: str) -> requests.Response:
        return self.call(
            "PUT",
            f"/workflowExecutions/{execution_id}",
            {"status": "CANCELLED"},
            media_type=EXECUTIONS_TYPE,
        )

    def download_urls(self, execution_id: str) -> requests.Response:
        return self.call(
            "GET", f"/workflowExecutions/{execution_id}/downloadUrls", media_type=EXECUTIONS_TYPE
        )


@pytest.fixture
def amc(amc_emulator: AmcEmulator, lwa_tokens: LwaTokens) -> Amc:
    return Amc(amc_emulator, lwa_tokens.access_token())


def test_workflow_crud(amc: Amc) -> None:
    assert amc.create_workflow("daily.campaigns-v1_a").json() == {}
    amc.create_workflow("second")
    listed = amc.call("GET", "/workflows").json()
    assert [w["workflowId"] for w in listed["workflows"]] == ["daily.campaigns-v1_a", "second"]
    assert "nextToken" not in listed
    first = amc.call("GET", "/workflows", limit="1").json()
    assert [w["workflowId"] for w in first["workflows"]] == ["daily.campaigns-v1_a"]
    rest = amc.call("GET", "/workflows", limit="1", nextToken=first["nextToken"]).json()
    assert [w["workflowId"] for w in rest["workflows"]] == ["second"]
    assert amc.call("GET", "/workflows", limit="101").status_code == 400

    got = amc.call("GET", "/workflows/second")
    assert got.headers["Content-Type"] == WORKFLOWS_TYPE
    assert got.json() == {"workflowId": "second", "sqlQuery": SQL}
    new_sql = "WITH t AS (SELECT 1 AS x) SELECT x FROM t"
    parameters = [{"name": "campaigns", "dataType": "STRING", "defaultValue": "ALL"}]
    body = {"workflowId": "second", "sqlQuery": new_sql, "inputParameters": parameters}
    assert amc.call("PUT", "/workflows/second", body).status_code == 200
    assert amc.call("GET", "/workflows/second").json() == body
    assert amc.call("DELETE", "/workflows/second").json() == {}
    assert amc.call("GET", "/workflows/second").status_code == 404
    assert amc.call("DELETE", "/workflows/second").status_code == 404
    assert amc.emulator.workflow_writes == [
        (TEST_INSTANCE_ID, "POST", "daily.campaigns-v1_a"),
        (TEST_INSTANCE_ID, "POST", "second"),
        (TEST_INSTANCE_ID, "PUT", "second"),
        (TEST_INSTANCE_ID, "DELETE", "second"),
    ]
    assert list(amc.emulator.workflows[TEST_INSTANCE_ID]) == ["daily.campaigns-v1_a"]


def test_workflow_refusals(amc: Amc) -> None:
    multiline = amc.create_workflow("multi", "SELECT campaign\nFROM sponsored_ads_traffic")
    assert multiline.status_code == 400
    assert "single line" in multiline.json()["details"]
    assert amc.create_workflow("tabbed", "SELECT\tcampaign FROM t").status_code == 400
    typo = amc.create_workflow("typo", "SELEC campaign FROM sponsored_ads_traffic")
    assert typo.status_code == 400
    assert typo.json() == {
        "code": "400",
        "details": "Query validation failed: mismatched input 'SELEC' expecting "
        "{'(', 'SELECT', 'WITH', 'VALUES', 'TABLE'}",
    }
    assert "mismatched input 'DELETE'" in amc.create_workflow("x", "DELETE FROM t").text
    assert amc.create_workflow("has space").status_code == 400
    assert amc.call("POST", "/workflows", {"workflowId": "nosql"}).status_code == 400
    assert amc.create_workflow("once").status_code == 200
    duplicate = amc.create_workflow("once")
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["details"]
    wrong_type = amc.call(
        "POST",
        "/workflows",
        {"workflowId": "json", "sqlQuery": SQL},
        headers={"Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415
    assert amc.emulator.workflow_writes == [(TEST_INSTANCE_ID, "POST", "once")]


def test_execution_lifecycle_and_download(amc: Amc) -> None:
    amc.create_workflow("campaigns")
    created = amc.execute({"workflowId": "campaigns", **WINDOW})
    assert created.status_code == 200, created.text
    execution = created.json()
    execution_id = execution["workflowExecutionId"]
    assert execution["status"] == "PENDING"
    assert execution["workflowId"] == "campaigns"
    assert execution["executionCategory"] == "AD_HOC"
    assert execution["timeWindowStart"] == "2024-01-20T05:00:00Z"
    assert execution["timeWindowEnd"] == "2024-01-25T05:00:00Z"
    assert execution["timeWindowStartOriginal"] == "2024-01-20T00:00:00"
    assert execution["timeWindowTimeZoneOriginal"] == "America/New_York"
    assert amc.emulator.created == [(TEST_INSTANCE_ID, {"workflowId": "campaigns", **WINDOW})]

    early = amc.download_urls(execution_id)
    assert early.status_code == 400
    assert (
        early.json()["details"] == f"Execution with ID {execution_id} is unavailable for download"
    )

    statuses = [amc.execution(execution_id)["status"] for _ in range(3)]
    assert statuses == ["PENDING", "RUNNING", "SUCCEEDED"]
    done = amc.execution(execution_id)
    assert done["status"] == "SUCCEEDED"
    assert [c["name"] for c in done["outputColumns"]] == [
        "date",
        "campaign",
        "impressions",
        "clicks",
        "spend",
    ]
    assert "outputS3URI" in done and isinstance(done["executionTime"], int)
    assert "statusReason" not in done

    urls = amc.download_urls(execution_id).json()
    assert urls["metadataDownloadUrls"] == []
    (url,) = urls["downloadUrls"]
    downloaded = requests.get(url, timeout=10)  # presigned: no Amazon headers
    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Type"] == "text/csv"
    assert downloaded.text.splitlines()[0] == "date,campaign,impressions,clicks,spend"
    rows = list(csv.DictReader(io.StringIO(downloaded.text)))
    expected = amc.emulator.expected_rows(execution_id)
    assert rows == [{k: str(v) for k, v in row.items()} for row in expected]
    assert len(rows) == 5 * 3
    assert {r["date"] for r in rows} == {f"2024-01-{d}" for d in range(20, 25)}

    amc.emulator.expire_all_urls()
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    assert "Request has expired" in expired.text
    fresh = amc.download_urls(execution_id).json()["downloadUrls"][0]
    assert requests.get(fresh, timeout=10).text == downloaded.text


def test_rows_are_deterministic(amc: Amc, amc_emulator: AmcEmulator) -> None:
    amc.create_workflow("campaigns")
    first = amc.execute({"workflowId": "campaigns", **WINDOW}).json()["workflowExecutionId"]
    second = amc.execute({"workflowId": "campaigns", **WINDOW}).json()["workflowExecutionId"]
    assert amc_emulator.expected_rows(first) == amc_emulator.expected_rows(second)


def test_ad_hoc_execution_and_listing(amc: Amc) -> None:
    amc.emulator.polls_to_complete = 1
    adhoc = amc.execute({"workflow": {"sqlQuery": SQL}, "timeWindowType": "MOST_RECENT_WEEK"})
    assert adhoc.status_code == 200, adhoc.text
    adhoc_id = adhoc.json()["workflowExecutionId"]
    assert adhoc.json()["workflowId"].startswith("transient_")
    assert adhoc.json()["timeWindowTimeZoneOriginal"] == "UTC"
    assert amc.execution(adhoc_id)["status"] == "SUCCEEDED"
    assert len(amc.emulator.expected_rows(adhoc_id)) == 7 * 3

    amc.create_workflow("listed")
    ids = [amc.execute({"workflowId": "listed"}).json()["workflowExecutionId"] for _ in range(3)]
    assert amc.cancel(ids[1]).status_code == 200
    listed = amc.call(
        "GET", "/workflowExecutions", media_type=EXECUTIONS_TYPE, workflowId="listed"
    ).json()
    assert [e["workflowExecutionId"] for e in listed["executions"]] == [ids[2], ids[0]]
    with_cancelled = amc.call(
        "GET",
        "/workflowExecutions",
        media_type=EXECUTIONS_TYPE,
        workflowId="listed",
        includeCancelled="true",
        limit="2",
    ).json()
    assert [e["workflowExecutionId"] for e in with_cancelled["executions"]] == ids[:0:-1]
    following = amc.call(
        "GET",
        "/workflowExecutions",
        media_type=EXECUTIONS_TYPE,
        workflowId="listed",
        includeCancelled="true",
        nextToken=with_cancelled["nextToken"],
    ).json()
    assert [e["workflowExecutionId"] for e in following["executions"]] == [ids[0]]
    since = amc.call(
        "GET",
        "/workflowExecutions",
        media_type=EXECUTIONS_TYPE,
        minCreationTime="2020-01-01T00:00:00",
    ).json()
    assert len(since["executions"]) == 3  # the ad hoc one and two of "listed"
    unfiltered = amc.call("GET", "/workflowExecutions", media_type=EXECUTIONS_TYPE)
    assert unfiltered.status_code == 400


def test_execution_refusals(amc: Amc) -> None:
    assert amc.execute({"workflowId": "missing"}).status_code == 404
    assert amc.execute({"workflow": {"sqlQuery": "SELEC 1"}}).status_code == 400
    amc.create_workflow("w")
    both = amc.execute({"workflowId": "w", "workflow": {"sqlQuery": SQL}})
    assert both.status_code == 400
    no_end = amc.execute(
        {"workflowId": "w", "timeWindowType": "EXPLICIT", "timeWindowStart": "2024-01-01T00:00:00"}
    )
    assert no_end.status_code == 400
    bad_format = amc.execute({**WINDOW, "workflowId": "w", "timeWindowEnd": "2024-01-25"})
    assert bad_format.status_code == 400
    assert amc.execute({"workflowId": "w", "timeWindowType": "YESTERDAY"}).status_code == 400
    for kind in ("ALL", "CURRENT_MONTH", "MOST_RECENT_DAY", "MOST_RECENT_WEEK", "PREVIOUS_MONTH"):
        assert amc.execute({"workflowId": "w", "timeWindowType": kind}).status_code == 200
    assert len(amc.emulator.created) == 5


def test_failing_workflow_and_cancel(amc: Amc) -> None:
    amc.emulator.fail_workflows["broken"] = "Query exceeded the resources available"
    amc.create_workflow("broken")
    failing = amc.execute({"workflowId": "broken", **WINDOW}).json()["workflowExecutionId"]
    final = [amc.execution(failing) for _ in range(3)][-1]
    assert final["status"] == "FAILED"
    assert final["statusReason"] == "Query exceeded the resources available"
    assert "outputColumns" not in final
    assert amc.download_urls(failing).status_code == 400
    assert amc.cancel(failing).status_code == 400

    amc.create_workflow("slow")
    slow = amc.execute({"workflowId": "slow", **WINDOW}).json()["workflowExecutionId"]
    assert amc.execution(slow)["status"] == "PENDING"
    assert amc.cancel(slow).json() == {}
    assert amc.execution(slow)["status"] == "CANCELLED"
    again = amc.cancel(slow)
    assert again.status_code == 400
    assert "CANCELLED" in again.json()["details"]


def test_auth_checks(amc: Amc, amc_emulator: AmcEmulator) -> None:
    wrong_advertiser = amc.call(
        "GET", "/workflows", headers={"Amazon-Advertising-API-AdvertiserId": TEST_ENTITY_ID_2}
    )
    assert wrong_advertiser.status_code == 403
    assert set(wrong_advertiser.json()) == {"code", "details"}
    no_marketplace = {**amc.headers}
    del no_marketplace["Amazon-Advertising-API-MarketplaceId"]
    url = f"{amc.base}/workflows"
    assert requests.get(url, headers=no_marketplace, timeout=10).status_code == 403
    no_token = {k: v for k, v in amc.headers.items() if k != "Authorization"}
    missing = requests.get(url, headers=no_token, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["code"] == "401"
    bogus = amc.call("GET", "/workflows", headers={"Authorization": "Bearer Atza|bogus"})
    assert bogus.status_code == 401
    other_client = amc.call("GET", "/workflows", headers={"Amazon-Advertising-API-ClientId": "x"})
    assert other_client.status_code == 401
    unknown = requests.get(
        f"{amc_emulator.base_url}/amc/reporting/nosuchinstance/workflows",
        headers=amc.headers,
        timeout=10,
    )
    assert unknown.status_code == 404


def test_parallel_limit_and_faults(amc: Amc) -> None:
    amc.emulator.max_parallel = 2
    amc.create_workflow("w")
    first, _second = (amc.execute({"workflowId": "w"}).json() for _ in range(2))
    refused = amc.execute({"workflowId": "w"})
    assert refused.status_code == 429
    assert "Too many concurrent executions" in refused.json()["details"]
    amc.cancel(first["workflowExecutionId"])
    assert amc.execute({"workflowId": "w"}).status_code == 200
    assert len(amc.emulator.created) == 3

    amc.emulator.max_parallel = 10
    amc.emulator.max_adhoc_per_day = 3
    daily = amc.execute({"workflowId": "w"})
    assert daily.status_code == 429
    assert "ad hoc" in daily.json()["details"]

    amc.emulator.fail_next(429, retry_after=2)
    throttled = amc.call("GET", "/workflows")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["code"] == "429"
    assert amc.call("GET", "/workflows").status_code == 200
