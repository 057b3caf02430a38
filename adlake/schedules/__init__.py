"""Schedules for clock-driven pulls (push sources need none; pull connectors add theirs)."""
