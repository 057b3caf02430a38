"""The AMC client against the AMC emulator: executions, cancellation, multi-part output, errors."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest
import requests

from adlake.connectors.amc import (
    AmcClient,
    AmcInstance,
    ExecutionFailed,
    ExecutionNotFound,
    WorkflowRejected,
)
from adlake.connectors.lwa import LwaTokens
from adlake_tests.emulators.amc import (
    EXECUTIONS_TYPE,
    TEST_ENTITY_ID,
    TEST_INSTANCE_ID,
    TEST_MARKETPLACE_ID,
    AmcEmulator,
)
from adlake_tests.emulators.fixtures_ads import FAST_HTTP, SleepRecorder
from adlake_tests.emulators.lwa import TEST_CLIENT_ID

INSTANCE = AmcInstance(TEST_INSTANCE_ID, TEST_ENTITY_ID, TEST_MARKETPLACE_ID)
WORKFLOW = {"workflowId": "w_daily", "sqlQuery": "SELECT campaign FROM dsp_impressions"}


@pytest.fixture
def client(amc_emulator: AmcEmulator, lwa_tokens: LwaTokens, sleeps: SleepRecorder) -> AmcClient:
    amc = AmcClient(
        endpoint=amc_emulator.base_url,
        client_id=TEST_CLIENT_ID,
        tokens=lwa_tokens,
        settings=FAST_HTTP,
        sleep=sleeps,
    )
    yield amc
    amc.close()


def execute(client: AmcClient) -> str:
    client.save_workflow(INSTANCE, WORKFLOW, exists=False)
    return client.create_execution(
        INSTANCE, "w_daily", datetime(2026, 11, 1), datetime(2026, 11, 3)
    )


def test_an_execution_is_polled_to_success_and_its_multi_part_output_joined(
    client: AmcClient, amc_emulator: AmcEmulator, tmp_path: Path
) -> None:
    amc_emulator.output_parts = 3
    amc_emulator.rows_per_day = 5
    execution_id = execute(client)
    seen: list[str] = []
    done = client.wait_for_execution(
        INSTANCE, execution_id, on_progress=lambda e, _: seen.append(e["status"]), interval=0.01
    )
    assert done["status"] == "SUCCEEDED" and seen == ["PENDING", "RUNNING"]
    assert done["timeWindowStart"].startswith("2026-11-01T00:00:00")
    amc_emulator.expire_next_urls(1)  # the first part's URL is already expired
    result = client.download_output(INSTANCE, execution_id, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = amc_emulator.expected_rows(execution_id)
    assert [r["campaign"] for r in rows] == [str(r["campaign"]) for r in expected]
    assert len(rows) == 10 and result.bytes == (tmp_path / "out.csv").stat().st_size


def test_a_cancelled_or_unknown_execution_is_explained(
    client: AmcClient, amc_emulator: AmcEmulator
) -> None:
    execution_id = execute(client)
    url = f"{amc_emulator.base_url}/amc/reporting/{TEST_INSTANCE_ID}/workflowExecutions/"
    headers = {
        "Authorization": f"Bearer {amc_emulator.authority.tokens()[0]}",
        "Amazon-Advertising-API-ClientId": TEST_CLIENT_ID,
        "Amazon-Advertising-API-AdvertiserId": TEST_ENTITY_ID,
        "Amazon-Advertising-API-MarketplaceId": TEST_MARKETPLACE_ID,
        "Content-Type": EXECUTIONS_TYPE,
    }
    cancelled = requests.put(url + execution_id, json={"status": "CANCELLED"}, headers=headers)
    assert cancelled.status_code == 200
    with pytest.raises(ExecutionFailed, match="CANCELLED") as failed:
        client.wait_for_execution(INSTANCE, execution_id, interval=0.01)
    assert "w_daily" in str(failed.value)
    with pytest.raises(ExecutionNotFound):
        client.get_execution(INSTANCE, "no-such-execution")


def test_amc_s_validation_message_reaches_the_caller(client: AmcClient) -> None:
    with pytest.raises(WorkflowRejected, match="Query validation failed") as refused:
        client.save_workflow(INSTANCE, {"workflowId": "bad", "sqlQuery": "SELEC 1"}, exists=False)
    assert "instance amctenant001: bad" in str(refused.value)
    assert client.get_workflow(INSTANCE, "bad") is None
