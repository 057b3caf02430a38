"""Validation of the Google Ads v25 emulator's requests: credentials, user lists, jobs, operations.

Pure checks, no emulator state: each returns the first problem as a GoogleAdsError (with the
field path Google reports), or None. Credentials are checked in Google's order (OAuth token,
developer token, login-customer-id, account access) and come with their HTTP status. The other
rules follow the offline user data job and user list protos: one of create/remove/removeAll per
operation, removeAll first, no mixing of create and remove in a job, at most 20 identifiers per
user and 100,000 per request, identifiers that fit the list's upload key type, SHA-256 (64
lowercase hex digits) for emails, phones and names, country and postal code in clear.
"""

from __future__ import annotations

import re
from typing import Any

from adlake_tests.emulators.google_ads_errors import Error, ads_error
from adlake_tests.emulators.lwa import bearer
from adlake_tests.emulators.server import Request

MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_USER = 20
UPLOAD_KEYS = {
    "CONTACT_INFO": {"hashedEmail", "hashedPhoneNumber", "addressInfo"},
    "CRM_ID": {"thirdPartyUserId"},
    "MOBILE_ADVERTISING_ID": {"mobileId"},
}
IDENTIFIER_KINDS = (
    "hashedEmail",
    "hashedPhoneNumber",
    "mobileId",
    "thirdPartyUserId",
    "addressInfo",
)
CONSENT_STATUSES = frozenset({"UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"})
SHA256 = re.compile(r"[0-9a-f]{64}")
MOBILE_ID = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
JOB_ERROR = "offlineUserDataJobError"

User = frozenset[tuple[str, str]]


def invalid_credentials(
    request: Request,
    customer_id: str,
    access_tokens: set[str],
    developer_tokens: set[str],
    customer_ids: set[str],
) -> tuple[int, Error] | None:
    """The HTTP status and error that deny a request its customer's data, or None."""
    token = bearer(request)
    if token is None:
        message = "Request is missing required authentication credential."
        return 401, ads_error("authenticationError", "OAUTH_TOKEN_HEADER_INVALID", message)
    if token not in access_tokens:
        message = "Request had invalid authentication credentials."
        return 401, ads_error("authenticationError", "OAUTH_TOKEN_INVALID", message)
    developer_token = request.headers.get("developer-token")
    if not developer_token:
        message = "developer-token parameter is missing."
        return 400, ads_error("requestError", "DEVELOPER_TOKEN_PARAMETER_MISSING", message)
    if developer_token not in developer_tokens:
        message = "The developer token is not valid."
        return 401, ads_error("authenticationError", "DEVELOPER_TOKEN_INVALID", message)
    login = request.headers.get("login-customer-id")
    if login is not None and not re.fullmatch(r"\d{10}", login):
        message = "The login customer ID must be 10 digits without dashes."
        return 400, ads_error("headerError", "INVALID_LOGIN_CUSTOMER_ID", message)
    if customer_id not in customer_ids:
        message = "User doesn't have permission to access customer."
        return 403, ads_error("authorizationError", "USER_PERMISSION_DENIED", message)
    return None


def operation_kind(operation: Any) -> str:
    """``create``, ``remove``, ``removeAll`` or ``invalid`` (not exactly one of them)."""
    if not isinstance(operation, dict):
        return "invalid"
    if operation.get("removeAll") is True:
        return "removeAll"
    return next((k for k in ("create", "remove") if k in operation), "invalid")


def operation_user(operation: Any) -> dict[str, Any]:
    """The UserData a create or remove operation carries ({} for any other)."""
    kind = operation_kind(operation)
    data = operation.get(kind) if kind in ("create", "remove") else None
    return data if isinstance(data, dict) else {}


def identifier_count(operation: Any) -> int:
    """How many user identifiers one operation carries."""
    return len(operation_user(operation).get("userIdentifiers") or [])


def user_key(user: dict[str, Any]) -> User:
    """A user's identifiers as (kind, value) pairs; an address is 'fn:ln:country:postal'."""
    pairs = []
    for identifier in user.get("userIdentifiers") or []:
        kind = next(k for k in IDENTIFIER_KINDS if k in identifier)
        value = identifier[kind]
        if kind == "addressInfo":
            value = ":".join(
                str(value.get(k, ""))
                for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode")
            )
        pairs.append((kind, value))
    return frozenset(pairs)


