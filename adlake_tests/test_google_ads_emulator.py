"""The Google Ads Customer Match emulator, driven with plain ``requests`` as a client would.

Covers the list -> job -> addOperations -> run -> poll flow and the membership it leaves, the
identifier limits, removeAll, job state errors, FAILED jobs, quota and authentication errors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from adlake_tests.emulators.google_ads import TEST_CUSTOMER_ID, GoogleAdsEmulator

CID = TEST_CUSTOMER_ID
JOB_FIELDS = (
    "offline_user_data_job.id, offline_user_data_job.status, "
    "offline_user_data_job.failure_reason, "
    "offline_user_data_job.operation_metadata.match_rate_range"
)


def sha(value: str) -> str:
    """Lowercase hex SHA-256, as Customer Match expects."""
    return hashlib.sha256(value.encode()).hexdigest()


def email(n: int) -> dict[str, str]:
    """A hashed-email identifier for user ``n``."""
    return {"hashedEmail": sha(f"user{n}@example.com")}


class Client:
    """The calls a Customer Match client makes, against the emulator."""

    def __init__(self, emulator: GoogleAdsEmulator, headers: dict[str, str]) -> None:
        self.base = f"{emulator.base_url}/v25"
        self.session = requests.Session()
        self.session.headers.update(headers)

    def post(self, path: str, body: Any) -> requests.Response:
        """POST JSON to a v25 path."""
        return self.session.post(f"{self.base}/{path}", json=body, timeout=30)

    def create_list(self, name: str = "adlake buyers", key: str = "CONTACT_INFO") -> str:
        """Create a CRM-based user list; its resource name."""
        crm = {"uploadKeyType": key, "dataSourceType": "FIRST_PARTY"}
        if key == "MOBILE_ADVERTISING_ID":
            crm["appId"] = "com.example.app"
        create = {"name": name, "membershipLifeSpan": "540", "crmBasedUserList": crm}
        response = self.post(
            f"customers/{CID}/userLists:mutate", {"operations": [{"create": create}]}
        )
        assert response.status_code == 200, response.text
        return response.json()["results"][0]["resourceName"]

    def create_job(self, user_list: str) -> str:
        """Create a Customer Match job for the list; its resource name."""
        consent = {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
        metadata = {"userList": user_list, "consent": consent}
        body = {
            "job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": metadata}
        }
        response = self.post(f"customers/{CID}/offlineUserDataJobs:create", body)
        assert response.status_code == 200, response.text
        return response.json()["resourceName"]

    def add(self, job: str, operations: list[Any], partial: bool = True) -> requests.Response:
        """addOperations on the job."""
        body = {"operations": operations, "enablePartialFailure": partial}
        return self.post(f"{job}:addOperations", body)

    def run_to_end(self, job: str) -> dict[str, Any]:
        """Run the job and poll its operation until done; the final operation."""
        response = self.post(f"{job}:run", {})
        assert response.status_code == 200, response.text
        operation = response.json()
        assert operation["done"] is False
        for _ in range(10):
            if operation["done"]:
                return operation
            got = self.session.get(f"{self.base}/{operation['name']}", timeout=30)
            assert got.status_code == 200, got.text
            operation = got.json()
        raise AssertionError("the job never finished")

    def search(self, query: str) -> requests.Response:
        """A GAQL search of the customer."""
        return self.post(f"customers/{CID}/googleAds:search", {"query": query})

    def job_row(self, job: str) -> dict[str, Any]:
        """The job as the GAQL search reports it."""
        query = (
            f"SELECT {JOB_FIELDS} FROM offline_user_data_job "
            f"WHERE offline_user_data_job.resource_name = '{job}'"
        )
        response = self.search(query)
        assert response.status_code == 200, response.text
        return response.json()["results"][0]["offlineUserDataJob"]


@pytest.fixture
def client(google_ads_emulator: GoogleAdsEmulator, google_ads_headers: dict[str, str]) -> Client:
    """A client of the emulator with valid credentials."""
    return Client(google_ads_emulator, google_ads_headers)


def error_codes(response: requests.Response) -> list[dict[str, str]]:
    """The errorCode objects of an HTTP error's GoogleAdsFailure."""
    details = response.json()["error"]["details"]
    failure = next(d for d in details if d["@type"].endswith("errors.GoogleAdsFailure"))
    return [error["errorCode"] for error in failure["errors"]]


