"""Spec-built emulators of the external APIs adlake talks to, served on loopback for tests.

Each emulator follows the official API models in ../shared/specs (see README.md here): routes,
headers, status codes, error bodies, async-job state machines and expiring download URLs.
"""
