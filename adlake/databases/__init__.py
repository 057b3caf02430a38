"""Relational sources into the lake (no Dagster): batch extracts with watermarks, change capture
with positions, and the current-state tables clean publishes from them.

Everything that must survive a crash (watermarks, CDC positions, what clean has applied) is a
small JSON document in the state zone, written only after the raw files it covers are durable.
"""
