"""Typed errors of the zero-touch client.

Three families, so that a caller can decide what to do without reading strings:

- ``ApiError`` and its subclasses: Google answered with an error (``{"error": {"code", "message",
  "status", "details"}}``). The subclass is chosen from the RPC ``status`` first and the HTTP code second.
- ``TransportError`` (``Timeout``, ``ConnectionFailed``): no usable answer came back.
- ``OutcomeUnknown``: a call that changes state failed in a way that leaves open whether the server
  acted. The caller must find out by reading (``devices_get``, ``devices_find_by_identifier``,
  ``operations_get``) before deciding to submit again.

Every ``str(exc)`` is a sentence a person can read. Request and response bodies never appear in an
exception: they hold customers' personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "AlreadyExists",
    "ApiError",
    "Conflict",
    "ConnectionFailed",
    "CredentialsError",
    "FailedPrecondition",
    "InternalError",
    "InvalidArgument",
    "InvalidResponse",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "Timeout",
    "TransportError",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "ZeroTouchError",
    "error_from_response",
]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    return text if text[-1] in ".!?" else text + "."


class ZeroTouchError(Exception):
    """Base class of everything this package raises (besides ``ValueError`` for bad arguments)."""

    def __init__(
        self,
        message: str,
        *,
        api_method: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(_sentence(message))
        #: The API method, e.g. ``partners.devices.claim``.
        self.api_method = api_method
        #: The HTTP method and URL of the request.
        self.method = method
        self.url = url

    def __reduce__(self):
        # The constructors take keyword arguments, which pickle's default cannot replay; task queues
        # pickle exceptions, so rebuild from the attributes instead.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[ZeroTouchError], args: tuple, state: dict) -> ZeroTouchError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ApiError(ZeroTouchError):
    """Google's API answered with an error.

    ``code`` is the HTTP status, ``status`` the RPC status name (``INVALID_ARGUMENT``…), ``message``
    Google's developer message, ``details`` the list of ``google.rpc`` detail objects (may be empty).
    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(
        self,
        *,
        code: int,
        status: str | None,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
        api_method: str | None = None,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.message = message
        self.details = list(details)
        self.retry_after = retry_after
        what = api_method or "The request"
        label = f"HTTP {code} {status}" if status else f"HTTP {code}"
        reason = _sentence(message) if message else "No explanation was given."
        verb = "was refused by" if code < 500 else "failed on the side of"
        super().__init__(
            f"{what} {verb} the zero-touch API ({label}): {reason}",
            api_method=api_method,
            method=method,
            url=url,
        )

    @property
    def reason(self) -> str | None:
        """The ``reason`` of the first ``google.rpc.ErrorInfo`` detail, a stable word to branch on."""
        for detail in self.details:
            if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo") and detail.get("reason"):
                return str(detail["reason"])
        return None


class InvalidArgument(ApiError):
    """The request is malformed or an identifier is invalid (400 ``INVALID_ARGUMENT``/``OUT_OF_RANGE``)."""


class FailedPrecondition(ApiError):
    """The request is valid but the state of the device or customer forbids it (400
    ``FAILED_PRECONDITION``), e.g. a device already claimed by another customer."""


class Unauthenticated(ApiError):
    """The credentials were missing, expired or rejected (401)."""


class PermissionDenied(ApiError):
    """The service account may not act on this partner, customer or device (403)."""


class NotFound(ApiError):
    """The device, customer, vendor or operation does not exist for this partner (404)."""


class Conflict(ApiError):
    """The request conflicts with the current state (409 ``ABORTED`` or ``ALREADY_EXISTS``)."""


class AlreadyExists(Conflict):
    """What the request would create exists already (409 ``ALREADY_EXISTS``)."""


class RateLimited(ApiError):
    """The quota is used up (429 ``RESOURCE_EXHAUSTED``), from Google or from the client's own limiter.

    A rate-limited request was not carried out, so it can always be sent again later; ``retry_after``
    says when, if known.
    """


class InternalError(ApiError):
    """The server failed (500 ``INTERNAL``/``UNKNOWN``/``DATA_LOSS``)."""


class Unimplemented(ApiError):
    """The server does not support this method (501)."""


class Unavailable(ApiError):
    """The service is overloaded or down (502, 503 ``UNAVAILABLE``, 504 ``DEADLINE_EXCEEDED``)."""


class InvalidResponse(ZeroTouchError):
    """The server answered with success but the body is not the JSON the API promises."""


class CredentialsError(ZeroTouchError):
    """The service-account credentials could not be loaded or refreshed.

    ``reason`` is the OAuth error code of the token endpoint's refusal (``invalid_grant`` for a key
    Google does not hold any more, ``invalid_scope``...), None when it gave none.
    """

    def __init__(self, message: str, *, reason: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.reason = reason


class TransportError(ZeroTouchError):
    """No usable HTTP answer: the connection failed or the server was too slow.

    ``request_sent`` is False when the request provably never left this machine (connection refused,
    connect timeout), True when it may have reached the server.
    """

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool,
        api_method: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, api_method=api_method, method=method, url=url)
        self.request_sent = request_sent


class Timeout(TransportError):
    """Connecting or reading took longer than the configured timeout."""


class ConnectionFailed(TransportError):
    """The connection could not be made, or broke before a full answer arrived."""


class OutcomeUnknown(ZeroTouchError):
    """A state-changing call failed after its request may have reached the server.

    The server may or may not have carried it out. Do not submit it again blindly: read the state
    (the device, the customer list, or the operation) and decide from what the API reports. ``cause``
    is the last error seen; ``attempts`` how many requests were sent in all.
    """

    def __init__(
        self,
        *,
        cause: ZeroTouchError,
        attempts: int,
        api_method: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        self.cause = cause
        self.attempts = attempts
        what = api_method or "The request"
        super().__init__(
            f"The outcome of {what} is unknown: the request may have reached the server before it "
            f"failed ({cause}) Read the current state before submitting it again",
            api_method=api_method,
            method=method,
            url=url,
        )


# ---------------------------------------------------------------------------------------------------
# Mapping Google's error JSON to a class

_BY_STATUS: dict[str, type[ApiError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "OUT_OF_RANGE": InvalidArgument,
    "FAILED_PRECONDITION": FailedPrecondition,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "ABORTED": Conflict,
    "RESOURCE_EXHAUSTED": RateLimited,
    "INTERNAL": InternalError,
    "UNKNOWN": InternalError,
    "DATA_LOSS": InternalError,
    "UNIMPLEMENTED": Unimplemented,
    "UNAVAILABLE": Unavailable,
    "DEADLINE_EXCEEDED": Unavailable,
}

_SERVER_ERRORS = (InternalError, Unimplemented, Unavailable)

_BY_HTTP_CODE: dict[int, type[ApiError]] = {
    400: InvalidArgument,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    500: InternalError,
    501: Unimplemented,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


def error_class(http_code: int, status: str | None) -> type[ApiError]:
    """The most specific class for an error: the RPC status decides, then the HTTP code.

    The HTTP code has the last word on the two facts the retry rules hang on: a 429 is always
    ``RateLimited``, and a 5xx is always a server error whatever status a proxy put in the body.
    """
    if http_code == 429:
        return RateLimited
    by_status = _BY_STATUS.get(status or "")
    if http_code >= 500:
        if by_status in _SERVER_ERRORS:
            return by_status
        return _BY_HTTP_CODE.get(http_code, InternalError)
    if by_status is not None and by_status not in _SERVER_ERRORS and by_status is not RateLimited:
        return by_status
    return _BY_HTTP_CODE.get(http_code, ApiError)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the API sends delta-seconds; an HTTP date is also accepted)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_response(response, *, api_method: str | None = None) -> ApiError:
    """Build the typed error for a non-2xx ``requests.Response``.

    Google's body is ``{"error": {"code", "message", "status", "details"}}``; a proxy in between may
    send HTML or nothing, in which case the HTTP code and reason phrase stand in.
    """
    code = response.status_code
    status = None
    message = ""
    details: list[Mapping[str, Any]] = []
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, Mapping) and isinstance(payload.get("error"), Mapping):
        error = payload["error"]
        status = error.get("status") if isinstance(error.get("status"), str) else None
        message = str(error.get("message") or "")
        raw_details = error.get("details")
        if isinstance(raw_details, list):
            details = [item for item in raw_details if isinstance(item, Mapping)]
    if not message:
        message = response.reason or "No explanation was given"
    cls = error_class(code, status)
    return cls(
        code=code,
        status=status,
        message=message,
        details=details,
        api_method=api_method,
        method=response.request.method if response.request is not None else None,
        url=response.url,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
