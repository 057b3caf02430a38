"""Finding delivered files in the landing zone and the date each one belongs to."""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

from adlake.config import LandingConfig
from adlake.lake.storage import Lake
from adlake.lake.zones import Zone, dataset_prefix

_DT_FOLDER = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})(?:/|$)")
_FORMAT_PIECES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%y": r"\d{2}", "%j": r"\d{3}"}


@dataclass(frozen=True)
class LandingFile:
    """A file waiting in landing, with the daily partition (delivery date) it belongs to."""

    path: str
    size: int
    mtime_ns: int
    dt: str
    etag: str | None = None

    @property
    def run_key(self) -> str:
        """Deterministic identity of this exact delivery: path, size and ETag or mtime.

        On S3 the ETag names the content version of the key; on a local disk the modification
        time does.
        """
        return f"{self.path}:{self.size}:{self.etag or self.mtime_ns}"

    @property
    def delivery_id(self) -> str:
        """Short stable id of the delivery, used to key raw copies and manifests."""
        return hashlib.sha256(self.run_key.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """The file's base name."""
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class UnplacedFile:
    """A landing file whose delivery date could not be found, and how to fix that."""

    path: str
    reason: str


def landing_prefix(source: str, dataset: str) -> str:
    """Where a dataset's partner drops files."""
    return dataset_prefix(Zone.LANDING, source, dataset)


def delivery_date(relative: str, config: LandingConfig, mtime_ns: int) -> str | None:
    """The delivery date of a landing file, by folder, file name or arrival, per config."""
    if config.date_from == "folder":
        match = _DT_FOLDER.search(relative)
        return match.group(1) if match else None
    if config.date_from == "filename":
        return _date_in_name(PurePosixPath(relative).name, config.filename_date_format)
    return datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC).date().isoformat()


def _date_in_name(name: str, fmt: str) -> str | None:
    pattern = re.escape(fmt)
    for piece, regex in _FORMAT_PIECES.items():
        pattern = pattern.replace(re.escape(piece), regex)
    for match in re.finditer(pattern, name):
        try:
            return datetime.strptime(match.group(0), fmt).date().isoformat()
        except ValueError:
            continue
    return None


def scan_landing(
    lake: Lake, source: str, dataset: str, config: LandingConfig
) -> tuple[list[LandingFile], list[UnplacedFile]]:
    """All files in a dataset's landing folder, oldest first, and those with no usable date."""
    prefix = landing_prefix(source, dataset)
    placed: list[LandingFile] = []
    unplaced: list[UnplacedFile] = []
    for stored in lake.list_files(prefix):
        relative = stored.path[len(prefix) + 1 :]
        name = PurePosixPath(relative).name
        if name.startswith(".") or ".tmp-" in name or not fnmatch.fnmatch(name, config.pattern):
            continue
        dt = delivery_date(relative, config, stored.mtime_ns)
        if dt is None:
            unplaced.append(UnplacedFile(stored.path, unplaced_reason(config)))
            continue
        placed.append(LandingFile(stored.path, stored.size, stored.mtime_ns, dt, stored.etag))
    placed.sort(key=lambda f: (f.mtime_ns, f.path))
    return placed, unplaced


def unplaced_reason(config: LandingConfig, section: str = "landing") -> str:
    """Why a file has no delivery date under these rules, and the fix (``section`` is the
    configuration key that holds them: ``landing`` or ``remote``)."""
    if config.date_from == "folder":
        return f"not inside a dt=YYYY-MM-DD/ folder; move it into one ({section}.date_from: folder)"
    return (
        f"no date matching '{config.filename_date_format}' in its name; rename it or change "
        f"{section}.filename_date_format"
    )


def today_utc() -> date:
    """Today's date in UTC, the calendar every partition uses."""
    return datetime.now(tz=UTC).date()
