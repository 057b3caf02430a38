"""AMC: workflow files, tenants, executions as Dagster runs against the AMC and LWA emulators.

The example workflows (examples/amc/workflows: two daily, one weekly) run for two tenants over
a 30-day backfill; the report ledger keeps every window to one execution, an edited SQL file is
synced as an update, and a FAILED execution's reason reaches the run failure and the
notification.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from adlake.config import AmcWorkflowConfig, ConfigError, load_config
from adlake.config.amc_files import one_line, read_workflow
from adlake.lake.storage import Lake
from adlake.notify import AssetOutcome, run_event
from adlake.pulls import ReportLedger
from adlake.pulls.amc import drift, week_windows
from adlake.schedules.pulls import workflow_range
from adlake.sensors.notifications import failure_text
from adlake_tests.conftest import REPO
from adlake_tests.emulators.amc import (
    TEST_ENTITY_ID,
    TEST_ENTITY_ID_2,
    TEST_INSTANCE_ID,
    TEST_INSTANCE_ID_2,
    TEST_MARKETPLACE_ID,
    TEST_MARKETPLACE_ID_2,
    AmcEmulator,
)
from adlake_tests.emulators.lwa import LwaEmulator
from adlake_tests.pull_project import PullProject, days_ago, key, materialize, write_project

EXAMPLES = REPO / "examples" / "amc" / "workflows"
WORKFLOWS = ("campaign_daily", "sponsored_ads_daily", "reach_weekly")
TENANTS = ("brand_us", "brand_uk")


def test_one_line_drops_comments_and_folds_whitespace_outside_quotes() -> None:
    sql = "SELECT a, -- the key\n  'x  -- y' AS b /* note */\nFROM t\n\tWHERE c = 'it''s';\n"
    assert one_line(sql) == "SELECT a, 'x  -- y' AS b FROM t WHERE c = 'it''s'"


def test_a_workflow_file_is_its_header_and_its_sql(tmp_path: Path) -> None:
    fields = read_workflow(EXAMPLES / "campaign_daily.sql")
    assert fields["workflow_id"] == "adlake_campaign_daily"
    assert fields["window"] == "day" and fields["primary_key"] == ["date", "campaign"]
    assert fields["sql"].startswith("SELECT") and "-- workflow_id" not in fields["sql"]
    bare = tmp_path / "my_flow.sql"
    bare.write_text("SELECT 1")
    assert read_workflow(bare)["workflow_id"] == "my_flow"


def amc_source(emulator: AmcEmulator, lwa: LwaEmulator, workflows: Path, **extra) -> dict:  # noqa: ANN003
    """An amc source of the two emulator instances, polling fast."""
    return {
        "kind": "amc",
        "endpoint": emulator.base_url,
        "token_url": lwa.token_url,
        "workflows_dir": str(workflows),
        "poll_interval_seconds": 0.02,
        "max_executions_per_day": 500,
        "start_date": days_ago(60),
        "tenants": {
            "brand_us": {
                "instance_id": TEST_INSTANCE_ID,
                "entity_id": TEST_ENTITY_ID,
                "marketplace_id": TEST_MARKETPLACE_ID,
                "owner": "us-analytics@example.com",
            },
            "brand_uk": {
                "instance_id": TEST_INSTANCE_ID_2,
                "entity_id": TEST_ENTITY_ID_2,
                "marketplace_id": TEST_MARKETPLACE_ID_2,
            },
        },
        **extra,
    }


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    """A copy of the example workflow files the test may edit."""
    folder = tmp_path / "workflows"
    shutil.copytree(EXAMPLES, folder)
    return folder


@pytest.fixture
def amc_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    amc_emulator: AmcEmulator,
    lwa_emulator: LwaEmulator,
    workflows: Path,
) -> PullProject:
    amc_emulator.max_adhoc_per_day = 1_000
    source = amc_source(amc_emulator, lwa_emulator, workflows)
    return write_project(tmp_path, monkeypatch, {"amc": source})


def run(
    project: PullProject, workflow: str, first: str, last: str, **kw
) -> dg.ExecuteInProcessResult:  # noqa: ANN003
    """One run of a workflow's raw asset over first..last for every tenant."""
    return materialize(
        project.defs(),
        [f"raw/amc/{workflow}"],
        kw.pop("instance", None) or dg.DagsterInstance.ephemeral(),
        key(first, TENANTS[0], "tenant"),
        key(last, TENANTS[-1], "tenant"),
        **kw,
    )


