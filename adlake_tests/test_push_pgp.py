"""The push pattern's PGP step: a partner drops an encrypted file into landing.

The raw run keeps the encrypted original, decrypts it with the keys named in the dataset's
``pgp`` settings (read from secrets), and clean reads the decrypted rows. A file encrypted to
another key is quarantined with the reason and the fix, and removed from landing.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from adlake.config import AdlakeConfig
from adlake.lake import Lake
from adlake.lake.deliveries import DeliveryLedger
from adlake_tests.conftest import SAMPLE_DAYS
from adlake_tests.pgp_keys import encrypt_file

RAW = "raw/retail_partner/pos_transactions"


@pytest.fixture
def encrypted_project(
    project: AdlakeConfig,
    sample_landing: list[Path],
    pgp_identities,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, bytes, Path, Path]:
    """The sample project whose POS partner encrypts: day 2 to us, day 3 to a stranger.

    Returns day 2's plain file name and bytes, and the two encrypted landing files.
    """
    file = Path(project.base_dir) / "adlake.yaml"
    config = yaml.safe_load(file.read_text())
    config["sources"]["retail_partner"]["datasets"]["pos_transactions"]["pgp"] = {
        "private_key": "pos_pgp_key",
        "passphrase": "pos_pgp_passphrase",
    }
    file.write_text(yaml.safe_dump(config, sort_keys=False))
    ours, stranger = pgp_identities.ours, pgp_identities.stranger
    monkeypatch.setenv("ADLAKE_SECRET_POS_PGP_KEY", ours.private)
    monkeypatch.setenv("ADLAKE_SECRET_POS_PGP_PASSPHRASE", ours.passphrase)
    pos = sorted(p for p in sample_landing if p.name.startswith("pos_"))
    name, data = pos[1].name, pos[1].read_bytes()
    encrypted = []
    for plain, recipient in ((pos[1], ours), (pos[2], stranger)):
        target = plain.with_name(plain.name + ".pgp")
        encrypt_file(plain, target, recipient.public)
        plain.unlink()
        encrypted.append(target)
    return name, data, encrypted[0], encrypted[1]


def test_encrypted_landing_files_are_decrypted_or_quarantined(
    project: AdlakeConfig, encrypted_project: tuple[str, bytes, Path, Path]
) -> None:
    import adlake.definitions

    plain_name, plain_bytes, to_us, to_stranger = encrypted_project
    encrypted_bytes = to_us.read_bytes()
    definitions = adlake.definitions.defs()
    instance = dg.DagsterInstance.ephemeral()
    for day in SAMPLE_DAYS[1:]:
        result = dg.materialize(
            list(definitions.assets),
            selection=[RAW],
            resources=definitions.resources,
            instance=instance,
            partition_key=day,
        )
        assert result.success

    lake = Lake(project.resolve(project.lake.root))
    ledger = DeliveryLedger(lake, "retail_partner", "pos_transactions")
    (good,) = ledger.for_dates([SAMPLE_DAYS[1]])
    assert good.status == "raw" and good.file_name == plain_name
    assert lake.read_bytes(good.raw_path) == plain_bytes
    assert lake.read_bytes(good.extra["encrypted_original"]) == encrypted_bytes
    (bad,) = ledger.for_dates([SAMPLE_DAYS[2]])
    assert bad.status == "quarantined"
    assert bad.problem.startswith("PGP: ") and "encrypted to key" in bad.problem
    assert not to_stranger.exists()  # quarantined files leave landing

    clean = dg.materialize(
        list(definitions.assets),
        selection=["clean/retail_partner/pos_transactions"],
        resources=definitions.resources,
        instance=instance,
        partition_key=SAMPLE_DAYS[1],
    )
    assert clean.success
    materialization = clean.asset_materializations_for_node(
        "clean__retail_partner__pos_transactions"
    )[0]
    assert materialization.metadata["rows_out"].value > 0


def test_a_public_key_given_as_ours_fails_the_run_and_touches_nothing(
    project: AdlakeConfig,
    encrypted_project: tuple[str, bytes, Path, Path],
    pgp_identities,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adlake.definitions

    _, _, to_us, _ = encrypted_project
    monkeypatch.setenv("ADLAKE_SECRET_POS_PGP_KEY", pgp_identities.ours.public)
    definitions = adlake.definitions.defs()

    result = dg.materialize(
        list(definitions.assets),
        selection=[RAW],
        resources=definitions.resources,
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=SAMPLE_DAYS[1],
        raise_on_error=False,
    )

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "retail_partner/pos_transactions: the PGP keys cannot be used" in message
    assert "public key only" in message and "export-secret-keys" in message
    assert to_us.exists()  # still waiting in landing for the right key
    lake = Lake(project.resolve(project.lake.root))
    assert (
        DeliveryLedger(lake, "retail_partner", "pos_transactions").for_dates([SAMPLE_DAYS[1]]) == []
    )
