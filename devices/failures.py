"""What went wrong with a change to a device, as a kind (to group and retry by) and in words.

Two sources: an error the client raised for one call (``kind_of_error``), and one item of a batch
operation's results (``kind_of_result``: the API never fails an operation as a whole, each device has
its ``status`` and ``errorIdentifier``). Where Google names a reason (``google.rpc.ErrorInfo``) it
decides; otherwise the error's class or the per-device status does.
"""

from django.conf import settings

import zerotouch
from devices.models import FailureKind

# google.rpc.ErrorInfo reasons (and batch errorIdentifiers) that name a case precisely.
_BY_REASON = {
    "INVALID_DEVICE_IDENTIFIER": FailureKind.INVALID_IDENTIFIER,
    "IDENTIFIER_MISMATCH": FailureKind.INVALID_IDENTIFIER,
    "INVALID_SECTION_TYPE": FailureKind.SECTION_TYPE,
    "DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER": FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
    "DEVICE_CLAIMED_BY_ANOTHER_RESELLER": FailureKind.CLAIMED_BY_ANOTHER_RESELLER,
    "SECTION_NOT_YOURS": FailureKind.NOT_OURS,
    "DEVICE_NOT_CLAIMED": FailureKind.NOT_CLAIMED,
    "VENDOR_CUSTOMER": FailureKind.VENDOR_CUSTOMER,
    "DEVICE_NOT_CLAIMED_BY_PARTNER": FailureKind.NOT_OURS,
    "DEVICE_NOT_FOUND": FailureKind.NOT_FOUND,
}

# A batch item's status, when its errorIdentifier names nothing more precise.
_BY_STATUS = {
    "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER": FailureKind.INVALID_IDENTIFIER,
    "SINGLE_DEVICE_STATUS_INVALID_SECTION_TYPE": FailureKind.SECTION_TYPE,
    "SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS": FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
    "SINGLE_DEVICE_STATUS_PERMISSION_DENIED": FailureKind.NOT_OURS,
    "SINGLE_DEVICE_STATUS_INVALID_TOKEN": FailureKind.INVALID_TOKEN,
    "SINGLE_DEVICE_STATUS_REVOKED_TOKEN": FailureKind.INVALID_TOKEN,
    "SINGLE_DEVICE_STATUS_DEVICE_LIMIT_EXCEEDED": FailureKind.LIMIT_EXCEEDED,
}

# Failures that may go away on their own: a retry of the same request can succeed.
RETRYABLE = frozenset({FailureKind.TEMPORARY, FailureKind.OUTCOME_UNKNOWN})
# Failures a retry of the batch row can change: the same request may succeed later. Every other kind
# (another customer's or reseller's device, not the reseller's claim, not claimed, unknown to
# zero-touch, an invalid identifier, section type or token, a vendor's customer) would meet the same
# answer again: the row or the device's owner must change first.
RETRY_MAY_CHANGE = RETRYABLE | {FailureKind.LIMIT_EXCEEDED, FailureKind.OTHER}

# What each kind means for the person holding the device, one sentence each.
EXPLANATIONS = {
    FailureKind.INVALID_IDENTIFIER: "Zero-touch does not accept this device's identifiers; check them "
    "against the box (IMEI check digit, the manufacturer and model as the device reports them).",
    FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER: "The device is claimed for another customer; it must be "
    "unclaimed there first.",
    FailureKind.CLAIMED_BY_ANOTHER_RESELLER: "Another reseller holds the device's claim; only that "
    "reseller can unclaim it.",
    FailureKind.VENDOR_CUSTOMER: "The customer belongs to one of our vendors; only that "
    "vendor can claim devices for it.",
    FailureKind.NOT_CLAIMED: "The device is not claimed, so there is nothing to unclaim.",
    FailureKind.NOT_OURS: "The device's claim is not ours, so we may not change it.",
    FailureKind.NOT_FOUND: "Zero-touch does not know this device.",
    FailureKind.SECTION_TYPE: "The claim's section type was refused.",
    FailureKind.INVALID_TOKEN: "The ChromeOS pre-provisioning token was refused (wrong or revoked).",
    FailureKind.LIMIT_EXCEEDED: "Zero-touch refused it: a device limit was reached.",
    FailureKind.TEMPORARY: "Zero-touch had a temporary problem; nothing was changed. It can be retried.",
    FailureKind.OUTCOME_UNKNOWN: "The connection failed after the request was sent; the portal checks "
    "the device's state before trying again.",
    FailureKind.OTHER: "Zero-touch refused it.",
}


