"""Pull one report window into raw: request or resume, poll, download, split by day, record.

Every step is durable before the next: the ledger entry is saved as soon as the remote id is
known (so a crash resumes polling the same report), the document lands in raw as delivered,
then one delivery per account and day is recorded. A day with no rows still gets an (empty)
delivery, so a re-pull that returns fewer rows replaces the older numbers instead of leaving
them behind. Re-running a landed window within ``repull_after`` reuses it: retries and
overlapping runs never request the same report twice.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from adlake.connectors.http import ApiError
from adlake.lake.deliveries import DeliveryLedger
from adlake.lake.generated import generated_delivery, publish_staged
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix, partition_dir
from adlake.progress import PROGRESS_EVERY, Cadence
from adlake.pulls.api import PullError, RemoteFailed, RemoteGone, RemoteReport, ReportApi
from adlake.pulls.ledger import DONE, IN_FLIGHT, ReportEntry, ReportLedger, now_iso

RECORDS_FILE = "records.jsonl.gz"
Log = Callable[[str], None]


@dataclass(frozen=True)
class PullSettings:
    """Where a pull lands and how it behaves; plain values, no Dagster."""

    source: str
    dataset: str
    run_id: str
    repull_after: timedelta = timedelta(hours=12)
    progress_every: float = PROGRESS_EVERY  # seconds between progress lines (polls, download)


@dataclass(frozen=True)
class WindowOutcome:
    """What pulling one window did: requested a report, resumed one, or reused a recent one."""

    entry: ReportEntry
    action: str  # requested, resumed, reused


def plan_windows(days: Iterable[str], max_days: int) -> list[tuple[date, date]]:
    """Consecutive runs of days cut into windows of at most ``max_days`` (one request each)."""
    ordered = sorted({date.fromisoformat(d) for d in days})
    windows: list[tuple[date, date]] = []
    for day in ordered:
        if windows:
            start, end = windows[-1]
            if day == end + timedelta(days=1) and (day - start).days < max_days:
                windows[-1] = (start, day)
                continue
        windows.append((day, day))
    return windows


def pull_window(
    api: ReportApi, lake: Lake, settings: PullSettings, scope: str, start: date, end: date, log: Log
) -> WindowOutcome:
    """Bring the report of one account and window into raw, exactly once per request."""
    ledger = ReportLedger(lake, settings.source, settings.dataset)
    entry = ledger.get(scope, start.isoformat(), end.isoformat())
    if entry is not None and entry.status in DONE and _recent(entry, settings.repull_after):
        log(
            f"{_what(settings, scope, start, end)}: pulled at {entry.landed_at} ({api.noun} "
            f"{entry.report_id}); not requested again"
        )
        return WindowOutcome(entry, "reused")
    if entry is not None and entry.status in IN_FLIGHT:
        action = "resumed"
        log(
            f"{_what(settings, scope, start, end)}: resuming {api.noun} {entry.report_id} "
            f"({entry.status})"
        )
    else:
        entry = _request(api, ledger, settings, scope, start, end, entry)
        action = "requested"
        log(f"{_what(settings, scope, start, end)}: requested {api.noun} {entry.report_id}")
    try:
        report, entry = _wait(api, ledger, entry, Cadence(log, settings.progress_every))
    except RemoteGone:
        log(f"{api.noun} {entry.report_id} is no longer known to {api.api}; requesting it again")
        entry = _request(api, ledger, settings, scope, start, end, entry)
        action = "requested"
        report, entry = _wait(api, ledger, entry, Cadence(log, settings.progress_every))
    entry = _land(api, lake, ledger, settings, entry, report, log)
    return WindowOutcome(entry, action)


def _what(settings: PullSettings, scope: str, start: date, end: date) -> str:
    return f"{settings.source}/{settings.dataset} {scope} {start}..{end}"


def _recent(entry: ReportEntry, repull_after: timedelta) -> bool:
    landed = datetime.fromisoformat(entry.landed_at) if entry.landed_at else None
    return landed is not None and datetime.now(tz=UTC) - landed < repull_after


def _request(
    api: ReportApi,
    ledger: ReportLedger,
    settings: PullSettings,
    scope: str,
    start: date,
    end: date,
    earlier: ReportEntry | None,
) -> ReportEntry:
    """Request the report and record its id before anything else can fail."""
    budget = DailyBudget(ledger.lake, settings.source, scope, api.daily_limit)
    budget.check(_what(settings, scope, start, end))
    try:
        report_id = api.request(scope, start, end)
    except ApiError as exc:
        raise PullError(
            f"{_what(settings, scope, start, end)}: the {api.noun} request failed: {exc}"
        ) from None
    budget.spend()
    stamp = now_iso()
    entry = ReportEntry(
        source=settings.source,
        dataset=settings.dataset,
        api=api.api,
        scope=scope,
        start=start.isoformat(),
        end=end.isoformat(),
        report_id=report_id,
        report_type=api.report_type,
        status="requested",
        requested_at=stamp,
        updated_at=stamp,
        run_id=settings.run_id,
        requests=(earlier.requests + 1) if earlier else 1,
        earlier_report_ids=([*earlier.earlier_report_ids, earlier.report_id] if earlier else []),
    )
    ledger.save(entry)
    return entry


class DailyBudget:
    """Requests made for one account today (UTC), against the API's daily limit.

    Counted in ``state/<source>/request_counts/scope=<account>/<day>.json``, shared by every
    dataset of the source (AMC counts executions per instance, whatever the workflow).
    """

    def __init__(self, lake: Lake, source: str, scope: str, limit: int | None) -> None:
        self.lake = lake
        self.limit = limit
        day = datetime.now(tz=UTC).date().isoformat()
        self.path = f"{Zone.STATE.value}/{source}/request_counts/scope={scope}/{day}.json"

    def used(self) -> int:
        """Requests made today."""
        return int(self.lake.read_json(self.path)["count"]) if self.lake.exists(self.path) else 0

    def check(self, what: str) -> None:
        """Raise PullError, before any call, when today's requests reached the limit."""
        if self.limit is not None and self.used() >= self.limit:
            raise PullError(
                f"{what}: not requested: the API allows {self.limit} requests per account and "
                f"day and {self.limit} were made today (UTC). Nothing was lost: run the "
                "partitions again tomorrow, or raise the source's daily limit if the API allows"
            )

    def spend(self) -> None:
        """Count one more request made today."""
        if self.limit is not None:
            self.lake.write_json(self.path, {"count": self.used() + 1})