def invalid_user_list(operation: Any, index: int, names: set[str]) -> Error | None:
    """The first problem of one userLists:mutate operation (``names`` already taken), or None."""
    at = ("operations", index)
    spec = operation.get("create") if isinstance(operation, dict) else None
    if not isinstance(spec, dict):
        message = "The emulator supports only create operations on user lists."
        return ads_error("mutateError", "MUTATE_NOT_ALLOWED", message, at)
    if not spec.get("name"):
        return ads_error("fieldError", "REQUIRED", "The name is required.", at, "create", "name")
    if spec["name"] in names:
        message = "Name is already being used for another user list for the account."
        return ads_error("userListError", "NAME_ALREADY_USED", message, at, "create", "name")
    crm = spec.get("crmBasedUserList")
    if not isinstance(crm, dict):
        message = "Concrete type of user list is required."
        return ads_error("userListError", "CONCRETE_TYPE_REQUIRED", message, at, "create")
    path = (at, "create", "crm_based_user_list", "upload_key_type")
    if crm.get("uploadKeyType") not in UPLOAD_KEYS:
        message = f"uploadKeyType must be one of {', '.join(UPLOAD_KEYS)}."
        return ads_error("requestError", "INVALID_ENUM_VALUE", message, *path)
    if crm["uploadKeyType"] == "MOBILE_ADVERTISING_ID" and not crm.get("appId"):
        message = "App id must be set for a list of mobile advertising ids."
        return ads_error("userListError", "APP_ID_NOT_SET", message, *path[:-1], "app_id")
    try:
        span = int(spec.get("membershipLifeSpan", 0))
    except (TypeError, ValueError):
        span = -1
    if not 0 <= span <= 540:
        message = "membershipLifeSpan must be between 0 and 540 days."
        code = "TOO_HIGH" if span > 540 else "TOO_LOW"
        return ads_error("rangeError", code, message, at, "create", "membership_life_span")
    return None


def invalid_job(job: dict[str, Any]) -> Error | None:
    """The problem of an offlineUserDataJobs:create job's type or consent, or None."""
    if job.get("type") != "CUSTOMER_MATCH_USER_LIST":
        message = "The emulator supports only jobs of type CUSTOMER_MATCH_USER_LIST."
        return ads_error("fieldError", "INVALID_VALUE", message, "job", "type")
    metadata = job.get("customerMatchUserListMetadata") or {}
    consent = metadata.get("consent")
    if consent is not None and (
        not isinstance(consent, dict) or not set(consent.values()) <= CONSENT_STATUSES
    ):
        message = f"Consent values must be one of {', '.join(sorted(CONSENT_STATUSES))}."
        path = ("job", "customer_match_user_list_metadata", "consent")
        return ads_error("requestError", "INVALID_ENUM_VALUE", message, *path)
    return None


def invalid_add_request(job_status: str, operations: list[Any]) -> Error | None:
    """What rejects a whole addOperations request: a started job, no operations, too many ids."""
    if job_status != "PENDING":
        message = "Once the upload job is started, new operations cannot be added."
        return ads_error(JOB_ERROR, "JOB_ALREADY_STARTED", message)
    if not operations:
        message = "Operations must be present."
        return ads_error("requestError", "OPERATION_REQUIRED", message, "operations")
    total = sum(identifier_count(op) for op in operations)
    if total > MAX_IDENTIFIERS_PER_REQUEST:
        message = (
            f"Maximum number of user identifiers allowed per request is 100,000 and per "
            f"operation is 20; this request has {total}."
        )
        return ads_error(JOB_ERROR, "TOO_MANY_USER_IDENTIFIERS", message, "operations")
    return None


