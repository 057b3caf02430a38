"""What the runner needs from an API that produces reports asynchronously."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from adlake.connectors.http import DownloadResult

Progress = Callable[[str, int], None]


class PullError(RuntimeError):
    """A report could not be pulled; the message names the source, report, account and window."""


class RemoteGone(Exception):
    """The API no longer knows a report id the ledger remembers (expired or deleted)."""


class RemoteFailed(Exception):
    """The API finished the report as failed; the message carries the API's reason."""


@dataclass(frozen=True)
class RemoteReport:
    """A finished remote report: ready to download, or finished with no data at all."""

    report_id: str
    no_data: bool = False


class ReportApi(Protocol):
    """An asynchronous report API as the runner drives it, whatever the platform.

    ``scope`` is the account a report is for (an Ads profile id, an SP marketplace id).
    """

    api: str
    noun: str  # what the API calls the remote job, for messages: "report", "execution"
    report_type: str
    scope_field: str
    file_name: str
    max_days: int  # days one request may cover
    retention_days: int | None  # days the API keeps data; None: no limit known
    # requests the API allows per account and UTC day, all datasets of the source together
    # (AMC: executions per instance); None: no such limit
    daily_limit: int | None

    def windows(self, days: list[str]) -> list[tuple[date, date]]:
        """The request windows (first, last day) that cover ``days`` (YYYY-MM-DD)."""
        ...

    def request(self, scope: str, start: date, end: date) -> str:
        """Ask for the report of ``start..end`` (inclusive days); return the remote id."""
        ...

    def wait(self, scope: str, report_id: str, on_progress: Progress) -> RemoteReport:
        """Poll until the report is done; raise RemoteGone if the id is unknown."""
        ...

    def download(
        self, scope: str, report: RemoteReport, dest: Path, on_bytes: Callable[[int], None]
    ) -> DownloadResult:
        """Stream the finished report's document, as delivered, to a local file."""
        ...

    def records(self, path: Path) -> Iterator[dict[str, Any]]:
        """The records of a downloaded document, streamed."""
        ...

    def row_day(self, record: dict[str, Any]) -> str | None:
        """The day (YYYY-MM-DD) a record belongs to, or None when it names none."""
        ...

    def close(self) -> None:
        """Release the API client's connections."""
        ...
