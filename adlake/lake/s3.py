"""The lake on S3: the same zones under one bucket and prefix, every object written with SSE-KMS.

All I/O goes through one s3fs filesystem (wrapped as a pyarrow filesystem for the generic
:class:`~adlake.lake.storage.Lake` code), so reads and writes stream and large files go up in
multipart uploads. An S3 object appears only when it is complete, so writes need no temp name.
Engines work on a local scratch folder: inputs are streamed down, results are uploaded when
published. DuckDB's httpfs extension is never needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import s3fs
from pyarrow import fs as pafs

from adlake.lake.storage import Lake, StoredFile

# objects are uploaded in parts of this size: memory holds one part, never a whole file
MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024


def s3_filesystem(
    kms_key_id: str, region: str, endpoint_url: str | None = None
) -> s3fs.S3FileSystem:
    """An s3fs filesystem that encrypts every object it writes with the given KMS key."""
    return s3fs.S3FileSystem(
        endpoint_url=endpoint_url,
        client_kwargs={"region_name": region},
        s3_additional_kwargs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id},
        default_block_size=MULTIPART_CHUNK_BYTES,
        use_listings_cache=False,
        skip_instance_cache=True,
    )


class S3Lake(Lake):
    """A lake under ``s3://<bucket>/<prefix>/``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        kms_key_id: str,
        region: str,
        endpoint_url: str | None = None,
    ) -> None:
        self.s3 = s3_filesystem(kms_key_id, region, endpoint_url)
        root = f"{bucket}/{prefix.strip('/')}".rstrip("/")
        super().__init__(root, pafs.PyFileSystem(pafs.FSSpecHandler(self.s3)))
        self.bucket = bucket
        self.region = region

    def url(self, path: str) -> str:
        """``s3://bucket/prefix/path``: what Glue and people see."""
        return f"s3://{self.full(path)}"

    def console_url(self, path: str) -> str:
        """The S3 console's page of the object (or of the folder, for a prefix ending in /)."""
        folder = path.endswith("/")
        key = self.full(path).removeprefix(f"{self.bucket}/") + ("/" if folder else "")
        page = "buckets" if folder else "object"
        return (
            f"https://{self.region}.console.aws.amazon.com/s3/{page}/{self.bucket}"
            f"?region={self.region}&prefix={quote(key)}"
        )

    def local_path(self, path: str) -> str:
        """S3 objects have no local path; engines use :meth:`localize` instead."""
        raise NotImplementedError(f"{self.url(path)} is on S3; localize it to a scratch folder")

    def list_files(self, prefix: str, recursive: bool = True) -> list[StoredFile]:
        """Objects below ``prefix`` with size, last-modified and ETag (listing paginates)."""
        base = len(self.root) + 1
        try:
            found = self.s3.find(self.full(prefix), maxdepth=None if recursive else 1, detail=True)
        except FileNotFoundError:
            return []
        files = []
        for key, info in found.items():
            if info.get("type") != "file" or len(key) <= base:
                continue
            modified = info.get("LastModified")
            mtime_ns = int(modified.timestamp() * 1e9) if modified else 0
            etag = str(info.get("ETag", "")).strip('"') or None
            files.append(StoredFile(key[base:], int(info.get("size") or 0), mtime_ns, etag))
        return sorted(files, key=lambda f: f.path)

    @contextlib.contextmanager
    def open_atomic(self, path: str) -> Iterator[Any]:
        """A stream to the object at ``path``; the object exists only once it is closed.

        s3fs writes in multipart parts and completes the upload on close; if the block fails
        the upload is aborted, so no partial object is ever visible.
        """
        out = self.s3.open(self.full(path), "wb")
        try:
            yield out
        except BaseException:
            with contextlib.suppress(Exception):
                out.discard()  # aborts the multipart upload; close() would complete it
                out.closed = True
            raise
        out.close()

    @contextlib.contextmanager
    def scratch(self) -> Iterator[str]:
        """A private local folder for engine work, removed afterwards."""
        folder = tempfile.mkdtemp(prefix="adlake-")
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def publish(self, staged: str, path: str) -> None:
        """Upload a finished local file to ``path`` in one object put (multipart if large)."""
        self.s3.put_file(staged, self.full(path))
        os.remove(staged)

    def localize(self, path: str, scratch: str) -> str:
        """Stream the object at ``path`` down into ``scratch`` and return the local copy."""
        target = os.path.join(scratch, "inputs", *PurePosixPath(path).parts[-2:])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self.s3.get_file(self.full(path), target)
        return target
