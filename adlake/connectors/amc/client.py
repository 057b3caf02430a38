"""Amazon Marketing Cloud client: saved workflows, executions of a time window, their CSV output.

Plain Python over :mod:`adlake.connectors.http` (retries, 429 Retry-After, token refresh on 401,
polling, streaming downloads) and :mod:`adlake.connectors.lwa`, following the AMC Workflow
Management API (shared/specs/amazon-marketing-cloud, README section 2.5): every call names the
instance in the path and its AMC account in ``Amazon-Advertising-API-AdvertiserId`` and
``Amazon-Advertising-API-MarketplaceId``; bodies use the ``application/vnd.amcworkflows.v1+json``
and ``…amcworkflowexecutions.v1+json`` media types; responses may or may not be wrapped in
``{"workflow": …}`` / ``{"workflowExecution": …}`` (the spec says wrapped, Amazon's examples
are bare): both are accepted. Download URLs expire after 10 minutes: an expired one is asked for
again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from adlake.connectors.amc.errors import (
    API,
    AmcError,
    ExecutionFailed,
    ExecutionNotFound,
    WorkflowRejected,
)
from adlake.connectors.http import (
    DownloadResult,
    UrlExpired,
    file_sha256,
    json_field,
    json_of,
    poll,
    server_message,
)
from adlake.connectors.lwa import LwaApiClient

WORKFLOWS_TYPE = "application/vnd.amcworkflows.v1+json"
EXECUTIONS_TYPE = "application/vnd.amcworkflowexecutions.v1+json"
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
URL_REFRESHES = 3
# the parts of a saved workflow adlake manages (and compares to detect drift)
WORKFLOW_FIELDS = ("sqlQuery", "inputParameters", "filteredMetricsDiscriminatorColumn")


@dataclass(frozen=True)
class AmcInstance:
    """One AMC instance and the AMC account (entity) and marketplace it belongs to."""

    instance_id: str
    entity_id: str
    marketplace_id: str


class AmcClient(LwaApiClient):
    """The AMC Workflow Management API of one region for one LWA client."""

    api = API

    def get_workflow(self, instance: AmcInstance, workflow_id: str) -> dict[str, Any] | None:
        """The saved workflow, or None when the instance has no workflow of that id."""
        response = self._call(
            instance, "GET", f"workflows/{workflow_id}", "getWorkflow", WORKFLOWS_TYPE
        )
        if response.status_code == 404:
            return None
        self._raise_for(instance, response, "getWorkflow", workflow_id)
        return _unwrap(json_of(response, API, "getWorkflow"), "workflow")

    def save_workflow(
        self, instance: AmcInstance, workflow: dict[str, Any], *, exists: bool
    ) -> None:
        """Create the workflow (``exists=False``) or replace its definition (``exists=True``)."""
        workflow_id = workflow["workflowId"]
        if exists:
            path, method, operation = f"workflows/{workflow_id}", "PUT", "updateWorkflow"
        else:
            path, method, operation = "workflows", "POST", "createWorkflow"
        response = self._call(instance, method, path, operation, WORKFLOWS_TYPE, workflow)
        self._raise_for(instance, response, operation, workflow_id)

    def create_execution(
        self,
        instance: AmcInstance,
        workflow_id: str,
        start: datetime,
        end: datetime,
        *,
        time_zone: str = "UTC",
        parameters: dict[str, str] | None = None,
    ) -> str:
        """Run the saved workflow over ``start``..``end`` (EXPLICIT window); its execution id."""
        body: dict[str, Any] = {
            "workflowId": workflow_id,
            "timeWindowType": "EXPLICIT",
            "timeWindowStart": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "timeWindowEnd": end.strftime("%Y-%m-%dT%H:%M:%S"),
            "timeWindowTimeZone": time_zone,
        }
        if parameters:
            body["parameterValues"] = dict(parameters)
        response = self._call(
            instance, "POST", "workflowExecutions", "createExecution", EXECUTIONS_TYPE, body
        )
        self._raise_for(instance, response, "createExecution", workflow_id)
        execution = _unwrap(json_of(response, API, "createWorkflowExecution"), "workflowExecution")
        return str(json_field(execution, "workflowExecutionId", API, "createWorkflowExecution"))

    def get_execution(self, instance: AmcInstance, execution_id: str) -> dict[str, Any]:
        """The execution's current state (status, time window, reason, output columns)."""
        response = self._call(
            instance,
            "GET",
            f"workflowExecutions/{execution_id}",
            "getExecution",
            EXECUTIONS_TYPE,
        )
        if response.status_code == 404:
            raise ExecutionNotFound(
                API,
                "getExecution",
                f"instance {instance.instance_id}: execution {execution_id}: "
                f"{server_message(response)}",
                status=404,
            )
        self._raise_for(instance, response, "getExecution", execution_id)
        return _unwrap(json_of(response, API, "getWorkflowExecution"), "workflowExecution")

    def wait_for_execution(
        self,
        instance: AmcInstance,
        execution_id: str,
        *,
        on_progress: Callable[[dict[str, Any], int], None] | None = None,
        interval: float = 30.0,
        max_interval: float = 300.0,
        timeout: float = 24 * 3600,
    ) -> dict[str, Any]:
        """Poll until SUCCEEDED and return the execution; FAILED/CANCELLED raise AMC's reason."""
        execution = poll(
            lambda: self.get_execution(instance, execution_id),
            lambda current: current.get("status") in FINAL,
            api=API,
            operation="getExecution",
            interval=interval,
            max_interval=max_interval,
            timeout=timeout,
            sleep=self._sleep,
            on_progress=on_progress,
            clock=self._clock,
        )
        if execution["status"] != "SUCCEEDED":
            error = ExecutionFailed(
                API,
                "getExecution",
                f"instance {instance.instance_id}: execution {execution_id} of workflow "
                f"{execution.get('workflowId')} ({execution.get('timeWindowStart')}.."
                f"{execution.get('timeWindowEnd')}) {execution['status']}: {reason_of(execution)}",
            )
            error.reason = reason_of(execution)
            raise error
        return execution

    def download_output(
        self,
        instance: AmcInstance,
        execution_id: str,
        dest: Path,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream a SUCCEEDED execution's CSV output to ``dest`` (parts joined, one header).

        An expired URL (they live 10 minutes) is asked for again, up to three times.
        """
        dest = Path(dest)
        refreshes = 0
        while True:
            urls = self._download_urls(instance, execution_id)
            try:
                return self._download_all(urls, dest, on_progress)
            except UrlExpired:
                refreshes += 1
                if refreshes > URL_REFRESHES:
                    raise

    def _download_urls(self, instance: AmcInstance, execution_id: str) -> list[str]:
        response = self._call(
            instance,
            "GET",
            f"workflowExecutions/{execution_id}/downloadUrls",
            "getDownloadUrls",
            EXECUTIONS_TYPE,
        )
        self._raise_for(instance, response, "getDownloadUrls", execution_id)
        urls = list(json_of(response, API, "getDownloadUrls").get("downloadUrls") or [])
        if not urls:
            raise AmcError(
                API,
                "getDownloadUrls",
                f"instance {instance.instance_id}: execution {execution_id} has no output file",
                fix="check the execution's output settings in AMC (DOWNLOAD channel)",
            )
        return urls

    def _download_all(
        self, urls: list[str], dest: Path, on_progress: Callable[[int], None] | None
    ) -> DownloadResult:
        if len(urls) == 1:
            return self._session.download(
                urls[0], dest, operation="downloadOutput", on_progress=on_progress
            )
        parts = [dest.with_name(f"{dest.name}.{i}") for i in range(len(urls))]
        try:
            for url, part in zip(urls, parts, strict=True):
                self._session.download(url, part, operation="downloadOutput")
            with dest.open("wb") as out:
                for index, part in enumerate(parts):
                    with part.open("rb") as handle:
                        if index:
                            handle.readline()  # every part repeats the header line
                        shutil.copyfileobj(handle, out)
        finally:
            for part in parts:
                part.unlink(missing_ok=True)
        size = dest.stat().st_size
        if on_progress is not None:
            on_progress(size)
        return DownloadResult(bytes=size, sha256=file_sha256(dest))

    def _call(
        self,
        instance: AmcInstance,
        method: str,
        path: str,
        operation: str,
        media_type: str,
        body: Any = None,
    ) -> requests.Response:
        headers = {
            "Accept": media_type,
            "Amazon-Advertising-API-AdvertiserId": instance.entity_id,
            "Amazon-Advertising-API-MarketplaceId": instance.marketplace_id,
        }
        if body is not None:
            headers["Content-Type"] = media_type
        return self._session.request(
            method,
            f"{self.endpoint}/amc/reporting/{instance.instance_id}/{path}",
            operation=operation,
            passthrough=(400, 404, 409, 422),
            headers=headers,
            json=body,
        )

    def _raise_for(
        self, instance: AmcInstance, response: requests.Response, operation: str, subject: str
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        message = f"instance {instance.instance_id}: {subject}: {server_message(response)}"
        kind = WorkflowRejected if "orkflow" in operation and status in (400, 422) else AmcError
        raise kind(API, operation, message, status=status)


def reason_of(execution: dict[str, Any]) -> str:
    """AMC's text for why an execution failed (or was cancelled)."""
    for key in ("statusReason", "failureReason", "errorMessage", "message"):
        value = execution.get(key)
        if value:
            return str(value)
    return "AMC gave no reason"


def _unwrap(body: Any, wrapper: str) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get(wrapper), dict):
        return body[wrapper]
    return body if isinstance(body, dict) else {}
