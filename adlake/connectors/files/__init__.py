"""Remote file sources: list, copy into raw streaming, verify, and clean up (no Dagster)."""
