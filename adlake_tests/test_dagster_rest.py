"""REST sources as Dagster runs: raw -> clean -> catalog of pulled SaaS records, drift, refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from adlake.connectors.rest import RestClient
from adlake_tests.emulators.hubspot import HubSpotEmulator
from adlake_tests.emulators.salesforce import SalesforceEmulator
from adlake_tests.pull_project import PullProject, write_project
from adlake_tests.saas_sources import SECRETS, hubspot_source, salesforce_source


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    salesforce: SalesforceEmulator,
    hubspot: HubSpotEmulator,
) -> PullProject:
    for name, value in SECRETS.items():
        monkeypatch.setenv(f"ADLAKE_SECRET_{name.upper()}", value)
    sources = {"crm": salesforce_source(salesforce), "marketing": hubspot_source(hubspot.base_url)}
    return write_project(tmp_path, monkeypatch, sources)


def run(
    project: PullProject, selection: list[str], partition: str, **kw
) -> dg.ExecuteInProcessResult:  # noqa: ANN003
    defs = project.defs()
    return dg.materialize(
        list(defs.assets) + list(defs.asset_checks or []),
        selection=selection,
        resources=defs.resources,
        partition_key=partition,
        instance=kw.pop("instance", None) or dg.DagsterInstance.ephemeral(),
        **kw,
    )


def today() -> str:
    return datetime.now(tz=UTC).date().isoformat()


def test_pulled_records_clean_into_a_typed_hashed_catalog_table(
    project: PullProject, salesforce: SalesforceEmulator
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    raw = run(project, ["raw/crm/contacts"], today(), instance=instance)
    metadata = raw.asset_materializations_for_node("raw__crm__contacts")[0].metadata
    assert (
        metadata["records"].value == 1_000
        and metadata["cursor_from"].value == "2025-12-31T00:00:00Z"
    )
    run(project, ["clean/crm/contacts", "catalog/crm/contacts"], today(), instance=instance)
    with duckdb.connect(str(project.config.resolve(project.config.catalog.duckdb_path))) as con:
        count, keys, email, stamp_type = con.execute(
            "SELECT count(*), count(DISTINCT id), any_value(email), "
            "typeof(any_value(system_modstamp)) FROM crm.contacts"
        ).fetchone()
    assert (count, keys, stamp_type) == (1_000, 1_000, "TIMESTAMP WITH TIME ZONE")
    assert len(email) == 64 and "@" not in email

    salesforce.touch("Contact", [3, 4])
    again = run(project, ["raw/crm/contacts", "clean/crm/contacts"], today(), instance=instance)
    pulled = again.asset_materializations_for_node("raw__crm__contacts")[0].metadata
    assert pulled["records"].value == 2
    clean = again.asset_materializations_for_node("clean__crm__contacts")[0].metadata
    assert clean["rows_out"].value == 1_000  # the two changed contacts replaced their old rows


def test_a_new_field_is_reported_and_does_not_fail_the_run(
    project: PullProject, hubspot: HubSpotEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(project, ["raw/marketing/contacts"], today(), instance=instance)
    source = hubspot_source(hubspot.base_url)
    source["resources"]["contacts"]["json"]["properties"].append("zip")
    sources = {"marketing": source}
    widened = write_project(tmp_path, monkeypatch, sources)
    hubspot.touch([1])
    result = run(widened, ["raw/marketing/contacts"], today(), instance=instance)
    metadata = result.asset_materializations_for_node("raw__marketing__contacts")[0].metadata
    assert metadata["records"].value == 1 and metadata["new_fields"].value == "properties.zip"


def test_a_run_for_another_day_explains_instead_of_pulling(
    project: PullProject, salesforce: SalesforceEmulator
) -> None:
    result = run(project, ["raw/crm/contacts"], "2026-01-05", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "materialize today's partition" in str(
        failure.step_failure_data.user_failure_data.description
    )
    assert salesforce.calls["query"] == 0


def test_each_rest_source_has_a_schedule_into_today(project: PullProject) -> None:
    defs = project.defs()
    schedule = defs.resolve_schedule_def("crm_pull_schedule")
    moment = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=moment, repository_def=defs.get_repository_def()
    ) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-12-02" and request.run_key == "crm:2026-12-02T15:00+00:00"


def test_a_declared_field_that_changes_type_fails_the_run_after_landing(
    project: PullProject, salesforce: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run(project, ["raw/crm/contacts"], today(), instance=instance)
    real_page = RestClient.page

    def numbers(self, resource, request):  # noqa: ANN001, ANN202
        page = real_page(self, resource, request)
        for record in page.records:
            record["Phone"] = 2065550100  # declared (phone): string -> number
            record["LastName"] = 7  # not declared: only reported
        return page

    monkeypatch.setattr(RestClient, "page", numbers)
    salesforce.touch("Contact", [1])
    result = run(project, ["raw/crm/contacts"], today(), instance=instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.step_failure_data.user_failure_data.description
    assert "declared field(s) changed type: Phone (string -> number)" in text
    assert "LastName" not in text and "kept in raw" in text
