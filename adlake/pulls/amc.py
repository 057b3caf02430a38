"""AMC workflows as :class:`~adlake.pulls.api.ReportApi` s: sync the workflow, execute a window.

The scope of a report is a tenant (an AMC instance). Before the first execution on a tenant in
a run, the workflow file is synced to the instance: created when missing, updated when the
remote SQL, parameters or discriminator drifted from the file (logged with what differed), left
alone otherwise. An execution covers the window's whole days in UTC (EXPLICIT window, end
exclusive); its CSV output is streamed to raw as delivered.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from adlake.config.amc import AmcSourceConfig, AmcWorkflowConfig
from adlake.config.amc_files import one_line
from adlake.config.pulls import LwaCredentialsConfig
from adlake.connectors import amc
from adlake.connectors.amazon_ads.client import ADS_HOSTS
from adlake.connectors.http import DownloadResult
from adlake.connectors.lwa import LWA_TOKEN_URLS, LwaCredentials, LwaTokens
from adlake.pulls.api import Progress, RemoteFailed, RemoteGone, RemoteReport
from adlake.pulls.runner import plan_windows

SecretLookup = Callable[[str], str]
Log = Callable[[str], None]


def workflow_body(workflow: AmcWorkflowConfig) -> dict[str, Any]:
    """The saved-workflow definition AMC receives for a workflow file."""
    body: dict[str, Any] = {"workflowId": workflow.workflow_id, "sqlQuery": one_line(workflow.sql)}
    if workflow.filtered_column:
        body["filteredMetricsDiscriminatorColumn"] = workflow.filtered_column
    if workflow.parameters:
        body["inputParameters"] = [
            {"name": name, "dataType": "STRING", "defaultValue": value}
            for name, value in sorted(workflow.parameters.items())
        ]
    return body


def drift(local: dict[str, Any], remote: dict[str, Any]) -> list[str]:
    """The managed fields where the instance's workflow differs from the file's.

    Only what adlake sends is compared: the SQL in its one-line form, and of each input
    parameter its name, type and default (AMC may add descriptions or column types).
    """
    return [
        field
        for field in amc.client.WORKFLOW_FIELDS
        if _comparable(field, local.get(field)) != _comparable(field, remote.get(field))
    ]


def _comparable(field: str, value: Any) -> Any:
    if not value:
        return None
    if field == "sqlQuery":
        return one_line(str(value))
    if field == "inputParameters" and isinstance(value, list):
        keys = ("name", "dataType", "defaultValue")
        return sorted(tuple(str(p.get(k)) for k in keys) for p in value if isinstance(p, dict))
    return value


def week_windows(days: list[str], today: date) -> list[tuple[date, date]]:
    """The calendar weeks (Monday-Sunday, not past ``today``) that hold ``days``."""
    weeks = sorted({date.fromisoformat(d) - timedelta(days=date.fromisoformat(d).weekday())
                    for d in days})  # fmt: skip
    return [(monday, min(monday + timedelta(days=6), today)) for monday in weeks]


class AmcWorkflows:
    """One AMC workflow, executed per tenant and window."""

    api = "amc"
    noun = "execution"
    scope_field = "tenant"
    file_name = "output.csv"
    retention_days: int | None = None  # AMC keeps events for 13 months or more, per source

    def __init__(
        self,
        source: AmcSourceConfig,
        name: str,
        secret: SecretLookup,
        *,
        log: Log = lambda _: None,
    ) -> None:
        self.source = source
        self.name = name
        self.workflow = source.workflows[name]
        self.report_type = self.workflow.workflow_id
        self.max_days = 7 if self.workflow.window == "week" else 1
        self.daily_limit = source.max_executions_per_day
        self.synced: dict[str, str] = {}  # tenant -> created | updated | unchanged
        self._secret = secret
        self._log = log
        self._clients: dict[LwaCredentialsConfig, amc.AmcClient] = {}

    def windows(self, days: list[str]) -> list[tuple[date, date]]:
        """One window per day, or per calendar week for a week workflow."""
        if self.workflow.window == "week":
            return week_windows(days, datetime.now(tz=UTC).date())
        return plan_windows(days, 1)

    def request(self, scope: str, start: date, end: date) -> str:
        """Sync the workflow to the tenant (once per run), then execute it over the window."""
        self.sync(scope)
        return self._client(scope).create_execution(
            self._instance(scope),
            self.workflow.workflow_id,
            datetime.combine(start, time.min),
            datetime.combine(end + timedelta(days=1), time.min),
            parameters=self.workflow.parameters or None,
        )

    def drift_of(self, tenant: str) -> str:
        """Whether the tenant's saved workflow is the file's: in sync, missing, or what differs."""
        remote = self._client(tenant).get_workflow(
            self._instance(tenant), self.workflow.workflow_id
        )
        if remote is None:
            return "missing"
        fields = drift(workflow_body(self.workflow), remote)
        return f"differs: {', '.join(fields)}" if fields else "in sync"

    def sync(self, tenant: str) -> str:
        """Create or update the tenant's copy of the workflow when it differs from the file."""
        if tenant in self.synced:
            return self.synced[tenant]
        local = workflow_body(self.workflow)
        client, instance = self._client(tenant), self._instance(tenant)
        remote = client.get_workflow(instance, self.workflow.workflow_id)
        if remote is None:
            client.save_workflow(instance, local, exists=False)
            outcome = "created"
        elif fields := drift(local, remote):
            client.save_workflow(instance, local, exists=True)
            outcome = "updated"
            self._log(
                f"{tenant}: workflow {self.workflow.workflow_id} on {instance.instance_id} "
                f"differed from {Path(self.workflow.file).name or 'the config'} "
                f"({', '.join(fields)}); updated it"
            )
        else:
            outcome = "unchanged"
        self.synced[tenant] = outcome
        return outcome

    def wait(self, scope: str, report_id: str, on_progress: Progress) -> RemoteReport:
        """Poll the execution until SUCCEEDED; FAILED or CANCELLED carry AMC's reason."""
        try:
            self._client(scope).wait_for_execution(
                self._instance(scope),
                report_id,
                on_progress=lambda execution, polls: on_progress(
                    str(execution.get("status")), polls
                ),
                interval=self.source.poll_interval_seconds,
                timeout=self.source.poll_timeout_minutes * 60.0,
            )
        except amc.ExecutionNotFound as exc:
            raise RemoteGone(str(exc)) from None
        except amc.ExecutionFailed as exc:
            raise RemoteFailed(str(exc)) from None
        return RemoteReport(report_id)

    def download(
        self, scope: str, report: RemoteReport, dest: Path, on_bytes: Callable[[int], None]
    ) -> DownloadResult:
        """Stream the execution's CSV output (expired URLs are asked for again)."""
        return self._client(scope).download_output(
            self._instance(scope), report.report_id, dest, on_progress=on_bytes
        )

    def records(self, path: Path) -> Iterator[dict[str, Any]]:
        """The output rows, streamed from the CSV (AMC's column names as keys)."""
        with Path(path).open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)

    def row_day(self, record: dict[str, Any]) -> str | None:
        """The row's day from the workflow's date_column (else the window's last day)."""
        column = self.workflow.date_column
        if column is None:
            return None
        source = self.workflow.columns[column].source or column
        value = record.get(source)
        return value[:10] if isinstance(value, str) and len(value) >= 10 else None

    def close(self) -> None:
        """Close the clients' pooled connections."""
        for client in self._clients.values():
            client.close()

    def _instance(self, tenant: str) -> amc.AmcInstance:
        config = self.source.tenants[tenant]
        return amc.AmcInstance(config.instance_id, config.entity_id, config.marketplace_id)

    def _client(self, tenant: str) -> amc.AmcClient:
        names = self.source.tenant_credentials(tenant)
        if names not in self._clients:
            credentials = LwaCredentials(
                client_id=self._secret(names.client_id),
                client_secret=self._secret(names.client_secret),
                refresh_token=self._secret(names.refresh_token),
            )
            token_url = self.source.token_url or LWA_TOKEN_URLS[self.source.region]
            self._clients[names] = amc.AmcClient(
                endpoint=self.source.endpoint or ADS_HOSTS[self.source.region],
                client_id=credentials.client_id,
                tokens=LwaTokens(token_url, credentials),
            )
        return self._clients[names]
