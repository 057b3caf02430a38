"""Plain Python clients of the external APIs adlake reads from, with no Dagster inside.

Each connector takes plain arguments (endpoints, credentials, dates) and returns or streams
data, so it can be tested against an emulator and reused alone. Retries, backoff, rate pacing,
async-job polling and streaming a URL to a file live once, in :mod:`adlake.connectors.http`.
"""
