"""Audience segments: SQL over the clean zone, membership snapshots, deltas and guarded exports.

No Dagster here; :mod:`adlake.assets.segments` wires these to assets.
"""
