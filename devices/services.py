"""Changing one device through the API: claim, unclaim, metadata, and looking a device up live.

Each action calls the API with the interactive client (a few seconds' budget and priority over batch
traffic), reads the device back so the cache shows exactly what the API holds, and writes a device
history event and an audit event, also when the API refuses. Failures come back as
``DeviceActionFailed`` carrying a sentence a salesperson can act on; when the API may have acted
before the connection failed, the sentence says the outcome is unknown and to check the device.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.contrib.auth.models import AbstractBaseUser

import zerotouch
from customers.models import Customer
from devices.cache import cache_store_devices
from devices.identifiers import IdentifierGuess, IdentifierKind
from devices.models import Device, DeviceEvent, SectionType
from portal.api import zerotouch_client
from portal.models import AuditEvent
from portal.services import audit_record


class DeviceActionFailed(Exception):
    """The API refused the change, or it could not be confirmed. ``str()`` is for the person."""

    def __init__(self, message: str, *, field: str | None = None, outcome_unknown: bool = False):
        super().__init__(message)
        self.field = field
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class ClaimRequest:
    """A validated request to claim one device (see devices.forms.ClaimForm)."""

    customer: Customer
    imei: str = ""
    meid: str = ""
    serial_number: str = ""
    manufacturer: str = ""
    model: str = ""
    chrome_os: bool = False
    chrome_os_attested_device_id: str = ""
    google_workspace_customer_id: str = ""
    pre_provisioning_token: str = ""
    section_type: str = SectionType.ZERO_TOUCH
    metadata: dict[str, str] = field(default_factory=dict)

    def identifier(self) -> zerotouch.DeviceIdentifier:
        return zerotouch.DeviceIdentifier(
            imei=self.imei or None,
            meid=self.meid or None,
            serial_number=self.serial_number or None,
            manufacturer=self.manufacturer or None,
            model=self.model or None,
            device_type="DEVICE_TYPE_CHROME_OS" if self.chrome_os else None,
            chrome_os_attested_device_id=self.chrome_os_attested_device_id or None,
        )

    @property
    def label(self) -> str:
        return self.imei or self.meid or self.serial_number


# --- Turning API failures into sentences ---------------------------------------------------------


def _transport_sentence(exc: zerotouch.ZeroTouchError, doing: str) -> DeviceActionFailed:
    if isinstance(exc, zerotouch.OutcomeUnknown):
        return DeviceActionFailed(
            f"Zero-touch did not confirm {doing}: the connection failed after the request was sent, "
            "so it may or may not have been done. Check the device's state before trying again.",
            outcome_unknown=True,
        )
    if isinstance(exc, zerotouch.ConnectionFailed):
        return DeviceActionFailed(
            f"Zero-touch could not be reached, so nothing was changed ({doing}). Try again in a minute."
        )
    if isinstance(exc, zerotouch.Timeout):
        return DeviceActionFailed(
            f"Zero-touch did not answer in time ({doing}); the change may or may not have been made. "
            "Check the device's state before trying again.",
            outcome_unknown=True,
        )
    if isinstance(exc, zerotouch.RateLimited):
        return DeviceActionFailed(
            "Zero-touch is busy (the request quota is used up for now); nothing was changed. "
            "Try again in a minute."
        )
    if isinstance(exc, zerotouch.Unavailable | zerotouch.InternalError):
        return DeviceActionFailed(
            f"Zero-touch had a temporary problem ({doing}); nothing was changed. Try again shortly."
        )
    if isinstance(exc, zerotouch.Unauthenticated | zerotouch.CredentialsError):
        return DeviceActionFailed("The portal's zero-touch credentials were refused. Tell an administrator.")
    if isinstance(exc, zerotouch.PermissionDenied):
        return DeviceActionFailed("Zero-touch says this reseller may not change this device.")
    if isinstance(exc, zerotouch.ApiError):
        return DeviceActionFailed(f"Zero-touch refused it: {exc.message}")
    return DeviceActionFailed(f"Zero-touch could not be used ({doing}): {exc}")


_FIELD_WORDS = (
    ("imei", "imei"),
    ("meid", "meid"),
    ("serial", "serial_number"),
    ("manufacturer", "manufacturer"),
    ("model", "model"),
    ("customer", "customer"),
)


def _field_of(message: str) -> str | None:
    lowered = message.lower()
    return next((name for word, name in _FIELD_WORDS if word in lowered), None)


def _customer_label(company_id: int | None) -> str:
    if company_id is None:
        return "another customer"
    customer = Customer.objects.filter(pk=company_id).first()
    return f"{customer.name} (id {company_id})" if customer else f"customer id {company_id}"


def _explain_claim_refusal(
    client: zerotouch.Client, request: ClaimRequest, exc: zerotouch.ApiError
) -> DeviceActionFailed:
    """Why a claim was refused, read from the device's current state rather than the error's wording."""
    if isinstance(exc, zerotouch.InvalidArgument):
        return DeviceActionFailed(
            f"Zero-touch refused the device details: {exc.message}", field=_field_of(exc.message)
        )
    if isinstance(exc, zerotouch.FailedPrecondition | zerotouch.Conflict | zerotouch.PermissionDenied):
        try:
            found = next(
                iter(client.devices_find_by_identifier(identifier=request.identifier(), page_size=1)), None
            )
        except zerotouch.ZeroTouchError:
            found = None
        claim = found.claim_for(request.section_type) if found else None
        if claim is not None and claim.reseller_id and claim.reseller_id != client.partner_id:
            return DeviceActionFailed(
                "This device is claimed by another reseller. Only that reseller can unclaim it."
            )
        if (
            claim is not None
            and claim.owner_company_id
            and int(claim.owner_company_id) != request.customer.company_id
        ):
            if found is not None:
                cache_store_devices([found])
            return DeviceActionFailed(
                "This device is claimed by another customer, "
                f"{_customer_label(int(claim.owner_company_id))}. Unclaim it there first."
            )
        return DeviceActionFailed(f"Zero-touch refused the claim: {exc.message}")
    return _transport_sentence(exc, "the claim")


# --- History and audit ---------------------------------------------------------------------------


def _record(
    *,
    actor: AbstractBaseUser,
    action: str,
    device_id: int | None,
    label: str,
    outcome: str,
    details: dict,
    kind: str | None = None,
    customer_id: int | None = None,
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target_type="device",
        target_id=str(device_id or ""),
        target_label=label,
        outcome=outcome,
        details=details,
    )
    if kind and device_id is not None and Device.objects.filter(device_id=device_id).exists():
        DeviceEvent.objects.create(
            device_id=device_id,
            kind=kind,
            source=DeviceEvent.Source.UI,
            actor=actor,
            customer_id=customer_id,
            details=details,
        )


def _failure_outcome(failure: DeviceActionFailed) -> str:
    return AuditEvent.Outcome.UNKNOWN if failure.outcome_unknown else AuditEvent.Outcome.FAILURE


def _read_back(client: zerotouch.Client, device_id: int | str) -> Device:
    cache_store_devices([client.devices_get(device_id=device_id)])
    return Device.objects.select_related("owner").get(device_id=int(device_id))


# --- Actions -------------------------------------------------------------------------------------


def device_claim(*, actor: AbstractBaseUser, request: ClaimRequest) -> Device:
    """Claim one device for a customer (``devices.claim``), then cache what the API holds.

    Claiming a device already claimed for the same customer succeeds and changes nothing. A device
    claimed for another customer is refused, and the message names that customer.
    """
    client = zerotouch_client(interactive=True)
    details = {"customer": request.customer.company_id, "identifier": request.label, **request.metadata}
    cached = Device.objects.filter(imei=request.imei).first() if request.imei else None
    record = partial(
        _record,
        actor=actor,
        action="device.claim",
        label=request.label,
        customer_id=request.customer.company_id,
    )
    try:
        if request.chrome_os:
            result = client.devices_claim(
                identifier=request.identifier(),
                google_workspace_customer_id=request.google_workspace_customer_id,
                pre_provisioning_token=request.pre_provisioning_token or None,
                section_type=request.section_type,
                metadata=request.metadata or None,
            )
        else:
            result = client.devices_claim(
                identifier=request.identifier(),
                customer_id=request.customer.company_id,
                section_type=request.section_type,
                metadata=request.metadata or None,
            )
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.ApiError):
            failure = _explain_claim_refusal(client, request, exc)
        else:
            failure = _transport_sentence(exc, "the claim")
        record(
            device_id=cached.device_id if cached else None,
            outcome=_failure_outcome(failure),
            kind=DeviceEvent.Kind.CLAIM_FAILED,
            details={**details, "error": str(failure)},
        )
        raise failure from exc
    try:
        device = _read_back(client, result.device_id)
    except zerotouch.ZeroTouchError:
        device = None  # claimed; the next sync or a refresh brings the cache up to date
    record(
        device_id=int(result.device_id),
        outcome=AuditEvent.Outcome.SUCCESS,
        kind=DeviceEvent.Kind.CLAIMED,
        details=details,
    )
    if device is None:
        raise DeviceActionFailed(
            "The device was claimed, but reading it back from zero-touch failed; refresh it in a moment."
        )
    return device


def device_unclaim(
    *,
    actor: AbstractBaseUser,
    device: Device,
    vacation_mode_days: int | None = None,
    vacation_mode_expire_time: datetime | None = None,
) -> Device:
    """Unclaim a device (``devices.unclaim``, by device id), optionally with vacation mode."""
    client = zerotouch_client(interactive=True)
    details = {"previous_owner": device.owner_id}
    if vacation_mode_days:
        details["vacation_mode_days"] = vacation_mode_days
    if vacation_mode_expire_time:
        details["vacation_mode_expire_time"] = vacation_mode_expire_time.isoformat()
    record = partial(
        _record,
        actor=actor,
        action="device.unclaim",
        device_id=device.device_id,
        label=str(device),
        customer_id=device.owner_id,
    )
    try:
        client.devices_unclaim(
            device_id=device.device_id,
            section_type=device.section_type or SectionType.ZERO_TOUCH,
            vacation_mode_days=vacation_mode_days,
            vacation_mode_expire_time=vacation_mode_expire_time.isoformat()
            if vacation_mode_expire_time
            else None,
        )
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.FailedPrecondition):
            failure = DeviceActionFailed(
                "Zero-touch says this device is not claimed (any more). Refresh it to see its state."
            )
        else:
            failure = _transport_sentence(exc, "the unclaim")
        record(
            outcome=_failure_outcome(failure),
            kind=DeviceEvent.Kind.UNCLAIM_FAILED,
            details={**details, "error": str(failure)},
        )
        raise failure from exc
    refreshed = _read_back(client, device.device_id)
    record(outcome=AuditEvent.Outcome.SUCCESS, kind=DeviceEvent.Kind.UNCLAIMED, details=details)
    return refreshed


def device_update_metadata(*, actor: AbstractBaseUser, device: Device, entries: dict[str, str]) -> Device:
    """Set metadata keys on a device (``devices.metadata``); an empty value removes its key."""
    client = zerotouch_client(interactive=True)
    before = {key: device.metadata.get(key, "") for key in entries}
    details = {"before": before, "after": entries}
    record = partial(
        _record,
        actor=actor,
        action="device.metadata",
        device_id=device.device_id,
        label=str(device),
        customer_id=device.owner_id,
    )
    try:
        client.devices_metadata(device_id=device.device_id, entries=entries)
    except zerotouch.ZeroTouchError as exc:
        failure = _transport_sentence(exc, "the metadata change")
        if isinstance(exc, zerotouch.InvalidArgument):
            failure = DeviceActionFailed(f"Zero-touch refused the metadata: {exc.message}")
        record(outcome=_failure_outcome(failure), details={**details, "error": str(failure)})
        raise failure from exc
    refreshed = _read_back(client, device.device_id)
    record(outcome=AuditEvent.Outcome.SUCCESS, kind=DeviceEvent.Kind.METADATA_CHANGED, details=details)
    return refreshed


def lookup_identifier(
    guess: IdentifierGuess, *, manufacturer: str = "", model: str = ""
) -> zerotouch.DeviceIdentifier:
    """The API identifier for what a person typed: an IMEI or MEID alone, or a serial number with
    the manufacturer and model it needs."""
    if guess.kind is IdentifierKind.IMEI:
        return zerotouch.DeviceIdentifier(imei=guess.value)
    if guess.kind is IdentifierKind.MEID:
        return zerotouch.DeviceIdentifier(meid=guess.value)
    return zerotouch.DeviceIdentifier(
        serial_number=guess.value, manufacturer=manufacturer or None, model=model or None
    )


def device_lookup(*, identifier: zerotouch.DeviceIdentifier) -> list[Device]:
    """Find devices in zero-touch itself (``findByIdentifier``), not in the cache, and cache them.

    For a device the cache does not know: never claimed, or claimed outside the portal since the
    last sync.
    """
    client = zerotouch_client(interactive=True)
    try:
        found = list(client.devices_find_by_identifier(identifier=identifier, page_size=20))
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.InvalidArgument):
            raise DeviceActionFailed(f"Zero-touch refused the search: {exc.message}") from exc
        raise _transport_sentence(exc, "the look-up") from exc
    cache_store_devices(found)
    return list(
        Device.objects.select_related("owner").filter(device_id__in=[int(d.device_id) for d in found])
    )


def device_refresh(*, device: Device) -> Device:
    """Read one device again from zero-touch (``devices.get``) into the cache."""
    client = zerotouch_client(interactive=True)
    try:
        return _read_back(client, device.device_id)
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.NotFound):
            raise DeviceActionFailed("Zero-touch does not know this device any more.") from exc
        raise _transport_sentence(exc, "the refresh") from exc
