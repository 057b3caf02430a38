"""A remote file store seen the same way whatever it is: list, stat, open, remove, move.

One :class:`RemoteStore` wraps an fsspec filesystem (SFTP, GCS, Azure Blob, S3-compatible) with
the folder a dataset reads, the rules that choose its files, and the delivery date of each.
Every file gets a stable identity (path, size and content version or modification time), so a
changed file is a new delivery and an unchanged one is recognised by the manifest.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import fsspec
from pyarrow import fs as pafs

from adlake.config import LandingConfig
from adlake.connectors.files.errors import check_access, remote_errors
from adlake.connectors.files.stats import RemoteStat, remote_stat
from adlake.lake.landing import delivery_date, unplaced_reason


@dataclass(frozen=True)
class FileRules:
    """Which files below a folder belong to a dataset, and how their delivery date is found."""

    root: str
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()
    recursive: bool = True
    dating: LandingConfig = field(default_factory=lambda: LandingConfig(date_from="arrival"))
    skip_under: str | None = None  # a folder below root that is never read (processed files)

    def wants(self, relative: str) -> bool:
        """Whether a path below the root is one of the dataset's files."""
        name = PurePosixPath(relative).name
        if name.startswith(".") or ".tmp-" in name:
            return False  # hidden and temporary names are uploads in progress by convention
        if self.skip_under and f"{self.root}/{relative}".startswith(f"{self.skip_under}/"):
            return False
        return _matches(relative, self.include) and not _matches(relative, self.exclude)


def _matches(relative: str, globs: Sequence[str]) -> bool:
    name = PurePosixPath(relative).name
    return any(fnmatch.fnmatchcase(relative if "/" in g else name, g) for g in globs)


@dataclass(frozen=True)
class RemoteFile:
    """A file on the remote store, with the delivery date it belongs to."""

    stat: RemoteStat
    relative: str
    dt: str
    url: str

    @property
    def name(self) -> str:
        """The file's base name."""
        return PurePosixPath(self.relative).name

    @property
    def identity(self) -> str:
        """What this exact delivery is: its URL, size, and content version or mtime."""
        return f"{self.url}:{self.stat.size}:{self.stat.version or self.stat.mtime_ns}"

    @property
    def delivery_id(self) -> str:
        """Short stable id of the delivery, keying its raw copy and manifest."""
        return hashlib.sha256(self.identity.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Unplaced:
    """A remote file whose delivery date could not be found, and how to fix that."""

    url: str
    reason: str


class RemoteStore:
    """One dataset's folder on a remote store; every call names the store in its errors."""

    def __init__(self, fs: fsspec.AbstractFileSystem, protocol: str, base_url: str) -> None:
        self.fs = fs
        self.protocol = protocol
        self.base_url = base_url.rstrip("/")
        self.arrow = pafs.PyFileSystem(pafs.FSSpecHandler(fs))

    def url(self, path: str) -> str:
        """The URL people see for a path of this store (no credentials in it)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def list(self, rules: FileRules) -> tuple[list[RemoteFile], list[Unplaced]]:
        """The dataset's files, oldest first, and those whose date cannot be found.

        An empty prefix of an existing bucket has no files; a missing SFTP folder, bucket or
        container is a mistake in the configuration and fails with its name (never an endless
        "no new files").
        """
        root = rules.root.rstrip("/")
        with remote_errors(self.url(root)):
            if not self.fs.exists(root):
                container = root if self.protocol == "sftp" else root.lstrip("/").split("/")[0]
                check_access(self.fs, container, self.base_url)
                return [], []
            found: dict[str, Any] = self.fs.find(
                root, maxdepth=None if rules.recursive else 1, detail=True, withdirs=False
            )
        files: list[RemoteFile] = []
        unplaced: list[Unplaced] = []
        for path, info in found.items():
            if info.get("type") not in (None, "file"):
                continue
            relative = _relative(path, root)
            if not relative or not rules.wants(relative):
                continue
            stat = remote_stat(self.protocol, info)
            described = self.describe(stat, rules)
            if described is None:
                unplaced.append(
                    Unplaced(self.url(stat.path), unplaced_reason(rules.dating, "remote"))
                )
            else:
                files.append(described)
        files.sort(key=lambda f: (f.stat.mtime_ns, f.relative))
        return files, unplaced

    def describe(self, stat: RemoteStat, rules: FileRules) -> RemoteFile | None:
        """The remote file of a stat (its date found per the rules), or None if it has none."""
        relative = _relative(stat.path, rules.root.rstrip("/"))
        dt = delivery_date(relative, rules.dating, stat.mtime_ns)
        return None if dt is None else RemoteFile(stat, relative, dt, self.url(stat.path))

    def stat(self, path: str) -> RemoteStat | None:
        """The file's current size, time and version, or None if it is gone."""
        with remote_errors(self.url(path)):
            try:
                info = self.fs.info(path)
            except FileNotFoundError:
                return None
        return remote_stat(self.protocol, info)

    def remove(self, path: str) -> None:
        """Delete the file from the store."""
        with remote_errors(self.url(path)):
            self.fs.rm_file(path)

    def move(self, path: str, target: str) -> None:
        """Move the file to ``target`` (its folder made first where folders exist)."""
        with remote_errors(self.url(path)):
            if self.protocol == "sftp":
                self.fs.makedirs(str(PurePosixPath(target).parent), exist_ok=True)
            self.fs.mv(path, target)


def _relative(path: str, root: str) -> str:
    path = path.rstrip("/")
    if path == root:
        return PurePosixPath(path).name
    prefix = root.lstrip("/") + "/"
    stripped = path.lstrip("/")
    return stripped[len(prefix) :] if stripped.startswith(prefix) else ""
