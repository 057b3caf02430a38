"""Realistic sample deliveries for the two sample sources, written into the landing zone.

Deterministic for a given day: a retail partner's POS files (one gzip, the rest plain CSV, a few
late rows, a duplicate and one bad amount) and CRM contact exports as nested JSON lines.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

FIRST = ["Ana", "Ben", "Chloé", "Dev", "Eva", "Farid", "Grace", "Hiro", "Iris", "José"]
LAST = ["Ng", "O'Brien", "Smith", "García", "Müller", "Khan", "Rossi", "Kim", "Dubois", "Lee"]
OFFSETS = ["-05:00", "-08:00", "+00:00", "+01:00"]


def write_sample_landing(
    lake_root: Path, today: date, days: int = 3, rows: int = 200
) -> list[Path]:
    """Write ``days`` days of sample deliveries ending yesterday; return the files written."""
    written = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        rng = random.Random(day.toordinal())
        written.append(_pos_file(lake_root, day, rng, rows, gz=back == days))
        written.append(_contacts_file(lake_root, day, rng, rows // 4))
    return written


def _pos_file(root: Path, day: date, rng: random.Random, rows: int, gz: bool) -> Path:
    folder = root / "landing" / "retail_partner" / "pos_transactions"
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(
        [
            "transaction_id",
            "store_id",
            "transaction_ts",
            "amount",
            "currency",
            "email",
            "phone",
            "sku",
            "quantity",
        ]
    )
    for i in range(rows):
        late = i % 25 == 0
        moment = datetime.combine(day - timedelta(days=1 if late else 0), datetime.min.time())
        moment += timedelta(seconds=rng.randrange(86_400))
        offset = rng.choice(OFFSETS)
        amount = "12,50" if i == 7 else f"{rng.randrange(100, 50_000) / 100:.2f}"
        person = rng.randrange(1000)
        out.writerow(
            [
                f"T{day:%Y%m%d}{i:05d}",
                f"S{rng.randrange(40):03d}",
                moment.strftime("%Y-%m-%dT%H:%M:%S") + offset,
                amount,
                "USD",
                f" Customer{person}@Example.com",
                f"(555) {person % 900 + 100}-{person:04d}",
                f"SKU-{rng.randrange(5000):05d}",
                rng.randrange(1, 5),
            ]
        )
        if i == 3:  # the partner re-sends a corrected row in the same file
            out.writerow(
                [
                    f"T{day:%Y%m%d}{i:05d}",
                    "S001",
                    moment.strftime("%Y-%m-%dT%H:%M:%S") + offset,
                    "1.00",
                    "USD",
                    "",
                    "",
                    "SKU-00001",
                    1,
                ]
            )
    data = buffer.getvalue().encode()
    path = folder / (f"pos_{day.isoformat()}.csv" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _contacts_file(root: Path, day: date, rng: random.Random, rows: int) -> Path:
    folder = root / "landing" / "crm" / "contacts" / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(rows):
        person = rng.randrange(1000)
        record = {
            "contact_id": f"C{person:05d}",
            "loyalty_id": f"L-{person * 7919 % 100_000:06d}",
            "email": f"customer{person}@example.com",
            "phone": f"+1 555 {person % 900 + 100} {person:04d}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "birth_date": (
                f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
            ),
            "address": {
                "zip": f"{rng.randrange(10_000, 99_999)}-{rng.randrange(1000, 9999)}",
                "city": rng.choice(["Seattle", "Austin", "Boston"]),
                "country": "US",
            },
            "device": {"maid": _uuid(rng).upper() if i % 3 else None},
            "opted_in": i % 5 != 0,
            "updated_at": datetime.combine(day, datetime.min.time(), tzinfo=UTC).isoformat(),
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    path = folder / "contacts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