def invalid_operation(
    operation: Any, index: int, kind: str, kinds: set[str], upload_key_type: str
) -> Error | None:
    """The first problem of one operation (``kinds`` already in the job), or None."""
    at = ("operations", index)
    if kind == "invalid":
        message = "An operation must set exactly one of create, remove or removeAll (true)."
        return ads_error("requestError", "OPERATION_REQUIRED", message, at)
    if kind == "removeAll":
        if index != 0:
            message = "When a remove-all operation is provided, it has to be the first operation."
            return ads_error(JOB_ERROR, "INVALID_OPERATION_ORDER", message, at, "remove_all")
        return None
    opposite = "remove" if kind == "create" else "create"
    if opposite in kinds:
        message = "Mixing creation and removal of offline data in the same job is not allowed."
        return ads_error(JOB_ERROR, "CONFLICTING_OPERATION", message, at, kind)
    identifiers = operation_user(operation).get("userIdentifiers") or []
    if not identifiers:
        message = "The user identifier is missing valid data."
        return ads_error(JOB_ERROR, "MISSING_USER_IDENTIFIER", message, at, kind)
    if len(identifiers) > MAX_IDENTIFIERS_PER_USER:
        message = (
            f"Maximum number of user identifiers allowed per operation is 20; "
            f"this one has {len(identifiers)}."
        )
        return ads_error(
            JOB_ERROR, "TOO_MANY_USER_IDENTIFIERS", message, at, kind, "user_identifiers"
        )
    for position, identifier in enumerate(identifiers):
        where = (at, kind, ("user_identifiers", position))
        problem = _invalid_identifier(identifier, where, upload_key_type)
        if problem:
            return problem
    return None


def _invalid_identifier(
    identifier: Any, where: tuple[Any, ...], upload_key_type: str
) -> Error | None:
    present = [k for k in IDENTIFIER_KINDS if isinstance(identifier, dict) and k in identifier]
    if len(present) != 1:
        message = "Exactly one identifier must be set in each UserIdentifier."
        return ads_error(JOB_ERROR, "MISSING_USER_IDENTIFIER", message, *where)
    kind = present[0]
    value = identifier[kind]
    field_name = re.sub(r"(?<!^)([A-Z])", r"_\1", kind).lower()
    if kind not in UPLOAD_KEYS[upload_key_type]:
        message = f"{kind} is not compatible with a {upload_key_type} user list."
        return ads_error(JOB_ERROR, "INCOMPATIBLE_UPLOAD_KEY_TYPE", message, *where, field_name)
    if kind in ("hashedEmail", "hashedPhoneNumber"):
        if not isinstance(value, str) or not SHA256.fullmatch(value):
            message = "The SHA256 encoded value is malformed (64 lowercase hex digits)."
            return ads_error(JOB_ERROR, "INVALID_SHA256_FORMAT", message, *where, field_name)
    elif kind == "mobileId":
        if not isinstance(value, str) or not MOBILE_ID.fullmatch(value):
            message = "The mobile ID is malformed."
            return ads_error(JOB_ERROR, "INVALID_MOBILE_ID_FORMAT", message, *where, field_name)
    elif kind == "thirdPartyUserId":
        if not isinstance(value, str) or not value:
            message = "The user identifier is missing valid data."
            return ads_error(JOB_ERROR, "MISSING_USER_IDENTIFIER", message, *where, field_name)
    else:
        return _invalid_address(value, (*where, "address_info"))
    return None


def _invalid_address(address: Any, where: tuple[Any, ...]) -> Error | None:
    """Names hashed, country and postal code in clear, all four present."""
    address = address if isinstance(address, dict) else {}
    for key, name in (
        ("hashedFirstName", "hashed_first_name"),
        ("hashedLastName", "hashed_last_name"),
    ):
        if not SHA256.fullmatch(str(address.get(key, ""))):
            message = f"The SHA256 encoded value of {key} is malformed (64 lowercase hex digits)."
            return ads_error(JOB_ERROR, "INVALID_SHA256_FORMAT", message, *where, name)
    if not re.fullmatch(r"[A-Za-z]{2}", str(address.get("countryCode", ""))):
        message = "The country code is invalid (ISO-3166-1 alpha-2, not hashed)."
        return ads_error(JOB_ERROR, "INVALID_COUNTRY_CODE", message, *where, "country_code")
    postal = str(address.get("postalCode", ""))
    if not postal:
        message = "The postal code is required with an address."
        return ads_error(JOB_ERROR, "MISSING_USER_IDENTIFIER", message, *where, "postal_code")
    if SHA256.fullmatch(postal.lower()):
        message = "The data in user identifier should not be encoded: send the postal code clear."
        return ads_error(JOB_ERROR, "INVALID_ENCODING", message, *where, "postal_code")
    return None