def test_config_errors_name_the_workflow_file_and_key(
    tmp_path: Path, amc_emulator: AmcEmulator, lwa_emulator: LwaEmulator, workflows: Path
) -> None:
    path = tmp_path / "adlake.yaml"

    def load(source: dict) -> str:
        path.write_text(yaml.safe_dump({"sources": {"amc": source}}))
        with pytest.raises(ConfigError) as error:
            load_config(path)
        return str(error.value)

    (workflows / "campaign_daily.sql").write_text(
        "-- primary_key: [day]\n-- columns: {date: date}\nSELECT 1"
    )
    message = load(amc_source(amc_emulator, lwa_emulator, workflows))
    assert "sources.amc.workflows.campaign_daily.primary_key" in message
    assert "not an output column" in message
    empty = tmp_path / "none"
    message = load(amc_source(amc_emulator, lwa_emulator, empty))
    assert "sources.amc.workflows_dir" in message and "no workflow files" in message
    (workflows / "campaign_daily.sql").write_text("-- columns: [unclosed\nSELECT 1")
    message = load(amc_source(amc_emulator, lwa_emulator, workflows))
    assert "campaign_daily.sql: the header is not YAML" in message


def test_week_windows_and_scheduled_ranges() -> None:
    wednesday = date(2026, 11, 25)
    assert week_windows(["2026-11-24", "2026-11-26", "2026-12-01"], wednesday + timedelta(7)) == [
        (date(2026, 11, 23), date(2026, 11, 29)),
        (date(2026, 11, 30), date(2026, 12, 2)),
    ]
    config = read_workflow(EXAMPLES / "reach_weekly.sql")
    weekly = AmcWorkflowConfig.model_validate(config)
    assert workflow_range(weekly, date(2026, 12, 2)) == (date(2026, 11, 23), date(2026, 11, 29))
    daily = AmcWorkflowConfig.model_validate(read_workflow(EXAMPLES / "campaign_daily.sql"))
    assert workflow_range(daily, date(2026, 12, 2)) == (date(2026, 11, 30), date(2026, 11, 30))


def executions(emulator: AmcEmulator, workflow_id: str) -> list[tuple[str, str]]:
    """(instance, window start) of every execution of a workflow the emulator created."""
    return [
        (instance, body["timeWindowStart"][:10])
        for instance, body in emulator.created
        if body.get("workflowId") == workflow_id
    ]


def test_two_tenants_three_workflows_over_30_days_without_a_duplicate_execution(
    amc_project: PullProject, amc_emulator: AmcEmulator
) -> None:
    first, last = days_ago(31), days_ago(2)
    instance = dg.DagsterInstance.ephemeral()
    for workflow in WORKFLOWS:
        run(amc_project, workflow, first, last, instance=instance)
    lake = Lake(amc_project.lake_root())
    days = [(date.fromisoformat(first) + timedelta(n)).isoformat() for n in range(30)]
    for workflow in ("campaign_daily", "sponsored_ads_daily"):
        workflow_id = amc_project.config.sources["amc"].workflows[workflow].workflow_id
        made = executions(amc_emulator, workflow_id)
        assert sorted(made) == sorted(
            (i, d) for i in (TEST_INSTANCE_ID, TEST_INSTANCE_ID_2) for d in days
        )
        for tenant in TENANTS:
            entry = ReportLedger(lake, "amc", workflow).get(tenant, days[0], days[0])
            assert entry is not None and (entry.status, entry.requests) == ("landed", 1)
            assert entry.rows == amc_emulator.rows_per_day
    weeks = week_windows(days, date.fromisoformat(days_ago(0)))
    assert len(executions(amc_emulator, "adlake_reach_weekly")) == 2 * len(weeks)
    # each instance got each workflow created once
    assert sorted(w for w in amc_emulator.workflow_writes if w[1] == "POST") == sorted(
        (i, "POST", f"adlake_{w}")
        for i in (TEST_INSTANCE_ID, TEST_INSTANCE_ID_2)
        for w in WORKFLOWS
    )

    before = len(amc_emulator.created)
    again = run(amc_project, "campaign_daily", first, last, instance=instance)
    assert len(amc_emulator.created) == before  # the retry reused every landed window
    metadata = again.asset_materializations_for_node("raw__amc__campaign_daily")[0].metadata
    assert metadata["reports_reused"].value == 60

    materialize(amc_project.defs(), ["clean/amc/campaign_daily", "catalog/amc/campaign_daily"],
                instance, first, last)  # fmt: skip
    catalog = amc_project.config.resolve(amc_project.config.catalog.duckdb_path)
    with duckdb.connect(str(catalog)) as con:
        counted = con.execute(
            "SELECT count(*), count(DISTINCT tenant), min(date), max(date), "
            "typeof(any_value(impressions)), typeof(any_value(spend)) FROM amc.campaign_daily"
        ).fetchone()
    assert counted == (60 * amc_emulator.rows_per_day, 2, date.fromisoformat(first),
                       date.fromisoformat(last), "BIGINT", "DECIMAL(18,4)")  # fmt: skip


