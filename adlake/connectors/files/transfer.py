"""Copying remote files into raw: streamed, verified, recorded once, then cleaned up remotely.

For each file: the delivery manifest says whether it is already in raw; if not it is streamed
into raw (never whole in memory), the remote file is looked at again and a file that changed
while it was copied is copied again, its size and the store's MD5 (where the store publishes
one) are checked, and only then is the manifest written (:class:`DeliveryLedger`). Only after
that is the remote file deleted or moved, as configured, so a crash at any point replays the
file and never loses it. One bad file never stops the batch: it is quarantined or reported,
and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from adlake.connectors.files.errors import RemoteConnectError
from adlake.connectors.files.remote import FileRules, RemoteFile, RemoteStore
from adlake.connectors.files.stats import RemoteStat, s3_etag_is_md5
from adlake.lake.deliveries import Decrypt, DeliveryLedger, Incoming, IngestOutcome
from adlake.lake.storage import CopyReport
from adlake.progress import PROGRESS_EVERY, Cadence

Log = Callable[[str], None]
After = Literal["keep", "delete", "move"]


@dataclass(frozen=True)
class TransferSettings:
    """What happens around each copy: the file format, the remote clean-up, the retries."""

    fmt: str
    after: After = "keep"
    move_to: str | None = None  # folder (store path) that processed files move to
    attempts: int = 3  # copies of a file that keeps changing or fails its checksum
    settle_seconds: float = 1.0  # wait before copying a file that changed again
    progress_every: float = PROGRESS_EVERY  # seconds between progress lines of a large file


@dataclass(frozen=True)
class FileResult:
    """What happened to one remote file: its delivery, or why it is not in raw yet."""

    file: RemoteFile
    outcome: IngestOutcome | None = None
    problem: str | None = None  # not copied this run (changing, gone, connection): next run
    cleanup: str | None = None  # what was done on the remote after success, or its failure

    @property
    def action(self) -> str:
        """ingested, duplicate, already_ingested, quarantined, or failed."""
        return self.outcome.action if self.outcome else "failed"


def pull_files(
    store: RemoteStore,
    ledger: DeliveryLedger,
    files: Sequence[RemoteFile],
    rules: FileRules,
    settings: TransferSettings,
    decrypt: Decrypt | None = None,
    log: Log = lambda _: None,
) -> list[FileResult]:
    """Bring these remote files into raw, each exactly once; one result per file, in order."""
    results = []
    for index, file in enumerate(files, start=1):
        try:
            result = _pull_one(store, ledger, file, rules, settings, decrypt, log)
        except RemoteConnectError as exc:
            result = FileResult(file, problem=str(exc))
        except OSError as exc:
            result = FileResult(
                file, problem=f"transfer failed ({type(exc).__name__}: {exc}); retried next run"
            )
        results.append(result)
        if result.problem:
            log(f"{file.url}: {result.problem}")
        if index % 50 == 0 or index == len(files):
            log(f"{index}/{len(files)} file(s) handled")
    return results


def _pull_one(
    store: RemoteStore,
    ledger: DeliveryLedger,
    file: RemoteFile,
    rules: FileRules,
    settings: TransferSettings,
    decrypt: Decrypt | None,
    log: Log,
) -> FileResult:
    for attempt in range(1, settings.attempts + 1):
        known = ledger.get(file.dt, file.delivery_id)
        if known is not None:
            outcome = IngestOutcome(known, "already_ingested")
            return FileResult(file, outcome, cleanup=_clean_up(store, file, outcome, settings))
        incoming = _incoming(store, file)
        wants_md5 = file.stat.checksum is not None and file.stat.checksum[0] == "md5"
        raw_path, report = ledger.copy(
            incoming, decrypt, md5=wants_md5, on_progress=_progress(file, settings, log)
        )
        now = store.stat(file.stat.path)
        if now is None:
            ledger.lake.delete(raw_path)
            return FileResult(file, problem="the file disappeared while it was copied")
        changed = _changed(file.stat, now) or report.bytes != now.size
        mismatch = None if changed else _checksum_problem(store, file.stat, report)
        if changed or (mismatch and attempt < settings.attempts):
            ledger.lake.delete(raw_path)
            why = "changed while it was copied" if changed else mismatch
            log(f"{file.url}: {why}; copying it again (attempt {attempt + 1})")
            time.sleep(settings.settle_seconds)
            described = store.describe(now, rules)
            if described is None:
                return FileResult(file, problem="its new version has no delivery date")
            file = described
            continue
        outcome = ledger.complete(incoming, raw_path, report, settings.fmt, decrypt, mismatch)
        return FileResult(file, outcome, cleanup=_clean_up(store, file, outcome, settings))
    return FileResult(
        file,
        problem=f"the file changed during each of {settings.attempts} copies (still being "
        "written?); it is left for the next run",
    )


def _progress(file: RemoteFile, settings: TransferSettings, log: Log) -> Callable[[int], None]:
    """A progress line every ``progress_every`` seconds while a large file streams."""
    cadence = Cadence(log, settings.progress_every, quiet_start=True)  # small files: no line
    started = time.monotonic()

    def progress(done: int) -> None:
        rate = done / 1e6 / max(time.monotonic() - started, 1e-9)
        cadence(
            f"{file.url}: {done / 1e6:,.0f} of {file.stat.size / 1e6:,.0f} MB copied "
            f"({rate:,.1f} MB/s)"
        )

    return progress


def _incoming(store: RemoteStore, file: RemoteFile) -> Incoming:
    extra = {"remote_path": file.stat.path, "remote_size": str(file.stat.size)}
    if file.stat.version:
        extra["remote_version"] = file.stat.version
    return Incoming(
        store.arrow,
        file.stat.path,
        file.name,
        file.dt,
        file.delivery_id,
        origin=file.url,
        extra=extra,
        size=file.stat.size,
    )


def _changed(before: RemoteStat, now: RemoteStat) -> bool:
    return (before.size, before.mtime_ns, before.version) != (now.size, now.mtime_ns, now.version)


def _checksum_problem(store: RemoteStore, stat: RemoteStat, report: CopyReport) -> str | None:
    """Why the copy does not match the store's MD5, or None (also when none is published)."""
    if stat.checksum is None or stat.checksum[0] != "md5" or report.md5 is None:
        return None
    if report.md5 == stat.checksum[1]:
        return None
    if store.protocol == "s3" and not s3_etag_is_md5(store.fs, stat.path):
        return None  # SSE-KMS / SSE-C ETags are not the MD5 of the content
    return (
        f"checksum mismatch: the store says MD5 {stat.checksum[1]}, the copy has {report.md5} "
        f"({report.bytes:,} bytes)"
    )


def _clean_up(
    store: RemoteStore, file: RemoteFile, outcome: IngestOutcome, settings: TransferSettings
) -> str | None:
    """Delete or move a remote file that is safe in raw; quarantined files stay where they are."""
    if settings.after == "keep" or outcome.delivery.status == "quarantined":
        return None
    try:
        if settings.after == "delete":
            store.remove(file.stat.path)
            return "deleted"
        target = f"{(settings.move_to or '').rstrip('/')}/{file.relative}"
        store.move(file.stat.path, target)
        return f"moved to {store.url(target)}"
    except (RemoteConnectError, OSError) as exc:
        return f"not {settings.after}d: {exc} (the file is safe in raw; tried again next run)"
