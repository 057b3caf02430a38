"""Models of Amazon Marketing Cloud: tenants (instances) and workflows kept as .sql files.

An ``amc`` source lists its tenants (AMC instances, each with its AMC account and marketplace)
and a folder of workflow files. A workflow file is AMC SQL under a YAML header written as
``--`` comment lines (see :func:`adlake.config.amc_files.read_workflow`): the workflow id, the
time window each execution covers (one day, or the calendar week), the data lag, the cron of its
schedule, the typed output columns and their key. Adding a tenant or a workflow is a config or
file change; each workflow becomes one raw asset partitioned by day x tenant.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adlake.config.base import Cron, Name, _Model
from adlake.config.datasets import ColumnConfig, DatasetConfig
from adlake.config.errors import did_you_mean, problem
from adlake.config.pulls import (
    PULLED_PARTITIONS,
    LwaCredentialsConfig,
    _PullSourceConfig,
)

WORKFLOW_ID = r"^[A-Za-z0-9._-]{1,128}$"
TENANT_COLUMN = "tenant"


class AmcTenantConfig(_Model):
    """One AMC instance adlake runs workflows on."""

    instance_id: str = Field(pattern=r"^[A-Za-z0-9]{3,64}$", description="AMC instance id.")
    entity_id: str = Field(
        min_length=1,
        description="AMC account (entity) id, sent as Amazon-Advertising-API-AdvertiserId.",
    )
    marketplace_id: str = Field(
        "ATVPDKIKX0DER", description="Marketplace of the AMC account, e.g. ATVPDKIKX0DER (US)."
    )
    owner: str = Field("", description="Who answers for this tenant (shown in the UI).")
    description: str = Field("", description="Shown in the UI.")
    output: str | None = Field(
        None, description="The instance's S3 output location (s3://bucket/prefix), for reference."
    )
    credentials: LwaCredentialsConfig | None = Field(
        None, description="The tenant's own LWA secret names (default: the source's)."
    )


class AmcWorkflowConfig(_Model):
    """One AMC workflow: its SQL and how its executions map onto daily partitions."""

    workflow_id: str = Field(pattern=WORKFLOW_ID, description="Workflow id on every instance.")
    file: str = Field("", description="The .sql file this workflow was read from.")
    description: str = Field("", description="Shown in the UI.")
    sql: str = Field(min_length=1, description="The AMC SQL, as written in the file.")
    window: Literal["day", "week"] = Field(
        "day",
        description="day: one execution per day; week: one per calendar week (Monday-Sunday), "
        "its rows in the partition of the week's last day unless they carry a date_column.",
    )
    lag_days: int = Field(
        2,
        ge=0,
        le=30,
        description="Days AMC needs before a day's events are complete (48 h for most sources, "
        "up to 14 days for some): scheduled runs pull the day that many days back.",
    )
    lookback_days: int = Field(
        1, ge=1, le=90, description="Days (ending at the lagged day) each scheduled run pulls."
    )
    schedule: Cron | None = Field(
        "0 9 * * *", description="Cron of the workflow's schedule (UTC); null: manual only."
    )
    columns: dict[Name, ColumnConfig] = Field(
        min_length=1, description="The output columns, typed; 'source' is AMC's column name."
    )
    primary_key: list[str] = Field(
        min_length=1, description="Columns that identify an output row within a tenant and day."
    )
    date_column: str | None = Field(
        None, description="A date column holding each row's day (daily rows of a week window)."
    )
    parameters: dict[str, str] = Field(
        default_factory=dict, description="CUSTOM_PARAMETER values passed to every execution."
    )
    filtered_column: str | None = Field(
        None,
        description="Output column AMC sets to flag rows whose metrics its aggregation "
        "threshold filtered (the workflow's filteredMetricsDiscriminatorColumn).",
    )

    @field_validator("columns", mode="before")
    @classmethod
    def _type_shorthand(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _keys_are_columns(self) -> AmcWorkflowConfig:
        for key in self.primary_key:
            if key not in self.columns:
                raise problem(
                    f"not an output column{did_you_mean(key, list(self.columns))}",
                    "name columns listed under columns",
                    key="primary_key",
                    value=key,
                )
        if self.date_column is not None:
            column = self.columns.get(self.date_column)
            if column is None or column.type != "date":
                raise problem(
                    "not a date column of the output",
                    "name an output column of type date, or remove date_column",
                    key="date_column",
                    value=self.date_column,
                )
        if re.search(r";\s*\S", self.sql.strip().rstrip(";")):
            raise problem(
                "holds more than one statement",
                "keep one SELECT per workflow file",
                key="sql",
            )
        return self

    @property
    def report_type(self) -> str:
        """The workflow id (what the ledger records as the report type)."""
        return self.workflow_id


class AmcSourceConfig(_PullSourceConfig):
    """Amazon Marketing Cloud workflows run for every tenant (AMC instance)."""

    kind: Literal["amc"] = Field(description="amc: Amazon Marketing Cloud workflows.")
    tenants: dict[Name, AmcTenantConfig] = Field(
        min_length=1, description="AMC instances by tenant name."
    )
    workflows_dir: str = Field(
        "amc", description="Folder of the workflow .sql files, relative to adlake.yaml."
    )
    workflows: dict[Name, AmcWorkflowConfig] = Field(
        default_factory=dict,
        description="Filled from workflows_dir (one per file, named after it); may be inline.",
    )
    schedule: None = Field(None, description="Not used: each workflow file has its own cron.")
    max_executions_per_day: int | None = Field(
        30,
        ge=1,
        description="Executions adlake starts per instance and UTC day, all workflows together "
        "(AMC's limit is 30); the rest wait for the next run. null: no limit.",
    )
    poll_interval_seconds: float = Field(
        60.0, gt=0, le=600, description="First wait between execution status checks (it grows)."
    )
    poll_timeout_minutes: int = Field(
        720, ge=1, description="An execution not done after this long fails the run (resumable)."
    )
    freshness_hours: int | None = Field(
        96, ge=1, description="Catalog tables are stale when not updated for this many hours."
    )

    @model_validator(mode="after")
    def _has_workflows(self) -> AmcSourceConfig:
        if not self.workflows:
            raise problem(
                f"no workflow files in '{self.workflows_dir}'",
                "add <name>.sql files with a '-- workflow_id: ...' header there, or point "
                "workflows_dir at the folder that holds them",
                key="workflows_dir",
                value=self.workflows_dir,
            )
        ids: dict[str, str] = {}
        for name, workflow in self.workflows.items():
            if workflow.workflow_id in ids:
                raise problem(
                    f"workflow id '{workflow.workflow_id}' is used by '{ids[workflow.workflow_id]}'"
                    " too",
                    "give every workflow file its own workflow_id",
                    key=f"workflows.{name}.workflow_id",
                )
            ids[workflow.workflow_id] = name
        return self

    @property
    def reports(self) -> dict[str, AmcWorkflowConfig]:
        """The workflows, as the pull machinery calls what it pulls."""
        return dict(self.workflows)

    def scopes(self) -> list[str]:
        """The tenant names."""
        return list(self.tenants)

    def tenant_credentials(self, tenant: str) -> LwaCredentialsConfig:
        """The LWA secret names a tenant's calls use."""
        return self.tenants[tenant].credentials or self.credentials

    def dataset_configs(self) -> dict[str, DatasetConfig]:
        """Each workflow's output as a dataset: the tenant plus the declared columns."""
        datasets: dict[str, DatasetConfig] = {}
        for name, workflow in self.workflows.items():
            columns = {
                TENANT_COLUMN: ColumnConfig(type="string", required=True, pii_scan=False),
                **workflow.columns,
            }
            datasets[name] = DatasetConfig(
                description=workflow.description or f"AMC workflow {workflow.workflow_id}.",
                format="jsonl",
                columns=columns,
                primary_key=[TENANT_COLUMN, *workflow.primary_key],
                partition=PULLED_PARTITIONS,
                retention=self.retention,
                start_date=self.start_date,
                freshness_hours=self.freshness_hours,
            )
        return datasets
