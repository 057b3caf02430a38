"""Error bodies of the Google Ads API v25 emulator: google.rpc.Status with a GoogleAdsFailure.

Every error the emulator answers is built here so all routes share one shape: the HTTP status
maps to its google.rpc code name, the details hold one GoogleAdsFailure whose errors carry an
``errorCode`` {category: enum name} from the errors protos and, where Google reports one, the
field path of the offending value. Partial failure and quota (RetryInfo) bodies too.
"""

from __future__ import annotations

import secrets
from typing import Any

FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v25.errors.GoogleAdsFailure"
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
RPC_STATUS = {
    400: (3, "INVALID_ARGUMENT"),
    401: (16, "UNAUTHENTICATED"),
    403: (7, "PERMISSION_DENIED"),
    404: (5, "NOT_FOUND"),
    405: (12, "UNIMPLEMENTED"),
    429: (8, "RESOURCE_EXHAUSTED"),
    500: (13, "INTERNAL"),
    503: (14, "UNAVAILABLE"),
    504: (4, "DEADLINE_EXCEEDED"),
}
FAULT_CODES = {
    404: ("requestError", "RESOURCE_NOT_FOUND"),
    429: ("quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED"),
    503: ("internalError", "TRANSIENT_ERROR"),
    504: ("internalError", "DEADLINE_EXCEEDED"),
}

Error = dict[str, Any]


def ads_error(category: str, code: str, message: str, *path: str | tuple[str, int]) -> Error:
    """One GoogleAdsError: ``errorCode`` {category: code}, message, field path if given."""
    error: Error = {"errorCode": {category: code}, "message": message}
    if path:
        elements = [
            {"fieldName": p} if isinstance(p, str) else {"fieldName": p[0], "index": p[1]}
            for p in path
        ]
        error["location"] = {"fieldPathElements": elements}
    return error


def request_id() -> str:
    """A fresh request id, as Google returns in the ``request-id`` header and the failure."""
    return secrets.token_urlsafe(16)


def failure(status: int, message: str, errors: list[Error]) -> dict[str, Any]:
    """An HTTP error body: google.rpc.Status with a GoogleAdsFailure in its details."""
    _, name = RPC_STATUS.get(status, (2, "UNKNOWN"))
    detail = {"@type": FAILURE_TYPE, "errors": errors, "requestId": request_id()}
    return {"error": {"code": status, "message": message, "status": name, "details": [detail]}}


def fault_failure(status: int, message: str) -> dict[str, Any]:
    """The body of an injected fault or unknown route: one error whose code fits the status."""
    category, code = FAULT_CODES.get(status, ("internalError", "INTERNAL_ERROR"))
    return failure(status, message, [ads_error(category, code, message)])


def errors_failure(status: int, errors: tuple[Error, ...]) -> dict[str, Any]:
    """The body of a validation failure: the one error's message, or Google's 'Multiple'."""
    message = errors[0]["message"] if len(errors) == 1 else "Multiple errors in 'details'."
    return failure(status, message, list(errors))


def quota_failure(retry_delay: int) -> dict[str, Any]:
    """A 429 RESOURCE_EXHAUSTED body: quota error details and a RetryInfo of ``retry_delay``."""
    delay = f"{retry_delay}s"
    error = ads_error(
        "quotaError",
        "RESOURCE_TEMPORARILY_EXHAUSTED",
        f"Too many requests. Retry in {retry_delay} seconds.",
    )
    error["details"] = {
        "quotaErrorDetails": {
            "rateScope": "ACCOUNT",
            "rateName": "Requests per account",
            "retryDelay": delay,
        }
    }
    body = failure(429, "Resource has been exhausted (e.g. check quota).", [error])
    body["error"]["details"].append({"@type": RETRY_INFO_TYPE, "retryDelay": delay})
    return body


def partial_failure(errors: list[Error]) -> dict[str, Any]:
    """The ``partialFailureError`` status of a 200 reply whose bad operations were dropped."""
    details = failure(400, "", errors)["error"]["details"]
    message = f"{len(errors)} operation(s) failed: {errors[0]['message']}"
    return {"code": 3, "message": message, "details": details}