def test_an_edited_sql_file_is_synced_as_an_update(
    amc_project: PullProject, amc_emulator: AmcEmulator, workflows: Path
) -> None:
    day = days_ago(3)
    run(amc_project, "campaign_daily", day, day)
    path = workflows / "campaign_daily.sql"
    path.write_text(path.read_text().replace("GROUP BY 1, 2", "WHERE clicks > 0\nGROUP BY 1, 2"))
    amc_project.config = load_config(amc_project.path)
    instance = dg.DagsterInstance.ephemeral()
    result = run(amc_project, "campaign_daily", days_ago(4), days_ago(4), instance=instance)
    updates = [w for w in amc_emulator.workflow_writes if w[1] == "PUT"]
    assert sorted(updates) == [
        (TEST_INSTANCE_ID, "PUT", "adlake_campaign_daily"),
        (TEST_INSTANCE_ID_2, "PUT", "adlake_campaign_daily"),
    ]
    remote = amc_emulator.workflows[TEST_INSTANCE_ID]["adlake_campaign_daily"]["sqlQuery"]
    assert "WHERE clicks > 0 GROUP BY 1, 2" in remote and "\n" not in remote
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("differed from campaign_daily.sql (sqlQuery); updated it" in m for m in logs)


def test_a_failed_execution_shows_amc_s_reason_in_the_run_and_the_notification(
    amc_project: PullProject, amc_emulator: AmcEmulator
) -> None:
    reason = "Query failed: line 1:8: Column 'campain' cannot be resolved"
    amc_emulator.fail_workflows["adlake_campaign_daily"] = reason
    day = days_ago(3)
    result = run(amc_project, "campaign_daily", day, day, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure_text(failure)
    assert reason in text and "brand_us" in text and "FAILED" in text
    event = run_event(
        "run_failed",
        run_id=result.run_id,
        job="raw__amc__campaign_daily",
        ui_base_url="http://127.0.0.1:3000",
        assets=[AssetOutcome(asset_key="raw/amc/campaign_daily")],
        failed_steps=[failure.step_key or ""],
        errors=[text],
    )
    assert reason in event.message and reason in event.to_dict()["errors"][0]

    amc_emulator.fail_workflows.clear()
    before = len(amc_emulator.created)
    assert run(amc_project, "campaign_daily", day, day).success
    assert len(amc_emulator.created) == before + 2  # a failed execution is replaced, once


def test_amc_s_sql_validation_error_names_the_workflow_and_expired_urls_are_renewed(
    amc_project: PullProject, amc_emulator: AmcEmulator, workflows: Path
) -> None:
    path = workflows / "sponsored_ads_daily.sql"
    path.write_text(path.read_text().replace("SELECT\n", "SELEC\n"))
    amc_project.config = load_config(amc_project.path)
    day = days_ago(3)
    failed = run(amc_project, "sponsored_ads_daily", day, day, raise_on_error=False)
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure_text(failure)
    assert "Query validation failed" in text and "adlake_sponsored_ads_daily" in text
    assert not executions(amc_emulator, "adlake_sponsored_ads_daily")

    amc_emulator.expire_next_urls(2)
    amc_emulator.fail_next(429, count=2, retry_after=0.01, path="workflowExecutions$")
    result = run(amc_project, "campaign_daily", day, day)
    assert result.success
    rows = result.asset_materializations_for_node("raw__amc__campaign_daily")[0].metadata["rows"]
    assert rows.value == 2 * amc_emulator.rows_per_day
    assert len(executions(amc_emulator, "adlake_campaign_daily")) == 2


def test_the_readme_workflow_file_example_reads_as_a_valid_workflow(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text().split("## Amazon Marketing Cloud", 1)[1]
    example = readme.split("```sql\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme_example.sql"
    path.write_text(example)
    workflow = AmcWorkflowConfig.model_validate(read_workflow(path))
    assert (workflow.workflow_id, workflow.window, workflow.lag_days) == (
        "adlake_campaign_daily",
        "day",
        2,
    )
    assert workflow.columns["spend"].scale == 4 and one_line(workflow.sql).startswith("SELECT")


def test_the_ui_shows_each_workflow_per_tenant_with_its_owners(amc_project: PullProject) -> None:
    specs = {spec.key: spec for spec in amc_project.defs().resolve_all_asset_specs()}
    raw = specs[dg.AssetKey(["raw", "amc", "campaign_daily"])]
    assert raw.owners == ["us-analytics@example.com"]
    assert TEST_INSTANCE_ID_2 in raw.metadata["tenants"].value
    assert set(raw.partitions_def.get_partition_keys()[:2]) == {  # type: ignore[union-attr]
        key(days_ago(60), tenant, "tenant") for tenant in TENANTS
    }
    assert {s.key for s in specs.values() if s.key.path[1] == "amc"} == {
        dg.AssetKey([layer, "amc", workflow])
        for layer in ("raw", "clean", "catalog")
        for workflow in WORKFLOWS
    }


def test_the_daily_execution_limit_stops_before_amc_refuses_and_loses_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    amc_emulator: AmcEmulator,
    lwa_emulator: LwaEmulator,
    workflows: Path,
) -> None:
    source = amc_source(amc_emulator, lwa_emulator, workflows, max_executions_per_day=3)
    project = write_project(tmp_path, monkeypatch, {"amc": source})
    instance = dg.DagsterInstance.ephemeral()
    first, last = days_ago(6), days_ago(2)
    result = run(project, "campaign_daily", first, last, instance=instance, raise_on_error=False)
    assert not result.success
    text = failure_text(next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE"))
    assert "allows 3 requests per account and day" in text and "Nothing was lost" in text
    made = executions(amc_emulator, "adlake_campaign_daily")
    assert sorted(i for i, _ in made) == [TEST_INSTANCE_ID] * 3 + [TEST_INSTANCE_ID_2] * 3
    # the other workflows share the instance's budget
    assert not run(project, "sponsored_ads_daily", last, last, raise_on_error=False).success
    assert not executions(amc_emulator, "adlake_sponsored_ads_daily")

    source["max_executions_per_day"] = 10
    project = write_project(tmp_path, monkeypatch, {"amc": source})
    assert run(project, "campaign_daily", first, last, instance=instance).success
    made = executions(amc_emulator, "adlake_campaign_daily")
    assert len(made) == len(set(made)) == 10  # each window executed once, none twice


def test_each_workflow_has_its_own_schedule_over_its_lagged_window(
    amc_project: PullProject,
) -> None:
    defs = amc_project.defs()
    names = {s.name for s in defs.schedules or []}
    assert {f"amc_{w}_schedule" for w in WORKFLOWS} <= names
    tuesday = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for workflow, (first, last) in {
        "campaign_daily": ("2026-11-29", "2026-11-29"),
        "reach_weekly": ("2026-11-23", "2026-11-29"),
    }.items():
        schedule = defs.resolve_schedule_def(f"amc_{workflow}_schedule")
        with dg.build_schedule_context(scheduled_execution_time=tuesday) as context:
            request = schedule.evaluate_tick(context).run_requests[0]
        assert request.tags["dagster/asset_partition_range_start"] == key(
            first, "brand_us", "tenant"
        )
        assert request.tags["dagster/asset_partition_range_end"] == key(last, "brand_uk", "tenant")
    assert defs.resolve_schedule_def("amc_reach_weekly_schedule").cron_schedule == "0 10 * * 2"


def test_the_drift_check_reads_each_tenant_s_workflow_without_changing_it(
    amc_project: PullProject, amc_emulator: AmcEmulator
) -> None:
    defs = amc_project.defs()
    check = dg.AssetCheckKey(dg.AssetKey(["raw", "amc", "campaign_daily"]), "workflow_in_sync")
    instance = dg.DagsterInstance.ephemeral()

    def evaluate() -> dg.AssetCheckEvaluation:
        result = dg.materialize(
            list(defs.assets) + list(defs.asset_checks or []),
            selection=dg.AssetSelection.checks(check),
            resources=defs.resources,
            instance=instance,
        )
        return result.get_asset_check_evaluations()[0]

    missing = evaluate()
    assert not missing.passed and missing.metadata["out_of_sync"].value == 2
    run(amc_project, "campaign_daily", days_ago(3), days_ago(3))
    assert evaluate().passed
    remote = amc_emulator.workflows[TEST_INSTANCE_ID]["adlake_campaign_daily"]
    remote["sqlQuery"] = "SELECT 1 AS date"  # someone edited the workflow in AMC
    writes = len(amc_emulator.workflow_writes)
    drifted = evaluate()
    assert (
        not drifted.passed
        and "| brand_us | differs: sqlQuery |" in drifted.metadata["tenants"].value
    )
    assert len(amc_emulator.workflow_writes) == writes  # the check changed nothing


def test_drift_ignores_what_amc_adds_but_not_what_the_file_changes() -> None:
    local = {
        "workflowId": "w",
        "sqlQuery": "SELECT a FROM t",
        "inputParameters": [{"name": "p", "dataType": "STRING", "defaultValue": "1"}],
    }
    remote = {
        **local,
        "sqlQuery": "SELECT a\nFROM t",
        "inputParameters": [
            {**local["inputParameters"][0], "description": "", "columnType": "DIMENSION"}
        ],
        "outputColumns": [],
    }
    assert drift(local, remote) == []
    assert drift({**local, "sqlQuery": "SELECT b FROM t"}, remote) == ["sqlQuery"]
    assert drift({**local, "inputParameters": []}, remote) == ["inputParameters"]
