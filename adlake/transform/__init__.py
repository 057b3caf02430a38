"""Dataset spec -> engine work: PII normalization/hashing and the clean transform (no Dagster)."""