def _wait(
    api: ReportApi, ledger: ReportLedger, entry: ReportEntry, cadence: Cadence
) -> tuple[RemoteReport, ReportEntry]:
    """Poll the report, saving its remote status in the ledger at every poll; a line at each
    status change and at the cadence's interval, not one per poll."""
    state = {"entry": entry}

    def progress(status: str, polls: int) -> None:
        state["entry"] = state["entry"].update(remote_status=status, polls=polls)
        ledger.save(state["entry"])  # every poll, so a resumed run knows where the report is
        cadence(
            f"{api.noun} {entry.report_id} ({entry.scope} {entry.start}..{entry.end}): {status}, "
            f"poll {polls}",
            state=status,
        )

    try:
        report = api.wait(entry.scope, entry.report_id, progress)
    except (ApiError, RemoteFailed) as exc:
        ledger.save(state["entry"].update(status="failed", problem=str(exc)[:2000]))
        raise PullError(
            f"{entry.source}/{entry.dataset} {entry.scope} {entry.start}..{entry.end}: {api.noun} "
            f"{entry.report_id} did not complete: {exc}"
        ) from None
    return report, state["entry"]


def _land(
    api: ReportApi,
    lake: Lake,
    ledger: ReportLedger,
    settings: PullSettings,
    entry: ReportEntry,
    report: RemoteReport,
    log: Log,
) -> ReportEntry:
    """Keep the document as delivered, then record one delivery per day of the window."""
    with lake.scratch() as scratch:
        folder = Path(scratch)
        document = folder / api.file_name
        if report.no_data:
            day_rows = _split_by_day(api, entry, iter(()), folder)
        else:
            cadence = Cadence(log, settings.progress_every)

            def progress(done: int) -> None:
                cadence(f"{api.noun} {entry.report_id}: {done:,} bytes downloaded")

            size = api.download(entry.scope, report, document, progress).bytes
            day_rows = _split_by_day(api, entry, api.records(document), folder)
            original = (
                f"{dataset_prefix(Zone.RAW, settings.source, settings.dataset)}/reports/"
                f"scope={entry.scope}/{entry.start}_{entry.end}/{entry.report_id}/{api.file_name}"
            )
            lake.publish(str(document), original)
            entry = entry.update(status="downloaded", bytes=size)
            ledger.save(entry)
            log(f"{api.noun} {entry.report_id}: {size:,} bytes kept in raw at {original}")
        _publish_days(lake, settings, entry, day_rows, folder)
    rows = sum(day_rows.values())
    entry = entry.update(
        status="no_data" if report.no_data else "landed",
        rows=rows,
        day_rows=day_rows,
        landed_at=now_iso(),
        problem="",
    )
    ledger.save(entry)
    log(f"{api.noun} {entry.report_id}: {rows:,} rows landed over {len(day_rows)} day(s)")
    return entry


def _split_by_day(
    api: ReportApi, entry: ReportEntry, records: Iterable[dict[str, Any]], folder: Path
) -> dict[str, int]:
    """Stream records into one local gzip JSON-lines file per day; return rows per day.

    A record dated outside the window (or undated) is kept on the window's nearest day, so no
    record is lost and no other window's day is touched.
    """
    start, end = date.fromisoformat(entry.start), date.fromisoformat(entry.end)
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    counts = dict.fromkeys(days, 0)
    with contextlib.ExitStack() as stack:
        files: dict[str, IO[str]] = {
            day: stack.enter_context(gzip.open(folder / f"{day}.jsonl.gz", "wt", encoding="utf-8"))
            for day in days
        }
        for record in records:
            day = _clamp(api.row_day(record), days)
            files[day].write(
                json.dumps({**record, api.scope_field: entry.scope}, default=str) + "\n"
            )
            counts[day] += 1
    return counts


def _publish_days(
    lake: Lake, settings: PullSettings, entry: ReportEntry, counts: dict[str, int], folder: Path
) -> None:
    """Publish each day's file into its raw partition and record it as that day's delivery."""
    deliveries = DeliveryLedger(lake, settings.source, settings.dataset)
    delivery_id = f"{entry.scope}_{entry.report_id}"
    for day, rows in counts.items():
        raw_path = (
            f"{partition_dir(Zone.RAW, settings.source, settings.dataset, day)}/{delivery_id}/"
            f"{RECORDS_FILE}"
        )
        size, digest = publish_staged(lake, folder / f"{day}.jsonl.gz", raw_path)
        deliveries.record(
            generated_delivery(
                delivery_id=delivery_id,
                source=settings.source,
                dataset=settings.dataset,
                dt=day,
                raw_path=raw_path,
                size=size,
                sha256=digest,
                lines=rows,
                extra={
                    "scope": entry.scope,
                    "report_id": entry.report_id,
                    "window": f"{entry.start}..{entry.end}",
                },
            )
        )


def _clamp(day: str | None, days: list[str]) -> str:
    if day is None or day > days[-1]:
        return days[-1]
    return days[0] if day < days[0] else day
