"""File-drop destination: audience CSVs and a manifest written to S3 or an SFTP server.

Onboarders in the LiveRamp style receive audiences as files: one folder per delivery holding
CSV parts (``add-00000.csv``, ``remove-00000.csv``, or ``full-00000.csv`` for a replace) with
hashed identifiers, and ``manifest.json`` written last, listing every part with its rows and
SHA-256, which tells the receiver the delivery is complete. A part is written under a temporary
name and renamed, so a receiver never reads half a file; a resumed delivery rewrites only the
parts not yet listed in the state. The filesystems come from
:mod:`adlake.connectors.files.backends` (s3fs, sshfs).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlparse

import fsspec

from adlake.config.segments import FileDropDestinationConfig
from adlake.connectors.files import backends
from adlake.destinations import matching
from adlake.destinations.base import (
    AudienceSpec,
    BatchInfo,
    BatchResult,
    DestinationError,
    FinishResult,
    Member,
    State,
)

_PART_NAMES = {"add": "add", "remove": "remove", "replace": "full"}


class FileDropDestination:
    """Writes each export as CSV parts plus a manifest below ``config.url``."""

    platform = "file_drop"
    min_members = 0
    supports_replace = True

    def __init__(
        self,
        config: FileDropDestinationConfig,
        secret: Callable[[str], str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.batch_size = config.rows_per_file
        self._secret = secret
        self._clock = clock
        self._fs: fsspec.AbstractFileSystem | None = None
        parsed = urlparse(config.url)
        self._root = (
            f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            if config.target == "s3"
            else "/" + parsed.path.strip("/")
        )

    def prepare(self, audience: AudienceSpec, state: State) -> str:
        """The delivery folder ``<url>/<audience>/<UTC time, µs>/``, chosen once per delivery."""
        if "folder" not in state:
            stamp = self._clock().strftime("%Y%m%dT%H%M%S.%fZ")
            state.update(folder=f"{_safe(audience.name)}/{stamp}", audience=audience.name)
            state["files"] = []
        return self._url(state["folder"])

    def send(self, members: Sequence[Member], info: BatchInfo, state: State) -> BatchResult:
        """Write one CSV part of ``info.op``; the state lists it once it is in place."""
        name = f"{_PART_NAMES[info.op]}-{info.index:05d}.csv"
        columns = [c for c in (members[0] if members else {}) if c != "member"]
        body = io.StringIO()
        writer = csv.writer(body, lineterminator="\n")
        writer.writerow(columns)
        for member in members:
            writer.writerow([self._value(c, member.get(c)) or "" for c in columns])
        data = body.getvalue().encode()
        fs = self._filesystem()
        path = f"{self._root}/{state['folder']}/{name}"
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self.config.target == "sftp":
            with fs.open(f"{path}.part", "wb") as out:
                out.write(data)
            fs.mv(f"{path}.part", path)
        else:
            fs.pipe_file(path, data)
        files = [f for f in state["files"] if f["name"] != name]
        files.append({"name": name, "op": info.op, "rows": len(members), "sha256": _sha256(data)})
        state["files"] = files
        return BatchResult(sent=len(members))

    def finish(self, state: State) -> FinishResult:
        """Write ``manifest.json`` last: the receiver's signal that the delivery is complete."""
        files = sorted(state.get("files", []), key=lambda f: f["name"])
        manifest = {
            "audience": state["audience"],
            "created": self._clock().isoformat(),
            "hashing": "sha256" if self.config.hash_identifiers else "none",
            "files": files,
            "rows": {op: sum(f["rows"] for f in files if f["op"] == op) for op in _PART_NAMES},
        }
        path = f"{self._root}/{state['folder']}/manifest.json"
        self._filesystem().pipe_file(path, json.dumps(manifest, indent=2).encode())
        return FinishResult(audience_id=self._url(state["folder"]), details={"files": len(files)})

    def close(self) -> None:
        """Forget the filesystem (sshfs closes its connection with it)."""
        self._fs = None

    def _value(self, field: str, value: str | None) -> str | None:
        if value is None or not self.config.hash_identifiers:
            return value
        normalize = matching.NORMALIZERS.get(field)
        if normalize is not None:
            return matching.hashed(value, normalize)
        if field == "country":
            return (matching.country(value) or "").upper() or None
        return value

    def _filesystem(self) -> fsspec.AbstractFileSystem:
        if self._fs is None:
            self._fs = self._connect()
        return self._fs

    def _connect(self) -> fsspec.AbstractFileSystem:
        secrets = self._credentials()
        if self.config.target == "s3":
            return backends.s3_compatible_filesystem(
                endpoint_url=self.config.endpoint_url,
                access_key_id=secrets.get("aws_access_key_id"),
                secret_access_key=secrets.get("aws_secret_access_key"),
            )
        parsed = urlparse(self.config.url)
        if not secrets.get("username"):
            raise DestinationError(
                f"file drop {self.config.url}: the secret '{self.config.credentials}' must hold "
                'JSON {"username": ..., "password" | "private_key": ...}'
            )
        return backends.sftp_filesystem(
            parsed.hostname or "",
            parsed.port or 22,
            secrets["username"],
            password=secrets.get("password"),
            private_key=secrets.get("private_key"),
            known_hosts=self.config.known_hosts,
        )

    def _credentials(self) -> dict[str, str]:
        if not self.config.credentials:
            return {}
        text = self._secret(self.config.credentials)
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise DestinationError(
                f"file drop {self.config.url}: the secret '{self.config.credentials}' is not a "
                "JSON object; store it as JSON (see the destination's credentials key)"
            )
        return {str(k): str(v) for k, v in value.items()}

    def _url(self, folder: str) -> str:
        return f"{self.config.url.rstrip('/')}/{folder}/"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
