"""The delivery ledger: one manifest per file taken into raw, so each file is processed once.

A manifest is written only after the raw copy is complete, so a crash replays a delivery and
never skips one; the SHA-256 index makes a file that lands twice count once. Files pushed into
landing and files pulled from a server (:class:`Incoming`) take the same path: ``copy`` streams
the file into raw as delivered, ``complete`` decrypts it if the dataset's :class:`Decrypt` step
says so (the decrypted copy beside the original is what clean reads), checks it and records it,
or quarantines it with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

from pyarrow import fs as pafs

from adlake.lake.landing import LandingFile
from adlake.lake.storage import CopyReport, Lake
from adlake.lake.zones import Zone, dataset_prefix, partition_dir


@dataclass(frozen=True)
class Delivery:
    """The manifest of one delivered file: where it came from, where raw keeps it, what it held."""

    delivery_id: str
    source: str
    dataset: str
    dt: str
    file_name: str
    landing_path: str
    raw_path: str
    bytes: int
    sha256: str
    lines: int
    ingested_at: str
    status: str = "raw"
    problem: str | None = None
    duplicate_of: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def compressed(self) -> bool:
        """Whether the delivered file is gzip-compressed."""
        return self.file_name.endswith(".gz")

    @property
    def origin(self) -> str:
        """Where the file came from, for people: its landing path or its remote URL."""
        return self.landing_path or self.extra.get("origin", "") or self.raw_path


class DecryptFailed(Exception):
    """A delivered file could not be decrypted or verified; the message is the reason, no secret."""


class Decrypt(Protocol):
    """The decryption step of a dataset whose partners encrypt files (PGP)."""

    def applies_to(self, name: str) -> bool:
        """Whether a delivered file of this name is encrypted."""
        ...

    def plain_name(self, name: str) -> str:
        """The name of the decrypted file (``a.csv.gz.pgp`` -> ``a.csv.gz``)."""
        ...

    def __call__(self, source: BinaryIO, output_path: str) -> dict[str, str]:
        """Decrypt ``source`` into the local file ``output_path``; facts to keep in the manifest.

        Raises DecryptFailed with the reason when the file cannot be decrypted or verified.
        """
        ...


@dataclass(frozen=True)
class Incoming:
    """A file about to be taken into raw: where it is read from and the delivery it makes.

    ``landing_path`` is set for files pushed into landing (archived after clean, removed when
    quarantined); ``origin`` names a file pulled from elsewhere (a remote URL).
    """

    filesystem: pafs.FileSystem
    path: str
    name: str
    dt: str
    delivery_id: str
    landing_path: str = ""
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    size: int | None = None  # what the listing said, to size reads

    @classmethod
    def from_landing(cls, lake: Lake, file: LandingFile) -> Incoming:
        """A landing file of the lake, as the push pattern takes it."""
        return cls(
            lake.filesystem,
            lake.full(file.path),
            file.name,
            file.dt,
            file.delivery_id,
            landing_path=file.path,
        )


@dataclass(frozen=True)
class IngestOutcome:
    """What ingesting one landing file did: took it into raw, skipped it, or quarantined it."""

    delivery: Delivery
    action: str  # "ingested", "already_ingested", "duplicate", "quarantined"


class DeliveryLedger:
    """Manifests of one dataset's deliveries in the state zone, by date and by content hash."""

    def __init__(self, lake: Lake, source: str, dataset: str) -> None:
        self.lake = lake
        self.source = source
        self.dataset = dataset
        self._state = dataset_prefix(Zone.STATE, source, dataset)

    def _manifest_path(self, dt: str, delivery_id: str) -> str:
        return f"{self._state}/deliveries/dt={dt}/{delivery_id}.json"

    def _sha_path(self, sha256: str) -> str:
        return f"{self._state}/by_sha256/{sha256}.json"

    def get(self, dt: str, delivery_id: str) -> Delivery | None:
        """The manifest of a delivery, if it was recorded."""
        path = self._manifest_path(dt, delivery_id)
        return Delivery(**self.lake.read_json(path)) if self.lake.exists(path) else None

    def by_sha256(self, sha256: str) -> Delivery | None:
        """An earlier delivery with exactly this content, if any."""
        path = self._sha_path(sha256)
        if not self.lake.exists(path):
            return None
        pointer = self.lake.read_json(path)
        return self.get(pointer["dt"], pointer["delivery_id"])

    def record(self, delivery: Delivery) -> None:
        """Make a delivery durable: manifest first, then the content index."""
        self.lake.write_json(
            self._manifest_path(delivery.dt, delivery.delivery_id), asdict(delivery)
        )
        if delivery.status == "raw":
            self.lake.write_json(
                self._sha_path(delivery.sha256),
                {"dt": delivery.dt, "delivery_id": delivery.delivery_id},
            )

    def recorded(self, dt: str) -> set[str]:
        """Ids of the deliveries recorded for a delivery date (one listing, no manifest read)."""
        return {
            stored.path.rsplit("/", 1)[-1].removesuffix(".json")
            for stored in self.lake.list_files(f"{self._state}/deliveries/dt={dt}")
            if stored.path.endswith(".json")
        }

    def for_dates(self, dts: list[str]) -> list[Delivery]:
        """Deliveries in raw for these delivery dates, oldest ingestion first."""
        found = []
        for dt in dts:
            for stored in self.lake.list_files(f"{self._state}/deliveries/dt={dt}"):
                if stored.path.endswith(".json"):
                    found.append(Delivery(**json.loads(self.lake.read_bytes(stored.path))))
        return sorted(found, key=lambda d: (d.ingested_at, d.delivery_id))

    def ingest(self, file: LandingFile, fmt: str, decrypt: Decrypt | None = None) -> IngestOutcome:
        """Copy one landing file into raw exactly once, or quarantine it if it is unreadable."""
        incoming = Incoming.from_landing(self.lake, file)
        known = self.get(file.dt, file.delivery_id)
        if known is not None:
            return IngestOutcome(known, "already_ingested")
        raw_path, report = self.copy(incoming, decrypt)
        return self.complete(incoming, raw_path, report, fmt, decrypt)

    def raw_path(self, incoming: Incoming) -> str:
        """Where raw keeps a delivered file as delivered: ``raw/.../dt=D/<delivery_id>/<name>``."""
        return (
            f"{partition_dir(Zone.RAW, self.source, self.dataset, incoming.dt)}/"
            f"{incoming.delivery_id}/{incoming.name}"
        )

    def copy(
        self,
        incoming: Incoming,
        decrypt: Decrypt | None = None,
        md5: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[str, CopyReport]:
        """Stream a delivered file into raw as delivered (nothing is recorded yet)."""
        encrypted = decrypt is not None and decrypt.applies_to(incoming.name)
        raw_path = self.raw_path(incoming)
        report = self.lake.copy_in(
            incoming.filesystem,
            incoming.path,
            raw_path,
            gzip=incoming.name.endswith(".gz") and not encrypted,
            md5=md5,
            size_hint=incoming.size,
            on_progress=on_progress,
        )
        return raw_path, report

    def complete(
        self,
        incoming: Incoming,
        raw_path: str,
        report: CopyReport,
        fmt: str,
        decrypt: Decrypt | None = None,
        problem: str | None = None,
    ) -> IngestOutcome:
        """Decrypt if needed, check, and record a delivery copied into raw: once, or quarantined.

        An encrypted delivery stays in raw as delivered; its decrypted copy (``decrypted/``
        beside it) is what clean reads. ``problem`` is a fault the caller found in the
        transfer (a checksum that does not match); such a file is quarantined.
        """
        delivery = Delivery(
            delivery_id=incoming.delivery_id,
            source=self.source,
            dataset=self.dataset,
            dt=incoming.dt,
            file_name=incoming.name,
            landing_path=incoming.landing_path,
            raw_path=raw_path,
            bytes=report.bytes,
            sha256=report.sha256,
            lines=report.lines,
            ingested_at=datetime.now(tz=UTC).isoformat(timespec="microseconds"),
            extra={**incoming.extra, **({"origin": incoming.origin} if incoming.origin else {})},
        )
        problem = problem or report.problem
        if problem is None and decrypt is not None and decrypt.applies_to(incoming.name):
            delivery, problem = self._decrypt(delivery, decrypt)
        problem = problem or _emptiness(delivery.bytes, delivery.lines, fmt)
        if problem:
            return IngestOutcome(self._quarantine(delivery, problem), "quarantined")
        earlier = self.by_sha256(report.sha256)
        if earlier is not None and earlier.delivery_id != delivery.delivery_id:
            self._remove_copies(delivery)
            duplicate = _replace(
                delivery, status="duplicate", raw_path="", duplicate_of=earlier.delivery_id
            )
            self.record(duplicate)
            return IngestOutcome(duplicate, "duplicate")
        self.record(delivery)
        return IngestOutcome(delivery, "ingested")

    def _decrypt(self, delivery: Delivery, decrypt: Decrypt) -> tuple[Delivery, str | None]:
        """Decrypt the raw copy into ``decrypted/`` beside it: what clean reads, or why not."""
        plain_name = decrypt.plain_name(delivery.file_name)
        folder = delivery.raw_path.rsplit("/", 1)[0]
        plain_path = f"{folder}/decrypted/{plain_name}"
        with self.lake.scratch() as scratch:
            staged = f"{scratch}/{plain_name}"
            try:
                with self.lake.filesystem.open_input_stream(
                    self.lake.full(delivery.raw_path), compression=None
                ) as encrypted:
                    facts = decrypt(encrypted, staged)
            except DecryptFailed as exc:
                return delivery, str(exc)
            plain = self.lake.copy_in(
                pafs.LocalFileSystem(), staged, plain_path, gzip=plain_name.endswith(".gz")
            )
        decrypted = _replace(
            delivery,
            file_name=plain_name,
            raw_path=plain_path,
            lines=plain.lines,
            extra={**delivery.extra, **facts, "encrypted_original": delivery.raw_path},
        )
        if plain.problem:
            return decrypted, f"after decryption: {plain.problem}"
        if plain.bytes == 0:
            return decrypted, "the file decrypts to nothing (0 bytes)"
        return decrypted, None

    def _remove_copies(self, delivery: Delivery) -> None:
        self.lake.delete(delivery.raw_path)
        original = delivery.extra.get("encrypted_original")
        if original:
            self.lake.delete(original)

    def _quarantine(self, delivery: Delivery, problem: str) -> Delivery:
        """Record an unreadable delivery: the reason goes to quarantine, the copy stays in raw.

        The copy may hold clear PII, which lives only in raw (encrypted, expiring), so
        quarantine keeps the reason and where the copy is, never the bytes.
        """
        reason = {
            "file": delivery.origin,
            "problem": problem,
            "fix": "ask the partner to deliver the file again; a new file is a new delivery",
            "raw_copy": delivery.raw_path,
            "sha256": delivery.sha256,
            "bytes": delivery.bytes,
        }
        self.lake.write_json(
            f"{partition_dir(Zone.QUARANTINE, self.source, self.dataset, delivery.dt)}/files/"
            f"{delivery.delivery_id}/reason.json",
            reason,
        )
        quarantined = _replace(delivery, status="quarantined", problem=problem)
        self.record(quarantined)
        if delivery.landing_path:
            self.lake.delete(delivery.landing_path)
        return quarantined

    def archive(self, delivery: Delivery) -> bool:
        """Move a processed delivery's landing file to the archive zone; False if already gone."""
        if not delivery.landing_path or not self.lake.exists(delivery.landing_path):
            return False
        relative = delivery.landing_path.split("/", 1)[1]
        self.lake.move(delivery.landing_path, f"{Zone.ARCHIVE.value}/{relative}")
        return True


def current_deliveries(deliveries: list[Delivery]) -> list[Delivery]:
    """The deliveries clean reads: in raw, non-empty, and not replaced by a newer pull.

    A pulled report lands one delivery per account (``extra['scope']``) and day; a later pull
    of the same account and day replaces it as a whole, so only the newest one counts (an
    empty newest one means the day has no rows any more). Pushed files all count.
    """
    newest: dict[tuple[str, str], Delivery] = {}
    pushed: list[Delivery] = []
    for delivery in deliveries:
        if delivery.status != "raw":
            continue
        scope = delivery.extra.get("scope")
        if scope is None:
            pushed.append(delivery)
            continue
        key = (scope, delivery.dt)
        if key not in newest or delivery.ingested_at >= newest[key].ingested_at:
            newest[key] = delivery
    pulled = [d for d in newest.values() if d.lines > 0]
    return sorted(pushed + pulled, key=lambda d: (d.ingested_at, d.delivery_id))


def _emptiness(size: int, lines: int, fmt: str) -> str | None:
    if size == 0:
        return "the file is empty (0 bytes)"
    if fmt != "parquet" and lines == 0:
        return "the file has no complete line of text"
    return None


def _replace(delivery: Delivery, **changes: object) -> Delivery:
    return Delivery(**{**asdict(delivery), **changes})
