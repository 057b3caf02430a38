"""``adlake query``: ad-hoc SQL over the catalog, as a table, CSV or JSON, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from adlake.catalog.query import run_query
from adlake.cli import main
from adlake.config import AdlakeConfig
from adlake_tests.conftest import AwsTestAccount
from adlake_tests.test_dagster_flow import POS_ROWS, clean_and_catalog, ingest_sample_days

SQL = "SELECT count(*) AS n FROM retail_partner.pos_transactions"


def test_query_prints_the_catalog_s_rows_in_each_format(
    project: AdlakeConfig,
    adlake_defs: dg.Definitions,
    sample_landing: list[Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["query", SQL]) == 2  # no catalog yet
    assert "no catalog at" in capsys.readouterr().err
    instance = dg.DagsterInstance.ephemeral()
    ingest_sample_days(adlake_defs, instance)
    clean_and_catalog(adlake_defs, instance)
    assert main(["query", SQL]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].strip() == "n" and table[2].strip() == str(POS_ROWS["rows_out"])
    assert table[-1] == "(1 row(s))"
    assert main(["query", SQL, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": POS_ROWS["rows_out"]}
    assert main(["query", "SELECT store_id FROM retail_partner.pos_transactions", "--format",
                 "csv", "--limit", "2"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[0] == "store_id"
    assert main(["query", "SELECT nope FROM retail_partner.pos_transactions"]) == 2
    error = capsys.readouterr().err
    assert "DuckDB:" in error and "nope" in error


def test_on_the_aws_profile_the_query_runs_on_athena_with_results_in_the_lake(
    aws: AwsTestAccount,
) -> None:
    config = AdlakeConfig.model_validate(
        {
            "profile": "aws",
            "aws": {
                "region": aws.region,
                "endpoint_url": aws.endpoint_url,
                "lake": {"bucket": aws.bucket, "prefix": "adlake", "kms_key_id": aws.kms_key_id},
            },
        }
    )
    run_query(config, "SELECT count(*) FROM adlake_crm.contacts", sleep=lambda _: None)
    athena = aws.client("athena")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    ours = next(e for e in executions if e["Query"] == "SELECT count(*) FROM adlake_crm.contacts")
    location = ours["ResultConfiguration"]["OutputLocation"]
    assert location.startswith(f"s3://{aws.bucket}/adlake/athena-results/")
