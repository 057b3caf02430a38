"""The last guard: a clean partition whose string column still holds clear PII is not published."""

from __future__ import annotations

from pathlib import Path

import yaml

from adlake.config import DatasetConfig, EngineConfig
from adlake.lake import Lake
from adlake.transform.clean import CleanInput, DatasetRef, clean_partitions

SPEC = """
format: csv
columns:
  order_id: {type: string}
  contact: {type: string}
  email: {type: string, pii: {policy: sha256, identifier: email}}
primary_key: [order_id]
"""


def test_a_column_with_undeclared_emails_is_not_published(tmp_path: Path) -> None:
    spec = DatasetConfig.model_validate(yaml.safe_load(SPEC))
    raw = tmp_path / "lake" / "raw" / "d.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text(
        "order_id,contact,email\nO1,jane.doe@example.com,jane.doe@example.com\n"
        "O2,+1 (206) 555-0100,x@example.com\n"
    )
    lake = Lake(tmp_path / "lake")

    outcome = clean_partitions(
        lake,
        DatasetRef("shop", "orders", spec),
        [CleanInput("d1", str(raw), "2026-03-01", "landing/shop/orders/d.csv", 3)],
        ["2026-03-01"],
        {},
        EngineConfig(),
    )

    (part,) = outcome.partitions
    assert part.clear_pii == {"contact": 2}
    assert not part.published
    assert not (tmp_path / "lake" / "clean").exists()
    assert "jane.doe" not in part.preview
