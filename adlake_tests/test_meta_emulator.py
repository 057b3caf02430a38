"""The Meta Custom Audiences emulator driven over HTTP with requests, as a client would."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests

from adlake_tests.emulators.meta import TEST_AD_ACCOUNT, TEST_TOKEN, MetaEmulator

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
FIELDS = (
    "id,name,approximate_count_lower_bound,approximate_count_upper_bound,"
    "operation_status,delivery_status,time_updated"
)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def emails(count: int, start: int = 0) -> list[str]:
    return [sha(f"user{i}@example.com") for i in range(start, start + count)]


def create(meta: MetaEmulator, name: str = "Buyers 90d") -> str:
    response = requests.post(
        f"{meta.graph_url}/act_{TEST_AD_ACCOUNT}/customaudiences",
        data={
            "name": name,
            "subtype": "CUSTOM",
            "description": "adlake segment",
            "customer_file_source": "USER_PROVIDED_ONLY",
            "access_token": TEST_TOKEN,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def upload(
    meta: MetaEmulator,
    audience_id: str,
    schema: Any,
    data: list[Any],
    *,
    edge: str = "users",
    method: str = "POST",
    session: dict[str, Any] | None = None,
) -> requests.Response:
    form = {"payload": json.dumps({"schema": schema, "data": data, "is_raw": True})}
    if session is not None:
        form["session"] = json.dumps(session)
    url = f"{meta.graph_url}/{audience_id}/{edge}"
    return requests.request(method, url, data=form, headers=AUTH, timeout=30)


def get(meta: MetaEmulator, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{meta.graph_url}/{path}", params=params, headers=AUTH, timeout=10)


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    return response.json()["error"]


def test_create_get_list_delete(meta_emulator: MetaEmulator) -> None:
    ids = [create(meta_emulator, f"segment {n}") for n in range(5)]
    audience = get(meta_emulator, ids[0], fields=FIELDS).json()
    assert audience["name"] == "segment 0"
    assert audience["approximate_count_lower_bound"] == audience["approximate_count_upper_bound"]
    assert audience["operation_status"] == {"code": 200, "description": "Normal"}
    assert audience["delivery_status"]["code"] == 300  # empty: too small
    assert isinstance(audience["time_updated"], int)
    assert get(meta_emulator, ids[0]).json() == {"id": ids[0]}  # default fields: id

    seen: list[str] = []
    page = get(
        meta_emulator, f"act_{TEST_AD_ACCOUNT}/customaudiences", fields="id,name", limit=2
    ).json()
    while True:
        seen += [row["id"] for row in page["data"]]
        assert set(page["data"][0]) == {"id", "name"}
        assert set(page["paging"]["cursors"]) == {"before", "after"}
        if "next" not in page["paging"]:
            break
        page = requests.get(page["paging"]["next"], timeout=10).json()
    assert seen == ids[::-1]  # newest first, every audience once
    assert all(TEST_TOKEN not in logged.path for logged in meta_emulator.requests)
    assert all("Authorization" not in logged.headers for logged in meta_emulator.requests)

    bad = get(meta_emulator, ids[0], fields="id,no_such_field")
    assert "nonexisting field (no_such_field)" in error_of(bad)["message"]
    gone = requests.delete(f"{meta_emulator.graph_url}/{ids[0]}", headers=AUTH, timeout=10)
    assert gone.json() == {"success": True}
    missing = error_of(get(meta_emulator, ids[0]))
    assert (missing["code"], missing["error_subcode"]) == (100, 33)


def test_create_needs_customer_file_source(meta_emulator: MetaEmulator) -> None:
    response = requests.post(
        f"{meta_emulator.graph_url}/act_{TEST_AD_ACCOUNT}/customaudiences",
        data={"name": "x", "subtype": "CUSTOM"},
        headers=AUTH,
        timeout=10,
    )
    assert error_of(response)["message"] == "(#100) Missing parameter(s): customer_file_source"


def test_ten_thousand_rows_accepted_and_one_more_rejected(meta_emulator: MetaEmulator) -> None:
    audience_id = create(meta_emulator)
    hashes = emails(10_000)
    answer = upload(meta_emulator, audience_id, "EMAIL_SHA256", hashes).json()
    assert answer["audience_id"] == audience_id and answer["session_id"].isdigit()
    assert (answer["num_received"], answer["num_invalid_entries"]) == (10_000, 0)
    assert answer["invalid_entry_samples"] == {}
    assert meta_emulator.values(audience_id, "EMAIL") == set(hashes)

    too_many = error_of(upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(10_001)))
    assert too_many["code"] == 100 and "10001" in too_many["message"]
    assert "at most 10000" in too_many["message"]
    assert [batch.row_count for batch in meta_emulator.received] == [10_000]
    counts = get(meta_emulator, audience_id, fields="approximate_count_lower_bound").json()
    assert counts["approximate_count_lower_bound"] == 10_000


def test_multi_key_rows_and_invalid_clear_email(meta_emulator: MetaEmulator) -> None:
    audience_id = create(meta_emulator)
    schema = ["EMAIL", "PHONE", "FN", "COUNTRY", "MADID", "EXTERN_ID"]
    madid = "aece52e7-03ee-455a-b3c4-e57283966239"
    rows = [
        [sha("ann@example.com"), sha("16505551234"), sha("ann"), sha("us"), madid, "crm-1"],
        ["", sha("442071234567"), "", sha("gb"), "", "crm-2"],
        ["bob@example.com", "", sha("bob"), "", "", "crm-3"],  # clear e-mail in a hashed key
    ]
    answer = upload(meta_emulator, audience_id, schema, rows).json()
    assert (answer["num_received"], answer["num_invalid_entries"]) == (3, 1)
    assert "bob@example.com" in answer["invalid_entry_samples"]
    assert "EMAIL" in answer["invalid_entry_samples"]["bob@example.com"]
    assert meta_emulator.members(audience_id) == {
        (
            ("COUNTRY", sha("us")),
            ("EMAIL", sha("ann@example.com")),
            ("EXTERN_ID", "crm-1"),
            ("FN", sha("ann")),
            ("MADID", madid),  # MADID and EXTERN_ID are taken as given
            ("PHONE", sha("16505551234")),
        ),
        (("COUNTRY", sha("gb")), ("EXTERN_ID", "crm-2"), ("PHONE", sha("442071234567"))),
    }
    batch = meta_emulator.received[-1]
    assert (batch.operation, batch.schema, batch.num_invalid_entries) == ("add", tuple(schema), 1)

    short = error_of(upload(meta_emulator, audience_id, schema, [rows[0][:3]]))
    assert short["code"] == 100 and "Row 0" in short["message"]
    mixed = error_of(upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(1)))
    assert mixed["code"] == 2650  # a multi-key audience refuses single-key uploads


def test_remove(meta_emulator: MetaEmulator) -> None:
    audience_id = create(meta_emulator)
    upload(meta_emulator, audience_id, ["EMAIL"], [[h] for h in emails(50)])
    removed = upload(
        meta_emulator, audience_id, ["EMAIL"], [[h] for h in emails(20)], method="DELETE"
    )
    assert removed.json()["num_received"] == 20
    assert meta_emulator.values(audience_id, "EMAIL") == set(emails(30, start=20))
    assert [b.operation for b in meta_emulator.received] == ["add", "remove"]


def test_replace_across_three_batches_of_one_session(meta_emulator: MetaEmulator) -> None:
    audience_id = create(meta_emulator)
    upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(100))  # the old membership
    new = emails(250, start=80)
    session_id = 9_007_199_254_740_993
    for seq, start in enumerate((0, 100, 200), start=1):
        session = {
            "session_id": session_id,
            "batch_seq": seq,
            "last_batch_flag": seq == 3,
            "estimated_num_total": 250,
        }
        response = upload(
            meta_emulator,
            audience_id,
            "EMAIL_SHA256",
            new[start : start + 100],
            edge="usersreplace",
            session=session,
        )
        answer = response.json()
        assert answer["session_id"] == str(session_id)
        assert answer["num_received"] == min(seq * 100, 250)  # so far in the session
        if seq < 3:  # membership changes only with the last batch
            assert meta_emulator.values(audience_id, "EMAIL") == set(emails(100))
    assert meta_emulator.values(audience_id, "EMAIL") == set(new)
    replaces = [b for b in meta_emulator.received if b.operation == "replace"]
    assert [b.row_count for b in replaces] == [100, 100, 50]
    assert [b.session["batch_seq"] for b in replaces] == [1, 2, 3]
    sessions = get(meta_emulator, f"{audience_id}/sessions").json()["data"]
    assert [(s["session_id"], s["num_received"]) for s in sessions] == [(str(session_id), "250")]

    no_session = error_of(
        upload(meta_emulator, audience_id, "EMAIL_SHA256", new, edge="usersreplace")
    )
    assert "session is required" in no_session["message"]
    again = {"session_id": 7, "batch_seq": 2, "last_batch_flag": False}
    upload(meta_emulator, audience_id, "EMAIL_SHA256", new[:1], edge="usersreplace", session=again)
    again["batch_seq"] = 1
    backwards = upload(
        meta_emulator, audience_id, "EMAIL_SHA256", new[:1], edge="usersreplace", session=again
    )
    assert "batch_seq 1 must be greater than 2" in error_of(backwards)["message"]


@pytest.mark.parametrize(("code", "subcode"), [(80003, 2446079), (17, 2446079), (613, 1487742)])
def test_throttling_answer(meta_emulator: MetaEmulator, code: int, subcode: int) -> None:
    audience_id = create(meta_emulator)
    meta_emulator.throttle_next(1, code=code, regain_minutes=3)
    throttled = upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(5))
    error = error_of(throttled)
    assert (error["code"], error["error_subcode"], error["is_transient"]) == (code, subcode, True)
    assert error["type"] == "OAuthException" and error["fbtrace_id"]
    usage = json.loads(throttled.headers["X-Business-Use-Case-Usage"])
    (entry,) = usage[TEST_AD_ACCOUNT]
    assert entry["call_count"] == 100 and entry["estimated_time_to_regain_access"] == 3
    assert ("X-Ad-Account-Usage" in throttled.headers) == (code == 613)
    assert meta_emulator.received == []  # nothing was taken
    retried = upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(5))
    assert retried.status_code == 200
    assert (
        json.loads(retried.headers["X-Business-Use-Case-Usage"])[TEST_AD_ACCOUNT][0]["call_count"]
        == meta_emulator.usage_percent
    )


def test_server_error_through_fail_next(meta_emulator: MetaEmulator) -> None:
    meta_emulator.fail_next(503)
    error = get(meta_emulator, f"act_{TEST_AD_ACCOUNT}/customaudiences").json()["error"]
    assert (error["code"], error["is_transient"]) == (2, True)


@pytest.mark.parametrize(
    ("headers", "params", "code"),
    [
        ({"Authorization": "Bearer not-a-token"}, {}, 190),
        ({}, {"access_token": "not-a-token"}, 190),
        ({}, {}, 104),
    ],
)
def test_bad_or_missing_token(
    meta_emulator: MetaEmulator, headers: dict[str, str], params: dict[str, str], code: int
) -> None:
    url = f"{meta_emulator.graph_url}/act_{TEST_AD_ACCOUNT}/customaudiences"
    response = requests.get(url, headers=headers, params=params, timeout=10)
    error = error_of(response)
    assert error["code"] == code and error["type"] == "OAuthException" and error["fbtrace_id"]
    assert all("not-a-token" not in logged.path for logged in meta_emulator.requests)


def test_flagged_audience_refuses_uploads(meta_emulator: MetaEmulator) -> None:
    audience_id = create(meta_emulator)
    meta_emulator.flag_audience(audience_id)
    status = get(meta_emulator, audience_id, fields="operation_status").json()
    assert status["operation_status"]["code"] == 471
    for method in ("POST", "DELETE"):
        error = error_of(
            upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(3), method=method)
        )
        assert (error["code"], error["error_subcode"]) == (100, 1713230)
        assert error["error_user_title"] == "Audience Upload Blocked"
    meta_emulator.clear_flag(audience_id)
    assert upload(meta_emulator, audience_id, "EMAIL_SHA256", emails(3)).status_code == 200
