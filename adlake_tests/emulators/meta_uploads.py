"""Upload payloads of the Meta emulator: the ``users`` / ``usersreplace`` edges' request bodies.

Section 2.6 of shared/specs/meta/README: ``payload`` and ``session`` arrive as JSON strings;
``payload.schema`` is a single-key schema name or a list of multi-key fields; at most 10,000
rows per call; hashed keys are lowercase hex SHA-256 except MADID and EXTERN_ID, and invalid
rows are counted and sampled rather than refused. Sessions group batches by ``session_id``
with increasing ``batch_seq``; a replace session swaps the members in on its last batch.
:func:`apply_upload` does one call against an audience and the server's session and batch logs.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from adlake_tests.emulators.meta_records import (
    EmulatedAudience,
    GraphError,
    Member,
    Operation,
    ReceivedBatch,
    UploadSession,
)

MAX_ROWS = 10_000
MULTI_KEYS = frozenset(
    re.findall(r"\w+", "EXTERN_ID EMAIL PHONE GEN DOBY DOBM DOBD LN FN FI CT ST ZIP MADID COUNTRY")
)
UNHASHED_KEYS = frozenset({"EXTERN_ID", "MADID"})
SINGLE_KEY_SCHEMAS = {
    "EMAIL_SHA256": "EMAIL",
    "PHONE_SHA256": "PHONE",
    "MOBILE_ADVERTISER_ID": "MADID",
}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

Sessions = dict[tuple[str, int], UploadSession]


def json_param(params: dict[str, Any], name: str) -> Any:
    """A parameter sent as a JSON string, decoded (other values are returned as they are)."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise GraphError(100, f"(#100) Param {name} must be a JSON object") from exc


def apply_upload(
    audience: EmulatedAudience,
    params: dict[str, Any],
    operation: Operation,
    sessions: Sessions,
    received_log: list[ReceivedBatch],
    now: Callable[[], int],
) -> dict[str, Any]:
    """Check and apply one upload call to ``audience``; the Graph answer for it.

    Updates the audience's members, its session in ``sessions`` and appends the batch to
    ``received_log``; raises :class:`GraphError` for a flagged audience or a bad payload.
    """
    if audience.operation_status["code"] == 471:
        raise GraphError(
            100,
            "Invalid parameter",
            1713230,
            error_user_title="Audience Upload Blocked",
            error_user_msg="Before updating user memberships, you must resolve integrity "
            "restrictions on this Data File Custom Audience. Go to Audience Manager to appeal "
            "the restrictions or create a new audience with updated data",
        )
    payload = json_param(params, "payload")
    if not isinstance(payload, dict):
        raise GraphError(100, "(#100) The parameter payload is required (a JSON object)")
    schema, single = parse_schema(payload.get("schema"))
    rows = parse_rows(payload.get("data"), schema, single)
    session = json_param(params, "session")
    if operation == "replace" and session is None:
        raise GraphError(100, "(#100) The parameter session is required")
    sub_type = "HASHES_OR_USER_IDS" if single else "MULTI_HASHES"
    if audience.sub_type and audience.sub_type != sub_type:
        raise GraphError(
            2650,
            "(#2650) Failed to update the custom audience: This audience was created from "
            f"data source FILE_IMPORTED.{audience.sub_type}, which does not support data "
            f"source FILE_IMPORTED.{sub_type}.",
        )
    valid, samples = validate_rows(schema, rows)
    state = open_session(sessions, audience.audience_id, session, operation, now)
    received, invalid = len(rows), len(rows) - len(valid)
    if state is not None:
        state.num_received += received
        state.num_invalid_entries += invalid
        received, invalid = state.num_received, state.num_invalid_entries
    audience.sub_type = sub_type
    if operation == "add":
        audience.members |= valid
    elif operation == "remove":
        audience.members -= valid
    elif state is not None:
        state.pending |= valid
    if state is not None and session.get("last_batch_flag"):
        state.end_time = now()
        if operation == "replace":
            audience.members, state.pending = state.pending, set()
    audience.time_updated = now()
    received_log.append(
        ReceivedBatch(
            audience.audience_id, operation, schema, rows, session, len(rows) - len(valid)
        )
    )
    session_id = state.session_id if state else secrets.randbits(62)
    return {
        "audience_id": audience.audience_id,
        "session_id": str(session_id),
        "num_received": received,
        "num_invalid_entries": invalid,
        "invalid_entry_samples": samples,
    }


def parse_schema(schema: Any) -> tuple[tuple[str, ...], bool]:
    """``payload.schema`` as a key tuple, and whether it was a single-key schema name."""
    if isinstance(schema, str):
        if schema not in SINGLE_KEY_SCHEMAS:
            allowed = ", ".join([*SINGLE_KEY_SCHEMAS, "or a list of multi-key fields"])
            raise GraphError(100, f"(#100) Invalid schema {schema!r}: use {allowed}")
        return (SINGLE_KEY_SCHEMAS[schema],), True
    if not isinstance(schema, list) or not schema:
        raise GraphError(100, "(#100) payload.schema is required: a schema name or a key list")
    unknown = [key for key in schema if key not in MULTI_KEYS]
    if unknown:
        allowed = ", ".join(sorted(MULTI_KEYS))
        raise GraphError(100, f"(#100) Invalid schema keys {unknown}: allowed {allowed}")
    if len(set(schema)) != len(schema):
        raise GraphError(100, f"(#100) payload.schema repeats a key: {schema}")
    return tuple(schema), False


def parse_rows(data: Any, schema: tuple[str, ...], single: bool) -> tuple[tuple[Any, ...], ...]:
    """``payload.data`` as row tuples as wide as the schema (bare values for a single key)."""
    if not isinstance(data, list) or not data:
        raise GraphError(100, "(#100) payload.data must be a non-empty list of rows")
    if len(data) > MAX_ROWS:
        raise GraphError(
            100,
            f"(#100) Too many rows in payload.data: {len(data)} given, at most {MAX_ROWS} "
            "per request. Split the upload into several requests.",
        )
    rows = []
    for index, row in enumerate(data):
        if single and not isinstance(row, list):
            row = [row]
        if not isinstance(row, list) or len(row) != len(schema):
            width = len(row) if isinstance(row, list) else "not a list"
            raise GraphError(
                100,
                f"(#100) Row {index} of payload.data has {width} values but the schema "
                f"{list(schema)} has {len(schema)}",
            )
        rows.append(tuple(row))
    return tuple(rows)


def open_session(
    sessions: Sessions,
    audience_id: str,
    session: Any,
    operation: Operation,
    now: Callable[[], int],
) -> UploadSession | None:
    """The upload session a call's ``session`` parameter names (started if new), or None."""
    if session is None:
        return None
    if not isinstance(session, dict):
        raise GraphError(100, "(#100) Param session must be a JSON object")
    session_id, seq = session.get("session_id"), session.get("batch_seq")
    if not isinstance(session_id, int) or isinstance(session_id, bool) or session_id < 1:
        raise GraphError(
            100, f"(#100) session.session_id must be a positive integer: {session_id!r}"
        )
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise GraphError(100, f"(#100) session.batch_seq must be a positive integer: {seq!r}")
    if not isinstance(session.get("last_batch_flag", False), bool):
        raise GraphError(100, "(#100) session.last_batch_flag must be true or false")
    state = sessions.get((audience_id, session_id))
    if state is None:
        if operation == "replace":  # a new replace session abandons an unfinished one
            for (other_audience, _), other in sessions.items():
                open_replace = other.operation == "replace" and other.end_time is None
                if other_audience == audience_id and open_replace:
                    other.end_time, other.pending = now(), set()
        state = UploadSession(session_id, operation, now())
        sessions[(audience_id, session_id)] = state
    if state.operation != operation:
        raise GraphError(100, f"(#100) Session {session_id} is a {state.operation} session")
    if state.end_time is not None:
        raise GraphError(100, f"(#100) Session {session_id} has ended; start a new session")
    if seq <= state.batch_seq:
        raise GraphError(
            100, f"(#100) session.batch_seq {seq} must be greater than {state.batch_seq}"
        )
    state.batch_seq = seq
    return state


def validate_rows(
    schema: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> tuple[set[Member], dict]:
    """The members of the valid rows, and up to 10 samples (value -> reason) of invalid ones."""
    valid: set[Member] = set()
    samples: dict[str, str] = {}
    for row in rows:
        problem = None
        for key, value in zip(schema, row, strict=True):
            if not isinstance(value, str):
                problem = (repr(value), f"{key}: value must be a string")
            elif value and key not in UNHASHED_KEYS and not SHA256_HEX.fullmatch(value):
                problem = (value, f"{key}: not a SHA-256 hash (64 lowercase hex characters)")
            if problem:
                break
        member = tuple(sorted((k, v) for k, v in zip(schema, row, strict=True) if v))
        if problem is None and not member:
            problem = (json.dumps(list(row)), "row holds no identifier")
        if problem is None:
            valid.add(member)
        elif len(samples) < 10:
            samples[problem[0]] = problem[1]
    return valid, samples
