"""Amazon Marketing Cloud (AMC) Workflow Management emulator: workflows, executions, results.

Follows shared/specs/README.md section 2.5 and
shared/specs/amazon-marketing-cloud/amc-workflow-management.condensed.openapi.yaml, with the
recorded responses of the Postman collection ("Amazon Marketing Cloud" folder) as the model of
the bodies:

- Headers on every call: ``Authorization: Bearer`` (an LWA emulator token),
  ``Amazon-Advertising-API-ClientId``, ``Amazon-Advertising-API-AdvertiserId`` (the instance's
  AMC account/entity id) and ``Amazon-Advertising-API-MarketplaceId`` (``…-Scope`` is deprecated
  for AMC and ignored). Errors are ``{"code", "details"}``.
- Workflows (``application/vnd.amcworkflows.v1+json``): ``POST|GET
  /amc/reporting/{instanceId}/workflows`` (create -> 200 ``{}``; list ``{workflows, nextToken?}``
  with ``limit`` <= 100 and ``nextToken``), ``GET|PUT|DELETE …/workflows/{workflowId}`` (bare
  Workflow object, PUT replaces the definition, PUT/DELETE -> ``{}``). ``workflowId``: letters,
  digits, ``.``, ``-``, ``_``. ``sqlQuery`` must be one line (no tab/newline).
- Executions (``application/vnd.amcworkflowexecutions.v1+json``): ``POST
  …/workflowExecutions`` with ``workflowId`` (saved) or ``workflow: {sqlQuery}`` (ad hoc, id
  ``transient_<uuid>``), ``timeWindowType`` (ALL, CURRENT_MONTH, EXPLICIT, MOST_RECENT_DAY
  (default), MOST_RECENT_WEEK, PREVIOUS_MONTH), ``timeWindowStart/End`` ("yyyy-MM-dd'T'HH:mm:ss",
  EXPLICIT only), ``timeWindowTimeZone`` (default UTC), ``parameterValues``,
  ``workflowExecutionTimeoutSeconds`` (900..86400, default 21600) -> the bare execution object
  (``status: PENDING``, ``executionCategory: AD_HOC``, UTC window plus ``…Original`` fields,
  ``expireTime`` = create + 24 h). Status PENDING -> RUNNING -> SUCCEEDED | FAILED as it is
  polled; ``PUT …/{id}`` ``{"status": "CANCELLED"}`` only while PENDING/RUNNING (else 400).
  List ``GET …/workflowExecutions`` needs ``workflowId`` or ``minCreationTime`` (newest first,
  CANCELLED hidden unless ``includeCancelled=true``, ``sortAscending``, ``maxCreationTime``,
  paging). SUCCEEDED executions carry ``outputColumns``, ``outputS3URI``, ``executionTime``.
- Results: ``GET …/{id}/downloadUrls`` -> ``{"downloadUrls": [url], "metadataDownloadUrls":
  []}``; the URL is presigned-style (no Amazon headers), serves a CSV (header line first) and
  expires after ``url_ttl`` (10 minutes like Amazon's). Before SUCCEEDED: 400 ``Execution with
  ID <id> is unavailable for download``.
- Limits: ``max_parallel`` PENDING/RUNNING executions per instance (10 in the docs) and
  ``max_adhoc_per_day`` executions created per instance and UTC day (the spec's "ad hoc
  executions may be run up to 30 times per day per AMC instance (across all workflow ids)";
  every execution created through this API is ``AD_HOC``): both answer 429.

Emulator choices the specs leave open: the docs say executions beyond the parallel limit are
queued, this emulator refuses them with 429 so clients' handling can be tested; the failure
text of a FAILED execution is the top-level ``statusReason`` (the spec only declares
``statusReason`` on ``outputChannels`` entries, which a FAILED execution here also carries);
SQL is "validated" only by its first keyword and a ``SELEC `` typo; the result rows are
synthetic (``date``, ``campaign``, ``impressions``, ``clicks``, ``spend``), ``rows_per_day``
rows for each day of the window, deterministic from (instance, workflowId, day).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from adlake_tests.emulators.lwa import TEST_CLIENT_ID, TokenAuthority, bearer
from adlake_tests.emulators.server import EmulatorServer, Reply, Request, json_reply

WORKFLOWS_TYPE = "application/vnd.amcworkflows.v1+json"
EXECUTIONS_TYPE = "application/vnd.amcworkflowexecutions.v1+json"
TEST_INSTANCE_ID = "amctenant001"
TEST_ENTITY_ID = "ENTITY1AAAAAAAAAAA"
TEST_MARKETPLACE_ID = "ATVPDKIKX0DER"
TEST_INSTANCE_ID_2 = "amctenant002"
TEST_ENTITY_ID_2 = "ENTITY2BBBBBBBBBBB"
TEST_MARKETPLACE_ID_2 = "A1F83G8C2ARO7P"
DEFAULT_INSTANCES = {
    TEST_INSTANCE_ID: {"entity_id": TEST_ENTITY_ID, "marketplace_id": TEST_MARKETPLACE_ID},
    TEST_INSTANCE_ID_2: {"entity_id": TEST_ENTITY_ID_2, "marketplace_id": TEST_MARKETPLACE_ID_2},
}
TIME_WINDOW_TYPES = frozenset(
    {"ALL", "CURRENT_MONTH", "EXPLICIT", "MOST_RECENT_DAY", "MOST_RECENT_WEEK", "PREVIOUS_MONTH"}
)
ACTIVE = frozenset({"PENDING", "RUNNING"})
OUTPUT_COLUMNS = [
    {"name": "date", "dataType": "DATE", "columnType": "DIMENSION"},
    {"name": "campaign", "dataType": "STRING", "columnType": "DIMENSION"},
    {"name": "impressions", "dataType": "LONG", "columnType": "METRIC"},
    {"name": "clicks", "dataType": "LONG", "columnType": "METRIC"},
    {"name": "spend", "dataType": "DECIMAL", "columnType": "METRIC"},
]
DEFAULT_FAILURE = "Workflow execution failed due to an internal error. Please retry."
PARALLEL_LIMIT = "Too many concurrent executions"
ADHOC_LIMIT = "Too many ad hoc executions"
UNAUTHORIZED = "Unauthorized"
WINDOW_FORMAT = "%Y-%m-%dT%H:%M:%S"
ALL_WINDOW_DAYS = 28  # what ALL means here: AMC keeps ~25 months, far too many rows for tests
_WORKFLOW_ID = re.compile(r"[A-Za-z0-9._-]+")
_FIRST_WORD = re.compile(r"\s*([^\s(]*)")
_EXPECTING = "expecting {'(', 'SELECT', 'WITH', 'VALUES', 'TABLE'}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sql_problem(sql: Any) -> str | None:
    """Why AMC refuses this SQL text, or None."""
    if not isinstance(sql, str) or not sql.strip():
        return "sqlQuery is required"
    if any(c in sql for c in "\n\r\t"):
        return "sqlQuery must be a single line: tabs and newlines are not allowed"
    if re.search(r"(?i)\bSELEC\s", sql):
        return f"Query validation failed: mismatched input 'SELEC' {_EXPECTING}"
    first = _FIRST_WORD.match(sql)
    word = first[1] if first else ""
    if word.upper() not in ("SELECT", "WITH"):
        return f"Query validation failed: mismatched input '{word}' {_EXPECTING}"
    return None


def _page(items: list[Any], request: Request) -> tuple[list[Any], str | None, str | None]:
    """One page of ``items`` per ``limit``/``nextToken``: (page, next token, problem)."""
    raw_limit = request.param("limit")
    limit = 100
    if raw_limit:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            return [], None, f"limit must be between 1 and 100, not {raw_limit!r}"
        limit = int(raw_limit)
    start = 0
    token = request.param("nextToken")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
        except ValueError:
            return [], None, "Invalid nextToken"
    end = start + limit
    following = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], following, None


@dataclass
class EmulatedExecution:
    """One workflow execution: what was asked, its window, state and result file."""

    execution_id: str
    instance_id: str
    workflow_id: str
    sql: str
    body: dict[str, Any]
    created_at: datetime
    seq: int
    window_start: datetime  # local time of timeWindowTimeZone, naive
    window_end: datetime
    time_zone: str
    status: str = "PENDING"
    polls: int = 0
    updated_at: datetime | None = None
    status_reason: str | None = None
    path: Path | None = None
    rows_per_day: int = 3
    extra: dict[str, Any] = field(default_factory=dict)


class AmcEmulator(EmulatorServer):
    """AMC workflows and workflow executions on loopback, trusting the LWA emulator's tokens.

    Knobs (attributes, change them any time; also accepted as keyword arguments):
    ``instances`` (instance id -> ``{"entity_id", "marketplace_id"}``, optional ``s3_bucket``),
    ``client_ids``, ``polls_to_complete`` (status GETs until final, default 3),
    ``fail_workflows`` (workflowId -> ``statusReason``: its executions end FAILED),
    ``max_parallel`` (default 10), ``max_adhoc_per_day`` (default 30), ``rows_per_day``
    (default 3), ``url_ttl`` (seconds, default 600), ``output_parts`` (CSV files per output,
    default 1), ``now`` (wall clock for timestamps and relative windows), plus the base's
    ``fail_next`` and ``expire_all_urls``.
    Logs: ``workflows`` (instance -> workflowId -> definition), ``workflow_writes`` ((instance,
    method, workflowId) per accepted write), ``created`` ((instance, body) per accepted
    execution), ``executions`` by id, ``calls`` per operation.
    """

    name = "amc"

    def __init__(self, authority: TokenAuthority, **knobs: Any) -> None:
        super().__init__(clock=knobs.pop("clock", authority.clock))
        self.authority = authority
        self.instances: dict[str, dict[str, str]] = {
            k: dict(v) for k, v in DEFAULT_INSTANCES.items()
        }
        self.client_ids = {TEST_CLIENT_ID}
        self.polls_to_complete = 3
        self.fail_workflows: dict[str, str] = {}
        self.max_parallel = 10
        self.max_adhoc_per_day = 30
        self.rows_per_day = 3
        self.url_ttl = 600.0
        self.output_parts = 1  # CSV files an execution's output is split into (AMC: up to 5)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        for name, value in knobs.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown AmcEmulator knob {name!r}")
            setattr(self, name, value)
        self.workflows: dict[str, dict[str, dict[str, Any]]] = {}
        self.workflow_writes: list[tuple[str, str, str]] = []
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.executions: dict[str, EmulatedExecution] = {}
        self.calls: Counter[str] = Counter()
        self._seq = 0
        base = r"/amc/reporting/(?P<instance>[^/]+)"
        one_workflow = base + r"/workflows/(?P<workflow>[^/]+)"
        one_execution = base + r"/workflowExecutions/(?P<execution>[^/]+)"
        self.route("POST", base + r"/workflows", self._create_workflow)
        self.route("GET", base + r"/workflows", self._list_workflows)
        self.route("GET", one_workflow, self._get_workflow)
        self.route("PUT", one_workflow, self._update_workflow)
        self.route("DELETE", one_workflow, self._delete_workflow)
        self.route("POST", base + r"/workflowExecutions", self._create_execution)
        self.route("GET", base + r"/workflowExecutions", self._list_executions)
        self.route("GET", one_execution, self._get_execution)
        self.route("PUT", one_execution, self._update_execution)
        self.route("GET", one_execution + r"/downloadUrls", self._download_urls)

    # ---- public helpers -------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """AMC's error shape."""
        return {"code": str(status), "details": message}

    def expected_rows(self, execution_id: str) -> list[dict[str, Any]]:
        """The rows the execution's CSV holds (typed: ints for counts, ``spend`` a string)."""
        with self.lock:
            execution = self.executions[execution_id]
        rows = []
        for day in self._days(execution):
            for index in range(execution.rows_per_day):
                seed = f"{execution.instance_id}|{execution.workflow_id}|{day}|{index}"
                digest = hashlib.sha256(seed.encode()).digest()
                impressions = 100 + int.from_bytes(digest[0:4]) % 5000
                clicks = int.from_bytes(digest[4:8]) % (impressions // 10 + 1)
                cents = int.from_bytes(digest[8:12]) % 100_000
                rows.append(
                    {
                        "date": day.isoformat(),
                        "campaign": f"Campaign {index + 1:03d}",
                        "impressions": impressions,
                        "clicks": clicks,
                        "spend": f"{cents // 100}.{cents % 100:02d}",
                    }
                )
        return rows

    def execution_status(self, execution_id: str) -> str:
        """The status an execution has now (without counting as a poll)."""
        with self.lock:
            return self.executions[execution_id].status

    # ---- auth and bodies ------------------------------------------------------------------

    def _denied(self, request: Request, match: re.Match[str], operation: str) -> Reply | None:
        self.calls[operation] += 1
        client_id = request.headers.get("Amazon-Advertising-API-ClientId")
        if not client_id or client_id not in self.client_ids:
            return self.error(401, f"{UNAUTHORIZED}: invalid or missing ClientId header")
        problem = self.authority.problem(bearer(request), client_id)
        if problem:
            return self.error(401, f"{UNAUTHORIZED}: access token {problem}")
        instance = self.instances.get(match["instance"])
        if instance is None:
            return self.error(404, f"Instance {match['instance']} not found")
        advertiser = request.headers.get("Amazon-Advertising-API-AdvertiserId")
        if not advertiser:
            return self.error(403, "Amazon-Advertising-API-AdvertiserId header is missing")
        if advertiser != instance["entity_id"]:
            return self.error(
                403, f"Advertiser {advertiser} is not authorized to access {match['instance']}"
            )
        if not request.headers.get("Amazon-Advertising-API-MarketplaceId"):
            return self.error(403, "Amazon-Advertising-API-MarketplaceId header is missing")
        return None

    def _body(self, request: Request, media_type: str) -> tuple[dict[str, Any], Reply | None]:
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != media_type:
            return {}, self.error(415, f"Unsupported content type {content_type or '(none)'}")
        try:
            body = request.json()
        except ValueError:
            return {}, self.error(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            return {}, self.error(400, "Request body must be a JSON object")
        return body, None

    def _workflow_problem(self, body: dict[str, Any]) -> str | None:
        workflow_id = body.get("workflowId")
        if not isinstance(workflow_id, str) or not workflow_id:
            return "workflowId is required"
        if not _WORKFLOW_ID.fullmatch(workflow_id):
            return (
                f"Invalid workflowId {workflow_id!r}: only letters, digits, '.', '-' and '_' "
                "are allowed"
            )
        parameters = body.get("inputParameters")
        if parameters is not None and (not isinstance(parameters, list) or len(parameters) > 100):
            return "inputParameters must be a list of at most 100 items"
        return _sql_problem(body.get("sqlQuery"))

    # ---- workflows ------------------------------------------------------------------------

    def _create_workflow(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "createWorkflow")
        if denied is not None:
            return denied
        body, refused = self._body(request, WORKFLOWS_TYPE)
        if refused is not None:
            return refused
        problem = self._workflow_problem(body)
        if problem:
            return self.error(400, problem)
        instance, workflow_id = match["instance"], body["workflowId"]
        with self.lock:
            saved = self.workflows.setdefault(instance, {})
            if workflow_id in saved:
                return self.error(400, f"Workflow with ID {workflow_id} already exists")
            saved[workflow_id] = dict(body)
            self.workflow_writes.append((instance, "POST", workflow_id))
        return json_reply(200, {}, content_type=WORKFLOWS_TYPE)

    def _list_workflows(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "listWorkflows")
        if denied is not None:
            return denied
        with self.lock:
            items = [dict(w) for w in self.workflows.get(match["instance"], {}).values()]
        page, following, problem = _page(items, request)
        if problem:
            return self.error(400, problem)
        answer: dict[str, Any] = {"workflows": page}
        if following:
            answer["nextToken"] = following
        return json_reply(200, answer, content_type=WORKFLOWS_TYPE)

    def _get_workflow(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "getWorkflow")
        if denied is not None:
            return denied
        with self.lock:
            workflow = self.workflows.get(match["instance"], {}).get(match["workflow"])
            answer = dict(workflow) if workflow is not None else None
        if answer is None:
            return self.error(404, f"Workflow with ID {match['workflow']} not found")
        return json_reply(200, answer, content_type=WORKFLOWS_TYPE)

    def _update_workflow(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "updateWorkflow")
        if denied is not None:
            return denied
        body, refused = self._body(request, WORKFLOWS_TYPE)
        if refused is not None:
            return refused
        problem = self._workflow_problem(body)
        if problem:
            return self.error(400, problem)
        instance, workflow_id = match["instance"], match["workflow"]
        if body["workflowId"] != workflow_id:
            return self.error(400, "workflowId in the body does not match the path")
        with self.lock:
            saved = self.workflows.setdefault(instance, {})
            if workflow_id not in saved:
                return self.error(404, f"Workflow with ID {workflow_id} not found")
            saved[workflow_id] = dict(body)
            self.workflow_writes.append((instance, "PUT", workflow_id))
        return json_reply(200, {}, content_type=WORKFLOWS_TYPE)

    def _delete_workflow(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "deleteWorkflow")
        if denied is not None:
            return denied
        instance, workflow_id = match["instance"], match["workflow"]
        with self.lock:
            saved = self.workflows.setdefault(instance, {})
            if saved.pop(workflow_id, None) is None:
                return self.error(404, f"Workflow with ID {workflow_id} not found")
            self.workflow_writes.append((instance, "DELETE", workflow_id))
        return json_reply(200, {}, content_type=WORKFLOWS_TYPE)

    # ---- executions -----------------------------------------------------------------------

    def _window(self, body: dict[str, Any], now: datetime) -> tuple[datetime, datetime, str] | str:
        """(local start, local end, time zone) of the execution's window, or a problem."""
        kind = body.get("timeWindowType", "MOST_RECENT_DAY")
        if kind not in TIME_WINDOW_TYPES:
            return f"Invalid timeWindowType {kind!r}"
        zone_name = body.get("timeWindowTimeZone") or "UTC"
        try:
            zone = ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            return f"Invalid timeWindowTimeZone {zone_name!r}"
        start, end = body.get("timeWindowStart"), body.get("timeWindowEnd")
        if kind == "EXPLICIT":
            if not start or not end:
                return "timeWindowStart and timeWindowEnd are required with EXPLICIT"
            try:
                begin = datetime.strptime(str(start), WINDOW_FORMAT)
                finish = datetime.strptime(str(end), WINDOW_FORMAT)
            except ValueError:
                return "timeWindowStart/timeWindowEnd must be formatted yyyy-MM-dd'T'HH:mm:ss"
            if begin >= finish:
                return "timeWindowStart must be before timeWindowEnd"
            return begin, finish, str(zone_name)
        if start or end:
            return "timeWindowStart and timeWindowEnd are only allowed with EXPLICIT"
        today = datetime.combine(now.astimezone(zone).date(), datetime.min.time())
        first_of_month = today.replace(day=1)
        begin = {
            "ALL": today - timedelta(days=ALL_WINDOW_DAYS),
            "CURRENT_MONTH": first_of_month,
            "MOST_RECENT_DAY": today - timedelta(days=1),
            "MOST_RECENT_WEEK": today - timedelta(days=7),
            "PREVIOUS_MONTH": (first_of_month - timedelta(days=1)).replace(day=1),
        }[kind]
        finish = first_of_month if kind == "PREVIOUS_MONTH" else today
        if finish <= begin:  # CURRENT_MONTH on the 1st: today so far
            finish = begin + timedelta(days=1)
        return begin, finish, str(zone_name)

    def _create_execution(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "createWorkflowExecution")
        if denied is not None:
            return denied
        body, refused = self._body(request, EXECUTIONS_TYPE)
        if refused is not None:
            return refused
        instance = match["instance"]
        saved_id, inline = body.get("workflowId"), body.get("workflow")
        if (saved_id is None) == (inline is None):
            return self.error(400, "Exactly one of workflowId or workflow must be given")
        timeout = body.get("workflowExecutionTimeoutSeconds", 21600)
        if not isinstance(timeout, int) or not 900 <= timeout <= 86400:
            return self.error(400, "workflowExecutionTimeoutSeconds must be 900..86400")
        values = body.get("parameterValues", {})
        if not isinstance(values, dict):
            return self.error(400, "parameterValues must be an object")
        if inline is not None:
            if not isinstance(inline, dict):
                return self.error(400, "workflow must be an object")
            problem = _sql_problem(inline.get("sqlQuery"))
            if problem:
                return self.error(400, problem)
        now = self.now().replace(microsecond=0)
        window = self._window(body, now)
        if isinstance(window, str):
            return self.error(400, window)
        with self.lock:
            if inline is None:
                workflow = self.workflows.get(instance, {}).get(str(saved_id))
                if workflow is None:
                    return self.error(404, f"Workflow with ID {saved_id} not found")
                workflow_id, sql = str(saved_id), str(workflow["sqlQuery"])
            else:
                workflow_id, sql = f"transient_{uuid.uuid4()}", str(inline["sqlQuery"])
            mine = [e for e in self.executions.values() if e.instance_id == instance]
            if sum(e.status in ACTIVE for e in mine) >= self.max_parallel:
                return self.error(
                    429,
                    f"{PARALLEL_LIMIT}: at most {self.max_parallel} workflow executions can be "
                    f"pending or running in instance {instance}",
                )
            if sum(e.created_at.date() == now.date() for e in mine) >= self.max_adhoc_per_day:
                return self.error(
                    429,
                    f"{ADHOC_LIMIT}: at most {self.max_adhoc_per_day} ad hoc executions per day "
                    f"in instance {instance}",
                )
            self._seq += 1
            execution = EmulatedExecution(
                execution_id=str(uuid.uuid4()),
                instance_id=instance,
                workflow_id=workflow_id,
                sql=sql,
                body=dict(body),
                created_at=now,
                seq=self._seq,
                window_start=window[0],
                window_end=window[1],
                time_zone=window[2],
                updated_at=now,
                rows_per_day=self.rows_per_day,
            )
            self.executions[execution.execution_id] = execution
            self.created.append((instance, dict(body)))
            answer = self._describe(execution, include_workflow=False)
        return json_reply(200, answer, content_type=EXECUTIONS_TYPE)

    def _find(self, match: re.Match[str]) -> EmulatedExecution | None:
        execution = self.executions.get(match["execution"])
        if execution is None or execution.instance_id != match["instance"]:
            return None
        return execution

    def _get_execution(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "getWorkflowExecution")
        if denied is not None:
            return denied
        with self.lock:
            execution = self._find(match)
            if execution is None:
                return self.error(404, f"Workflow execution {match['execution']} not found")
            self._advance(execution)
            answer = self._describe(execution, request.param("includeWorkflow") == "true")
        return json_reply(200, answer, content_type=EXECUTIONS_TYPE)

    def _advance(self, execution: EmulatedExecution) -> None:
        """One poll: PENDING on the first, RUNNING after, final on ``polls_to_complete``."""
        if execution.status not in ACTIVE:
            return
        execution.polls += 1
        before = execution.status
        if execution.polls >= self.polls_to_complete:
            reason = self.fail_workflows.get(execution.workflow_id)
            execution.status = "FAILED" if reason is not None else "SUCCEEDED"
            if reason is not None:
                execution.status_reason = reason or DEFAULT_FAILURE
        elif execution.polls >= 2:
            execution.status = "RUNNING"
        if execution.status != before:
            execution.updated_at = self.now().replace(microsecond=0)

    def _describe(self, execution: EmulatedExecution, include_workflow: bool) -> dict[str, Any]:
        zone = ZoneInfo(execution.time_zone)
        body = execution.body
        created = execution.created_at
        updated = execution.updated_at or created
        described: dict[str, Any] = {
            "workflowExecutionId": execution.execution_id,
            "workflowId": execution.workflow_id,
            "status": execution.status,
            "executionCategory": "AD_HOC",
            "createTime": _utc(created),
            "lastUpdatedTime": _utc(updated),
            "expireTime": _utc(created + timedelta(hours=24)),
            "waitUntil": _utc(created),
            "timeWindowStart": _utc(execution.window_start.replace(tzinfo=zone)),
            "timeWindowEnd": _utc(execution.window_end.replace(tzinfo=zone)),
            "timeWindowStartOriginal": execution.window_start.strftime(WINDOW_FORMAT),
            "timeWindowEndOriginal": execution.window_end.strftime(WINDOW_FORMAT),
            "timeWindowTimeZoneOriginal": execution.time_zone,
            "workflowExecutionTimeoutSeconds": body.get("workflowExecutionTimeoutSeconds", 21600),
            "parameterValues": dict(body.get("parameterValues") or {}),
            "dataGaps": [],
            "ignoreDataGaps": bool(body.get("ignoreDataGaps", False)),
            "disableAggregationControls": bool(body.get("disableAggregationControls", False)),
        }
        if execution.status == "SUCCEEDED":
            bucket = self.instances.get(execution.instance_id, {}).get("s3_bucket")
            wf = execution.workflow_id
            key = f"workflow={wf}/schedule=adhoc/{created.date().isoformat()}-{wf}-ver1.csv"
            described.update(
                {
                    "availableTimeBeforeWindowSecs": 0,
                    "invalidationOffsetSecs": 266400,
                    "executionTime": max(1, int((updated - created).total_seconds())),
                    "validatedTime": _utc(created),
                    "outputColumns": [dict(c) for c in OUTPUT_COLUMNS],
                    "outputS3URI": f"s3://{bucket}/{key}" if bucket else "N/A",
                }
            )
        if execution.status == "FAILED":
            described["statusReason"] = execution.status_reason
            described["outputChannels"] = [
                {
                    "channel": {"type": "DOWNLOAD"},
                    "status": "FAILED",
                    "statusReason": execution.status_reason,
                }
            ]
        if include_workflow:
            described["sqlQuery"] = execution.sql
        return described

    def _update_execution(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "updateWorkflowExecution")
        if denied is not None:
            return denied
        body, refused = self._body(request, EXECUTIONS_TYPE)
        if refused is not None:
            return refused
        with self.lock:
            execution = self._find(match)
            if execution is None:
                return self.error(404, f"Workflow execution {match['execution']} not found")
            status = body.get("status")
            if status is not None:
                if status != "CANCELLED":
                    return self.error(400, f"status can only be updated to CANCELLED, not {status}")
                if execution.status not in ACTIVE:
                    return self.error(
                        400,
                        f"Workflow execution {execution.execution_id} is {execution.status} "
                        "and cannot be cancelled",
                    )
                execution.status = "CANCELLED"
                execution.updated_at = self.now().replace(microsecond=0)
        return json_reply(200, {}, content_type=EXECUTIONS_TYPE)

    def _list_executions(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "listWorkflowExecutions")
        if denied is not None:
            return denied
        workflow_id = request.param("workflowId")
        bounds: list[datetime | None] = []
        try:
            zone = ZoneInfo(request.param("timeZone") or "UTC")
            for name in ("minCreationTime", "maxCreationTime"):
                raw = request.param(name)
                moment = datetime.strptime(raw, WINDOW_FORMAT).replace(tzinfo=zone) if raw else None
                bounds.append(moment)
        except (ValueError, ZoneInfoNotFoundError):
            return self.error(400, "minCreationTime/maxCreationTime/timeZone are invalid")
        if not workflow_id and bounds[0] is None:
            return self.error(400, "Either workflowId or minCreationTime must be provided")
        include_cancelled = request.param("includeCancelled") == "true"
        include_workflow = request.param("includeWorkflow") == "true"
        with self.lock:
            chosen = [
                e
                for e in self.executions.values()
                if e.instance_id == match["instance"]
                and (not workflow_id or e.workflow_id == workflow_id)
                and (bounds[0] is None or e.created_at >= bounds[0])
                and (bounds[1] is None or e.created_at <= bounds[1])
                and (include_cancelled or e.status != "CANCELLED")
            ]
            ascending = request.param("sortAscending") == "true"
            chosen.sort(key=lambda e: e.seq, reverse=not ascending)
            items = [self._describe(e, include_workflow) for e in chosen]
        page, following, problem = _page(items, request)
        if problem:
            return self.error(400, problem)
        answer: dict[str, Any] = {"executions": page}
        if following:
            answer["nextToken"] = following
        return json_reply(200, answer, content_type=EXECUTIONS_TYPE)

    # ---- results --------------------------------------------------------------------------

    def _download_urls(self, request: Request, match: re.Match[str]) -> Reply:
        denied = self._denied(request, match, "getWorkflowExecutionDownloadUrls")
        if denied is not None:
            return denied
        with self.lock:
            execution = self._find(match)
            if execution is None:
                return self.error(404, f"Workflow execution {match['execution']} not found")
            if execution.status != "SUCCEEDED":
                return self.error(
                    400, f"Execution with ID {execution.execution_id} is unavailable for download"
                )
            if execution.path is None:
                execution.path = self._write_csv(execution)
            parts = self._parts(execution.path, self.output_parts)
        urls = [self.publish(part, ttl=self.url_ttl, content_type="text/csv") for part in parts]
        answer = {"downloadUrls": urls, "metadataDownloadUrls": []}
        return json_reply(200, answer, content_type=EXECUTIONS_TYPE)

    @staticmethod
    def _parts(path: Path, count: int) -> list[Path]:
        """The output as ``count`` CSV files (up to 5, as AMC), each with the header line."""
        if count <= 1:
            return [path]
        header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
        size = -(-len(rows) // count) or 1
        parts = []
        for index in range(count):
            part = path.with_name(f"{path.stem}.part{index}.csv")
            part.write_text(header + "".join(rows[index * size : (index + 1) * size]))
            parts.append(part)
        return parts

    def _write_csv(self, execution: EmulatedExecution) -> Path:
        path = self.workdir / f"{execution.execution_id}.csv"
        with path.open("w", newline="", encoding="utf-8") as target:
            columns = [c["name"] for c in OUTPUT_COLUMNS]
            writer = csv.DictWriter(target, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.expected_rows(execution.execution_id))
        return path

    def _days(self, execution: EmulatedExecution) -> list[date]:
        first = execution.window_start.date()
        last = (execution.window_end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]