def test_full_flow_with_partial_failure(
    client: Client, google_ads_emulator: GoogleAdsEmulator
) -> None:
    user_list = client.create_list()
    job = client.create_job(user_list)
    address = {
        "hashedFirstName": sha("ada"),
        "hashedLastName": sha("lovelace"),
        "countryCode": "GB",
        "postalCode": "W1A 1AA",
    }
    operations = [
        {"create": {"userIdentifiers": [email(1), {"hashedPhoneNumber": sha("+442071234567")}]}},
        {"create": {"userIdentifiers": [{"hashedEmail": "ADA@EXAMPLE.COM"}]}},
        {"create": {"userIdentifiers": [email(2), {"addressInfo": address}]}},
        {
            "create": {
                "userIdentifiers": [{"addressInfo": {**address, "postalCode": sha("w1a1aa")}}]
            }
        },
    ]
    response = client.add(job, operations)
    assert response.status_code == 200, response.text
    status = response.json()["partialFailureError"]
    assert status["code"] == 3
    errors = status["details"][0]["errors"]
    assert [e["errorCode"] for e in errors] == [
        {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
        {"offlineUserDataJobError": "INVALID_ENCODING"},
    ]
    first = [e["location"]["fieldPathElements"][0] for e in errors]
    assert first == [
        {"fieldName": "operations", "index": 1},
        {"fieldName": "operations", "index": 3},
    ]
    assert client.job_row(job)["status"] == "PENDING"

    final = client.run_to_end(job)
    assert final["response"]["@type"].endswith("google.protobuf.Empty")
    assert final["metadata"]["matchRateRange"] == "MATCH_RANGE_51_TO_60"
    row = client.job_row(job)
    assert row["status"] == "SUCCESS"
    assert row["operationMetadata"] == {"matchRateRange": "MATCH_RANGE_51_TO_60"}
    assert "failureReason" not in row

    assert google_ads_emulator.identifiers(user_list) == {
        sha("user1@example.com"),
        sha("user2@example.com"),
    }
    assert google_ads_emulator.identifiers(user_list, "addressInfo") == {
        f"{sha('ada')}:{sha('lovelace')}:GB:W1A 1AA"
    }
    call = google_ads_emulator.received[0]
    assert (call.job, call.operation_count, call.identifiers) == (job, 4, (2, 1, 2, 1))
    assert call.kinds == ("create",) * 4 and call.rejected == (1, 3)
    query = (
        "SELECT user_list.resource_name, user_list.name, user_list.size_for_search "
        "FROM user_list WHERE user_list.name = 'adlake buyers'"
    )
    found = client.search(query).json()
    assert found["results"] == [
        {"userList": {"resourceName": user_list, "name": "adlake buyers", "sizeForSearch": "2"}}
    ]
    assert "results" not in client.search(query.replace("adlake buyers", "nobody")).json()


def test_without_partial_failure_nothing_is_accepted(
    client: Client, google_ads_emulator: GoogleAdsEmulator
) -> None:
    job = client.create_job(client.create_list())
    operations = [
        {"create": {"userIdentifiers": [email(1)]}},
        {"create": {"userIdentifiers": [{"hashedEmail": "x"}]}},
    ]
    response = client.add(job, operations, partial=False)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert error_codes(response) == [{"offlineUserDataJobError": "INVALID_SHA256_FORMAT"}]
    assert google_ads_emulator.jobs[job].operations == []


def test_more_than_100000_identifiers_in_one_request(
    client: Client, google_ads_emulator: GoogleAdsEmulator
) -> None:
    job = client.create_job(client.create_list())
    digest = sha("same")
    user = {"create": {"userIdentifiers": [{"hashedEmail": digest}] * 20}}
    response = client.add(job, [user] * 5000 + [{"create": {"userIdentifiers": [email(0)]}}])
    assert response.status_code == 400
    assert error_codes(response) == [{"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"}]
    assert client.add(job, [user] * 5000).status_code == 200
    assert [sum(c.identifiers) for c in google_ads_emulator.received] == [100_001, 100_000]


def test_21_identifiers_in_one_user(client: Client) -> None:
    job = client.create_job(client.create_list())
    too_many = {"create": {"userIdentifiers": [email(n) for n in range(21)]}}
    response = client.add(job, [{"create": {"userIdentifiers": [email(99)]}}, too_many])
    errors = response.json()["partialFailureError"]["details"][0]["errors"]
    assert errors[0]["errorCode"] == {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"}
    assert errors[0]["location"]["fieldPathElements"][:2] == [
        {"fieldName": "operations", "index": 1},
        {"fieldName": "create"},
    ]


def test_remove_all_then_add_replaces_the_list(
    client: Client, google_ads_emulator: GoogleAdsEmulator
) -> None:
    user_list = client.create_list()
    first = client.create_job(user_list)
    client.add(first, [{"create": {"userIdentifiers": [email(n)]}} for n in range(3)])
    client.run_to_end(first)
    removal = client.create_job(user_list)
    assert client.add(removal, [{"remove": {"userIdentifiers": [email(0)]}}]).json() == {}
    conflict = client.add(removal, [{"create": {"userIdentifiers": [email(7)]}}]).json()
    codes = conflict["partialFailureError"]["details"][0]["errors"]
    assert codes[0]["errorCode"] == {"offlineUserDataJobError": "CONFLICTING_OPERATION"}
    client.run_to_end(removal)
    assert google_ads_emulator.identifiers(user_list) == {
        sha("user1@example.com"),
        sha("user2@example.com"),
    }

    replace = client.create_job(user_list)
    late = client.add(
        replace, [{"create": {"userIdentifiers": [email(5)]}}, {"removeAll": True}]
    ).json()
    order = late["partialFailureError"]["details"][0]["errors"][0]["errorCode"]
    assert order == {"offlineUserDataJobError": "INVALID_OPERATION_ORDER"}
    client.add(replace, [{"removeAll": True}, {"create": {"userIdentifiers": [email(9)]}}])
    client.run_to_end(replace)
    # applied in order: create user5, then removeAll clears it, then create user9
    assert google_ads_emulator.identifiers(user_list) == {sha("user9@example.com")}
    assert google_ads_emulator.received[-1].kinds == ("removeAll", "create")


def test_a_job_runs_once(client: Client) -> None:
    job = client.create_job(client.create_list())
    client.add(job, [{"create": {"userIdentifiers": [email(1)]}}])
    assert client.post(f"{job}:run", {}).status_code == 200
    assert client.job_row(job)["status"] == "RUNNING"
    again = client.post(f"{job}:run", {})
    assert again.status_code == 400
    assert error_codes(again) == [{"offlineUserDataJobError": "JOB_ALREADY_STARTED"}]
    late = client.add(job, [{"create": {"userIdentifiers": [email(2)]}}])
    assert error_codes(late) == [{"offlineUserDataJobError": "JOB_ALREADY_STARTED"}]


def test_failed_job_leaves_the_list_unchanged(
    client: Client, google_ads_emulator: GoogleAdsEmulator
) -> None:
    user_list = client.create_list()
    job = client.create_job(user_list)
    client.add(job, [{"create": {"userIdentifiers": [email(1)]}}])
    google_ads_emulator.fail_next_job("INSUFFICIENT_MATCHED_TRANSACTIONS")
    final = client.run_to_end(job)
    assert final["done"] is True and "response" not in final
    assert "INSUFFICIENT_MATCHED_TRANSACTIONS" in final["error"]["message"]
    row = client.job_row(job)
    assert (row["status"], row["failureReason"]) == ("FAILED", "INSUFFICIENT_MATCHED_TRANSACTIONS")
    assert google_ads_emulator.members(user_list) == set()
    with pytest.raises(ValueError, match="not an OfflineUserDataJobFailureReason"):
        google_ads_emulator.fail_next_job("BROKEN")


def test_quota_exhausted(client: Client, google_ads_emulator: GoogleAdsEmulator) -> None:
    google_ads_emulator.exhaust_quota_next(2, retry_delay=17)
    for _ in range(2):
        response = client.search("SELECT user_list.id FROM user_list")
        assert response.status_code == 429 and "Retry-After" not in response.headers
        error = response.json()["error"]
        assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
        assert error_codes(response) == [{"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"}]
        retry = next(d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo"))
        assert retry["retryDelay"] == "17s"
    assert client.search("SELECT user_list.id FROM user_list").status_code == 200


def test_unsupported_query(client: Client) -> None:
    response = client.search("SELECT campaign.id FROM campaign")
    assert response.status_code == 400
    assert error_codes(response) == [{"queryError": "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"}]
    response = client.search("SELECT user_list.id FROM user_list WHERE user_list.name LIKE 'a%'")
    assert error_codes(response) == [{"queryError": "UNEXPECTED_INPUT"}]


def test_credentials(
    google_ads_emulator: GoogleAdsEmulator, google_ads_headers: dict[str, str]
) -> None:
    url = f"{google_ads_emulator.base_url}/v25/customers/{CID}/googleAds:search"
    body = {"query": "SELECT user_list.id FROM user_list"}
    bad_token = {**google_ads_headers, "Authorization": "Bearer ya29.wrong"}
    response = requests.post(url, json=body, headers=bad_token, timeout=10)
    assert (response.status_code, response.json()["error"]["status"]) == (401, "UNAUTHENTICATED")
    assert error_codes(response) == [{"authenticationError": "OAUTH_TOKEN_INVALID"}]
    no_developer_token = {k: v for k, v in google_ads_headers.items() if k != "developer-token"}
    response = requests.post(url, json=body, headers=no_developer_token, timeout=10)
    assert response.status_code == 400
    assert error_codes(response) == [{"requestError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}]
    response = requests.post(
        url.replace(CID, "5555555555"), json=body, headers=google_ads_headers, timeout=10
    )
    assert error_codes(response) == [{"authorizationError": "USER_PERMISSION_DENIED"}]
    logged = [request.headers for request in google_ads_emulator.requests]
    assert all("Authorization" not in h and "developer-token" not in h for h in logged)
    assert logged[0]["login-customer-id"] == CID
