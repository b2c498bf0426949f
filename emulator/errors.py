"""Google's error model (``google.rpc.Status``) as the JSON API returns it.

Every failure the emulator reports is an :class:`ApiError`; the HTTP layer turns it into::

    {"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT", "details": [...]}}

with ``code`` equal to the HTTP status. ``details`` carries a ``google.rpc.ErrorInfo`` whose
``reason`` names the situation in one stable word, so a client can branch on it without parsing the
message (Google's newer APIs do the same).
"""

from __future__ import annotations

import json

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "androiddeviceprovisioning.googleapis.com"

# google.rpc.Code name -> HTTP status, as Google's HTTP mapping defines it.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

# HTTP status -> the google.rpc.Code name a fault with that status reports.
STATUS_FOR_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Per-device status of an asynchronous operation item for each error reason (PerDeviceStatusInBatch).
DEVICE_STATUS_FOR_STATUS = {
    "INVALID_ARGUMENT": "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER",
    "PERMISSION_DENIED": "SINGLE_DEVICE_STATUS_PERMISSION_DENIED",
}


class ApiError(Exception):
    """A request the API refuses. ``reason`` is the ErrorInfo reason; ``device_status`` is what an
    asynchronous operation reports for the same failure on one device."""

    status = "INTERNAL"
    #: The ErrorInfo reason when the raiser names none; None: the status itself, as Google's most often is.
    default_reason: str | None = None

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        device_status: str | None = None,
        headers: dict[str, str] | None = None,
        code: int | None = None,
        status: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.code = code if code is not None else HTTP_STATUS.get(self.status, 500)
        self.reason = reason or self.default_reason or self.status
        self.device_status = device_status or DEVICE_STATUS_FOR_STATUS.get(
            self.status, "SINGLE_DEVICE_STATUS_OTHER_ERROR"
        )
        self.headers = headers or {}

    def to_dict(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status,
                "details": [
                    {
                        "@type": ERROR_INFO_TYPE,
                        "reason": self.reason,
                        "domain": DOMAIN,
                    }
                ],
            }
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()


class InvalidArgument(ApiError):
    status = "INVALID_ARGUMENT"


class FailedPrecondition(ApiError):
    status = "FAILED_PRECONDITION"


class Unauthenticated(ApiError):
    status = "UNAUTHENTICATED"
    default_reason = "CREDENTIALS_MISSING"


class PermissionDenied(ApiError):
    status = "PERMISSION_DENIED"


class NotFound(ApiError):
    status = "NOT_FOUND"


class ResourceExhausted(ApiError):
    status = "RESOURCE_EXHAUSTED"
    default_reason = "RATE_LIMIT_EXCEEDED"


class Internal(ApiError):
    status = "INTERNAL"


class Unavailable(ApiError):
    status = "UNAVAILABLE"


def fault_error(http_status: int) -> ApiError:
    """The error an injected fault answers with, for any HTTP status a test asks for."""
    status = STATUS_FOR_HTTP.get(http_status, "INTERNAL" if http_status >= 500 else "INVALID_ARGUMENT")
    messages = {
        500: "Internal error encountered.",
        502: "Bad gateway.",
        503: "The service is currently unavailable.",
        504: "The request timed out.",
        429: "Resource has been exhausted (e.g. check quota).",
    }
    message = messages.get(http_status, f"Injected fault ({http_status}).")
    # Google answers 429 with a Retry-After; an injected one asks for a one-second wait.
    headers = {"Retry-After": "1"} if http_status == 429 else None
    return ApiError(message, code=http_status, status=status, reason="INJECTED_FAULT", headers=headers)
