"""What a remote listing says of one file: :class:`RemoteStat`, the same for every backend.

:func:`remote_stat` turns an entry of ``info()`` / ``find(detail=True)`` into a
:class:`RemoteStat`. What the servers return (checked against asyncssh's SFTP server, the GCS
emulator, Azurite and moto):

- sftp: ``size``; ``mtime`` (aware datetime, whole seconds); no version, no checksum.
- gcs: ``size``; ``updated`` (RFC 3339 string); ``generation`` (string); ``md5Hash`` and
  ``crc32c`` (base64 of the digest bytes).
- azure_blob: ``size``; ``last_modified`` (aware datetime); ``etag`` (quoted);
  ``content_settings.content_md5`` (bytes or bytearray, only when the writer set it).
- s3: ``size``; ``LastModified`` (aware datetime); ``ETag`` (quoted; the MD5 of the content for a
  single-part upload without SSE-KMS/SSE-C, ``<hex>-<parts>`` for a multipart one).

An S3 object encrypted with SSE-KMS or SSE-C has a single-part ETag that looks like an MD5 but is
not one, and a listing does not say how an object was encrypted: :func:`remote_stat` cannot tell
them apart. Before treating an MD5 mismatch as corruption, ask :func:`s3_etag_is_md5`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec

PROTOCOLS = ("sftp", "gcs", "azure_blob", "s3")


@dataclass(frozen=True)
class RemoteStat:
    """What a listing says of one remote file, the same for every backend.

    ``version`` changes whenever the content changes (S3 ETag, GCS generation, Azure etag; None
    for SFTP). ``checksum`` is ``("md5", hex)`` where the store offers the MD5 of the content,
    ``("crc32c", hex)`` for GCS without one, None otherwise (SFTP, multipart ETags).
    """

    path: str
    size: int
    mtime_ns: int
    version: str | None
    checksum: tuple[str, str] | None


def remote_stat(protocol: str, info: dict[str, Any]) -> RemoteStat:
    """The :class:`RemoteStat` of an fsspec ``info()`` entry of ``protocol`` (see module doc)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    path = str(info["name"])
    size = int(info.get("size") or 0)
    if protocol == "sftp":
        return RemoteStat(path, size, _ns(info.get("mtime")), None, None)
    if protocol == "gcs":
        checksum = None
        if info.get("md5Hash"):
            checksum = ("md5", _b64_hex(info["md5Hash"]))
        elif info.get("crc32c"):
            checksum = ("crc32c", _b64_hex(info["crc32c"]))
        generation = info.get("generation")
        version = str(generation) if generation not in (None, "") else None
        return RemoteStat(
            path, size, _ns(info.get("updated") or info.get("mtime")), version, checksum
        )
    if protocol == "azure_blob":
        md5 = (info.get("content_settings") or {}).get("content_md5")
        checksum = ("md5", bytes(md5).hex()) if md5 else None
        etag = info.get("etag")
        return RemoteStat(
            path, size, _ns(info.get("last_modified")), etag.strip('"') if etag else None, checksum
        )
    etag = (info.get("ETag") or info.get("etag") or "").strip('"')
    checksum = ("md5", etag.lower()) if _is_hex_md5(etag) else None
    return RemoteStat(path, size, _ns(info.get("LastModified")), etag or None, checksum)


def s3_etag_is_md5(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Whether the S3 object's ETag is the MD5 of its content (one HEAD request).

    False for multipart uploads and for SSE-KMS / SSE-C objects, whose ETag is opaque; SSE-S3
    and unencrypted single-part objects have an MD5 ETag.
    """
    bucket, key, _ = fs.split_path(path)
    head = fs.call_s3("head_object", Bucket=bucket, Key=key)
    etag = head.get("ETag", "").strip('"')
    encryption = head.get("ServerSideEncryption", "")
    customer_key = head.get("SSECustomerAlgorithm")
    return _is_hex_md5(etag) and not encryption.startswith("aws:kms") and not customer_key


def _is_hex_md5(text: str) -> bool:
    """Whether ``text`` is 32 hex digits (not a multipart ``<hex>-<n>`` ETag)."""
    return len(text) == 32 and all(char in "0123456789abcdefABCDEF" for char in text)


def _b64_hex(value: str) -> str:
    """The hex form of a base64 digest, as GCS gives md5Hash and crc32c."""
    try:
        return base64.b64decode(value, validate=True).hex()
    except binascii.Error as exc:
        raise ValueError(f"digest {value!r} is not base64") from exc


def _ns(value: Any) -> int:
    """Nanoseconds since the epoch of a datetime, an RFC 3339 string or seconds."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
