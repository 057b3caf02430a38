"""Atomic, streaming file operations on the lake through a pyarrow filesystem.

Every write lands complete or not at all (temp name + rename on a local disk), so a crash never
leaves half a file where a reader or a re-run could take it for the real thing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pyarrow import fs as pafs

from adlake.lake.zones import Zone

CHUNK_BYTES = 4 * 1024 * 1024


class LakeError(RuntimeError):
    """A lake operation failed; the message names the path."""


@dataclass(frozen=True)
class StoredFile:
    """A file in the lake: its lake-relative path, size and modification time."""

    path: str
    size: int
    mtime_ns: int
    etag: str | None = None


@dataclass(frozen=True)
class CopyReport:
    """What streaming a file into the lake saw: bytes, SHA-256, lines, and a problem if any."""

    bytes: int
    sha256: str
    lines: int
    problem: str | None = None
    md5: str | None = None


class Lake:
    """A lake rooted in one folder of a pyarrow filesystem; paths are lake-relative strings."""

    def __init__(self, root: str | Path, filesystem: pafs.FileSystem | None = None) -> None:
        self.filesystem = filesystem or pafs.LocalFileSystem()
        self.root = str(Path(root).resolve()) if filesystem is None else str(root).rstrip("/")

    def full(self, path: str) -> str:
        """The filesystem path of a lake-relative path."""
        return f"{self.root}/{path}".rstrip("/")

    def url(self, path: str) -> str:
        """The URL engines and catalogs use for ``path`` (a local path, or s3://... on S3)."""
        return self.full(path)

    def console_url(self, path: str) -> str | None:
        """A link a browser opens for ``path`` (a web console), or None: a local path is shown
        as a path to copy, because browsers refuse file:// links from the Dagster UI."""
        return None

    def local_path(self, path: str) -> str:
        """The local path an in-process engine (DuckDB) reads and writes for ``path``."""
        return self.full(path)

    def localize(self, path: str, scratch: str) -> str:
        """A local path an engine can read for ``path``: the file itself on a local disk."""
        return self.full(path)

    def exists(self, path: str) -> bool:
        """Whether a file or folder exists at ``path``."""
        return self.filesystem.get_file_info(self.full(path)).type != pafs.FileType.NotFound

    def list_files(self, prefix: str, recursive: bool = True) -> list[StoredFile]:
        """Files below ``prefix`` (lake-relative), sorted by path; none if it does not exist."""
        selector = pafs.FileSelector(self.full(prefix), allow_not_found=True, recursive=recursive)
        base = len(self.root) + 1
        found = [
            StoredFile(info.path[base:], info.size or 0, info.mtime_ns or 0)
            for info in self.filesystem.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
        return sorted(found, key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a small file (manifests, state)."""
        with self.filesystem.open_input_stream(self.full(path), compression=None) as stream:
            return stream.read()

    def read_json(self, path: str) -> Any:
        """A JSON document stored at ``path``."""
        return json.loads(self.read_bytes(path))

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""
        with self.open_atomic(path) as out:
            out.write(data)

    def write_json(self, path: str, document: Any) -> None:
        """Write a JSON document atomically, keys sorted so equal content gives equal bytes."""
        self.write_bytes(path, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")

    @contextlib.contextmanager
    def open_atomic(self, path: str) -> Iterator[Any]:
        """A writable stream whose content appears at ``path`` only if the block succeeds."""
        final = self.full(path)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:12]}"
        self.filesystem.create_dir(str(Path(final).parent), recursive=True)
        try:
            with self.filesystem.open_output_stream(tmp, compression=None) as out:
                yield out
            self.filesystem.move(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                self.filesystem.delete_file(tmp)
            raise

    def copy_in(
        self,
        source_fs: pafs.FileSystem,
        source_path: str,
        path: str,
        gzip: bool = False,
        md5: bool = False,
        size_hint: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> CopyReport:
        """Stream a file of ``source_fs`` into the lake atomically (see :meth:`copy_stream`)."""
        with source_fs.open_input_stream(source_path, compression=None) as src:
            return self.copy_stream(
                src, path, gzip=gzip, md5=md5, size_hint=size_hint, on_progress=on_progress
            )

    def copy_stream(
        self,
        src: BinaryIO,
        path: str,
        gzip: bool = False,
        md5: bool = False,
        size_hint: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> CopyReport:
        """Stream a readable binary stream into the lake atomically, hashing it and counting lines.

        With ``gzip`` the stream is also decompressed on the fly, so a truncated or corrupt
        archive is found here, before anything downstream reads it; such a file is still
        copied (raw keeps what was delivered) and the report names the problem. With ``md5``
        the report also carries the MD5 a remote store may publish, to verify the transfer.
        ``size_hint`` (the size a listing gave) keeps reads no larger than what is left: SFTP
        clients issue one request per block of a read, so a 4 MiB read of a small file costs
        dozens of round trips. ``on_progress`` receives the bytes copied so far after each chunk.
        """
        digest = hashlib.sha256()
        md5_digest = hashlib.md5(usedforsecurity=False) if md5 else None
        counter = _GzipLines() if gzip else _Lines()
        size = 0
        with self.open_atomic(path) as out:
            for chunk in read_ahead(src, size_hint):
                out.write(chunk)
                digest.update(chunk)
                if md5_digest is not None:
                    md5_digest.update(chunk)
                size += len(chunk)
                counter.feed(chunk, size)
                if on_progress is not None:
                    on_progress(size)
        return CopyReport(
            bytes=size,
            sha256=digest.hexdigest(),
            lines=counter.total(),
            problem=counter.finish(size),
            md5=md5_digest.hexdigest() if md5_digest is not None else None,
        )

    def move(self, src: str, dst: str) -> None:
        """Move a file within the lake (rename on a local disk)."""
        self.filesystem.create_dir(str(Path(self.full(dst)).parent), recursive=True)
        self.filesystem.move(self.full(src), self.full(dst))

    def delete(self, path: str) -> None:
        """Delete a file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.full(path))

    def delete_tree(self, path: str) -> None:
        """Delete a folder (an S3 prefix) and everything under it, if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_dir(self.full(path))

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A private local folder (absolute path) for engine work, removed afterwards.

        On a local disk it sits inside the lake (``_tmp/``), so publishing is a same-disk rename.
        """
        path = self.full(f"{Zone.TMP.value}/{uuid.uuid4().hex}")
        os.makedirs(path, exist_ok=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, staged: str, path: str) -> None:
        """Replace ``path`` with a staged local file in one rename: readers see old or new."""
        self.filesystem.create_dir(str(Path(self.full(path)).parent), recursive=True)
        self.filesystem.move(staged, self.full(path))


def read_ahead(src: BinaryIO, size_hint: int | None = None) -> Iterator[bytes]:
    """The chunks of ``src``, the next one read in a thread while the caller handles this one.

    A remote stream spends its time waiting for the network and the caller spends its time
    hashing and writing; reading one chunk ahead overlaps the two. At most two chunks wait, so
    memory stays bounded. An error of the reader is raised here.
    """
    ready: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def reader() -> None:
        done = 0
        try:
            while not stop.is_set():
                chunk = src.read(_read_size(size_hint, done))
                _put(ready, chunk, stop)
                if not chunk:
                    return
                done += len(chunk)
        except BaseException as exc:  # handed to the consumer, which raises it
            _put(ready, exc, stop)

    thread = threading.Thread(target=reader, name="adlake-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                ready.get_nowait()
        thread.join()


def _put(ready: queue.Queue, item: object, stop: threading.Event) -> None:
    """Hand ``item`` to the consumer unless it has stopped listening."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _read_size(size_hint: int | None, done: int) -> int:
    """How much to read next: a full chunk, or what the hint says is left (at least 64 KiB)."""
    if size_hint is None:
        return CHUNK_BYTES
    return max(min(CHUNK_BYTES, size_hint - done), 64 * 1024)


class _Lines:
    """Counts the text lines of a plain stream fed in chunks (a last line may lack its newline)."""

    def __init__(self) -> None:
        self.lines = 0
        self.last = b""

    def feed(self, chunk: bytes, size: int) -> None:
        self.lines += chunk.count(b"\n")
        self.last = chunk[-1:] or self.last

    def total(self) -> int:
        return self.lines + (1 if self.last and self.last != b"\n" else 0)

    def finish(self, size: int) -> str | None:
        return None


class _GzipLines(_Lines):
    """Counts the text lines inside a gzip stream, finding corrupt or truncated archives.

    Inflates at most ``INFLATE_BYTES`` at a time, so a highly compressed file (gigabytes of
    zeros) never needs its inflated size in memory; concatenated members are followed.
    """

    INFLATE_BYTES = 4 * 1024 * 1024

    def __init__(self) -> None:
        super().__init__()
        self.inflater = zlib.decompressobj(wbits=47)
        self.problem: str | None = None

    def feed(self, chunk: bytes, size: int) -> None:
        data = chunk
        while self.problem is None:
            try:
                text = self.inflater.decompress(data, self.INFLATE_BYTES)
            except zlib.error as exc:
                self.problem = f"corrupt gzip data after {size:,} compressed bytes ({exc})"
                return
            super().feed(text, size)
            if self.inflater.eof and self.inflater.unused_data:  # concatenated gzip members
                data = self.inflater.unused_data
                self.inflater = zlib.decompressobj(wbits=47)
                continue
            data = self.inflater.unconsumed_tail
            if not data and len(text) < self.INFLATE_BYTES:
                return  # everything fed so far is inflated

    def finish(self, size: int) -> str | None:
        if self.problem is None and not self.inflater.eof:
            return f"truncated gzip: the archive ends early after {size:,} bytes"
        return self.problem