def _reason_kind(reason: str | None) -> FailureKind | None:
    return _BY_REASON.get(reason or "")


def kind_of_error(exc: zerotouch.ZeroTouchError) -> FailureKind:
    """The kind of failure an error from one API call stands for."""
    if isinstance(exc, zerotouch.OutcomeUnknown):
        return FailureKind.OUTCOME_UNKNOWN
    if isinstance(exc, zerotouch.ApiError):
        if kind := _reason_kind(exc.reason):
            return kind
        if isinstance(exc, zerotouch.RateLimited | zerotouch.Unavailable | zerotouch.InternalError):
            return FailureKind.TEMPORARY
        if isinstance(exc, zerotouch.InvalidArgument):
            return FailureKind.INVALID_IDENTIFIER
        if isinstance(exc, zerotouch.PermissionDenied):
            return FailureKind.NOT_OURS
        if isinstance(exc, zerotouch.NotFound):
            return FailureKind.NOT_FOUND
        return FailureKind.OTHER
    if isinstance(exc, zerotouch.TransportError):
        return FailureKind.TEMPORARY if not exc.request_sent else FailureKind.OUTCOME_UNKNOWN
    return FailureKind.OTHER


def kind_of_result(result: zerotouch.PerDeviceResult) -> FailureKind:
    """The kind of failure of one item of a finished batch operation (not called for successes)."""
    return _reason_kind(result.error_identifier) or _BY_STATUS.get(result.status or "", FailureKind.OTHER)


def change_failed_sentence(exc: zerotouch.ZeroTouchError, doing: str) -> str:
    """Why a change (a claim, an unclaim, a metadata change) did not happen, for the person who asked.

    An answer from the API (even an error status) means the request was handled: "nothing was
    changed". Only a request lost after it was sent leaves the outcome open.
    """
    if isinstance(exc, zerotouch.OutcomeUnknown):
        return (
            f"Zero-touch did not confirm {doing}: the connection failed after the request was sent, so it "
            "may or may not have been done. Check the device's state before trying again."
        )
    if isinstance(exc, zerotouch.Timeout) and exc.request_sent:
        return (
            f"Zero-touch did not answer in time ({doing}); the change may or may not have been made. "
            "Check the device's state before trying again."
        )
    return _answered_sentence(exc, doing, "nothing was changed")


def lookup_failed_sentence(exc: zerotouch.ZeroTouchError, doing: str) -> str:
    """Why a read (a look-up, a refresh) failed. A read changes nothing, so it never says it might."""
    if isinstance(exc, zerotouch.Timeout):
        return f"Zero-touch did not answer in time ({doing}). Try again in a moment."
    if isinstance(exc, zerotouch.InvalidArgument):
        return f"Zero-touch refused the search: {exc.message}"
    return _answered_sentence(exc, doing, "")


def _answered_sentence(exc: zerotouch.ZeroTouchError, doing: str, consequence: str) -> str:
    then = f"; {consequence}." if consequence else "."
    if isinstance(exc, zerotouch.ConnectionFailed | zerotouch.Timeout):
        return f"Zero-touch could not be reached ({doing}){then} Try again in a minute."
    if isinstance(exc, zerotouch.RateLimited):
        return f"Zero-touch is busy: the portal's request quota is used up for now ({doing}){then} " + (
            "Try again in a minute."
        )
    if isinstance(exc, zerotouch.Unavailable | zerotouch.InternalError):
        return f"Zero-touch had a temporary problem ({doing}){then} Try again shortly."
    if isinstance(exc, zerotouch.Unauthenticated | zerotouch.CredentialsError):
        return "The portal's zero-touch credentials were refused. Tell an administrator."
    if isinstance(exc, zerotouch.PermissionDenied):
        return f"Zero-touch says {settings.PORTAL_RESELLER_NAME} may not do this with this device."
    if isinstance(exc, zerotouch.ApiError):
        return f"Zero-touch refused it: {exc.message}"
    return f"Zero-touch could not be used ({doing}): {exc}"


# Why the metadata of an unclaimed device cannot be edited (the one-device page says it up front).
METADATA_NEEDS_A_CLAIM = (
    "Metadata can be set once the device is claimed: zero-touch keeps a reseller's metadata only on "
    "devices that reseller has claimed."
)
