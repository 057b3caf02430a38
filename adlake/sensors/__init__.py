"""Sensors: landing-zone watchers that turn delivered files into raw runs."""
