"""Changing one device through the API: claim, unclaim, metadata, and looking a device up live.

Each change calls the API with the interactive client (a few seconds' budget, priority over batch
traffic). An answer without error means the API made the change, so the cache is updated from what
the request and the answer tell, without reading the device again; the device history and the audit
log are written in the same transaction, which holds the device's row: of two identical requests
at once, the second finds the change already made and is recorded as "nothing to change".

A failure comes back as ``DeviceActionFailed`` carrying a sentence a salesperson can act on. When a
change may have reached the API before the connection failed (``OutcomeUnknown``), the device's
state is read first: a change found made is a success, one found not made failed, and only when the
state cannot be read does the sentence say the outcome is unknown.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

import zerotouch
from core.api import Lane, zerotouch_client
from core.outcomes import Outcome
from customers.models import Customer, Vendor
from devices.changes import Action, Intent, shows_done
from devices.claims import ClaimRequest
from devices.failures import change_failed_sentence, kind_of_error, lookup_failed_sentence
from devices.history import order_number_of
from devices.identifiers import IdentifierGuess, IdentifierKind
from devices.models import Device, DeviceEvent, FailureKind, SearchKey, SectionType
from devices.recorder import ChangeRecord, devices_record
from devices.sections import cached_claim
from devices.store import cache_store_devices


class DeviceActionFailed(Exception):
    """The API refused the change, or it could not be confirmed. ``str()`` is for the person."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        outcome_unknown: bool = False,
        kind: FailureKind = FailureKind.OTHER,
    ):
        super().__init__(message)
        self.field = field
        self.outcome_unknown = outcome_unknown
        self.kind = FailureKind.OUTCOME_UNKNOWN if outcome_unknown else kind


@dataclass(frozen=True)
class DeviceChange:
    """What a change did: the device as the cache now holds it, and whether anything changed."""

    device: Device
    changed: bool = True
    note: str = ""  # said to the person besides the result, e.g. that details will refresh


# --- History and audit ---------------------------------------------------------------------------


def _record(change: ChangeRecord, *, actor: AbstractBaseUser, client: zerotouch.Client) -> DeviceEvent:
    """Record one device's change (``devices.recorder``) as the page does: with an audit row, and a
    change the API made written into the cached row under its lock, or recorded as "nothing to
    change" when the row already shows it (a repeat: of two identical requests at once, the second
    finds the change made). A device the cache does not hold (a failed claim of a device never seen)
    is recorded too, named by the identifier the person gave; the reports count it like any other."""
    (event,) = devices_record(
        changes=[change],
        actor=actor,
        source=DeviceEvent.Source.UI,
        reseller_id=int(client.partner_id),
        audit=True,
        shown_is_no_op=True,
    )
    return event


def _record_failure(
    failure: "DeviceActionFailed", change: ChangeRecord, *, actor: AbstractBaseUser, client: zerotouch.Client
) -> None:
    _record(
        replace(
            change,
            outcome=Outcome.UNKNOWN if failure.outcome_unknown else Outcome.FAILED,
            failure_kind=failure.kind,
            details={**change.details, "error": str(failure)},
        ),
        actor=actor,
        client=client,
    )


def _apply_known_change(
    change: ChangeRecord, *, actor: AbstractBaseUser, client: zerotouch.Client
) -> DeviceChange:
    """Write a change the API confirmed into the cached device, and record it."""
    event = _record(replace(change, outcome=Outcome.SUCCEEDED, apply=True), actor=actor, client=client)
    return DeviceChange(device=_cached(change.device_id), changed=event.outcome != Outcome.NO_OP)


def _cached(device_id: int) -> Device:
    return Device.objects.select_related("owner", "owner__vendor").get(device_id=device_id)


def _read_device(client: zerotouch.Client, device_id: int) -> zerotouch.Device | None:
    """The device as the API holds it now, or None when it cannot be read."""
    try:
        return client.devices_get(device_id=device_id)
    except zerotouch.ZeroTouchError:
        return None


def _not_confirmed(exc: zerotouch.ZeroTouchError, doing: str, *, state_read: bool) -> DeviceActionFailed:
    """The failure of a change the API did not confirm and that, if ``state_read``, the device's state
    shows was not made."""
    cause = exc.cause if isinstance(exc, zerotouch.OutcomeUnknown) else exc
    lost_after_sending = isinstance(cause, zerotouch.TransportError) and cause.request_sent
    if isinstance(exc, zerotouch.OutcomeUnknown) and (lost_after_sending or not state_read):
        return DeviceActionFailed(change_failed_sentence(exc, doing), outcome_unknown=True)
    return DeviceActionFailed(change_failed_sentence(cause, doing), kind=kind_of_error(cause))


# --- Claim ---------------------------------------------------------------------------------------


def _customer_label(company_id: int | None) -> str:
    if company_id is None:
        return "another customer"
    customer = Customer.objects.filter(pk=company_id).first()
    return f"{customer.name} (id {company_id})" if customer else f"customer id {company_id}"


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


class _Unreadable(Exception):
    """The device's state could not be read from the API."""


def _found(client: zerotouch.Client, request: ClaimRequest) -> zerotouch.Device | None:
    """The device a claim names, as the API holds it now (None: the API does not know it)."""
    try:
        return next(
            iter(client.devices_find_by_identifier(identifier=request.identifier(), page_size=1)), None
        )
    except zerotouch.ZeroTouchError as exc:
        raise _Unreadable from exc


def _explain_claim_refusal(
    client: zerotouch.Client, request: ClaimRequest, exc: zerotouch.ApiError
) -> DeviceActionFailed:
    """Why a claim was refused, read from the device's current state rather than the error's wording."""
    kind = kind_of_error(exc)
    if isinstance(exc, zerotouch.InvalidArgument):
        return DeviceActionFailed(
            f"Zero-touch refused the device details: {exc.message}", field=_field_of(exc.message), kind=kind
        )
    if isinstance(exc, zerotouch.FailedPrecondition | zerotouch.Conflict | zerotouch.PermissionDenied):
        if kind == FailureKind.VENDOR_CUSTOMER:
            return DeviceActionFailed(
                "This customer belongs to a vendor: only that vendor can claim devices for it.",
                field="customer",
                kind=kind,
            )
        try:
            found = _found(client, request)
        except _Unreadable:
            found = None
        claim = found.claim_for(request.section_type) if found else None
        # The same refusals in either section; a SIM-lock claim is named as one.
        device = "This device" if request.section_type == SectionType.ZERO_TOUCH else "This device's SIM lock"
        if claim is not None and claim.reseller_id and str(claim.reseller_id) != str(client.partner_id):
            vendor = Vendor.objects.filter(pk=int(claim.reseller_id)).first()
            if vendor is not None:  # a vendor of ours: the reseller may unclaim its devices
                cache_store_devices([found])
                return DeviceActionFailed(
                    f"{device} is claimed by your vendor {vendor.name} for its customer "
                    f"{_customer_label(int(claim.owner_company_id or 0) or None)}. As its reseller you may "
                    "unclaim it (Unclaim on the device's page), then claim it here.",
                    kind=FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
                )
            return DeviceActionFailed(
                f"{device} is claimed by another reseller. Only that reseller can unclaim it.",
                kind=FailureKind.CLAIMED_BY_ANOTHER_RESELLER,
            )
        if (
            claim is not None
            and claim.owner_company_id
            and int(claim.owner_company_id) != request.customer_id
        ):
            cache_store_devices([found])  # a read of the API's state: drift, if the cache thought otherwise
            return DeviceActionFailed(
                f"{device} is claimed by another customer, "
                f"{_customer_label(int(claim.owner_company_id))}. Unclaim it there first.",
                kind=FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
            )
        return DeviceActionFailed(f"Zero-touch refused the claim: {exc.message}", kind=kind)
    return DeviceActionFailed(change_failed_sentence(exc, "the claim"), kind=kind)


def device_claim(
    *, actor: AbstractBaseUser, request: ClaimRequest, client: zerotouch.Client | None = None
) -> DeviceChange:
    """Claim one device for a customer (``devices.claim``) and record it.

    Claiming a device already claimed for the same customer succeeds at the API and changes nothing:
    it is recorded as "nothing to change" (unless new metadata came with it). A device claimed for
    another customer is refused, and the message names that customer.
    """
    client = client or zerotouch_client(lane=Lane.INTERACTIVE)
    # Through the search keys' index (the devices table has none on imei: a scan of a million rows).
    cached_id = (
        SearchKey.objects.filter(value=request.imei, kind=SearchKey.Kind.IMEI)
        .values_list("device_id", flat=True)
        .first()
        if request.imei
        else None
    )
    intent = request.intent()
    change = ChangeRecord(
        intent=intent,
        outcome=Outcome.SUCCEEDED,
        device_id=cached_id,
        label=request.label,
        details={
            "customer": request.customer_id,
            "identifier": request.label,
            **({"simlock_profile_id": request.simlock_profile_id} if request.simlock_profile_id else {}),
            **request.metadata,
        },
        order_number=order_number_of(request.metadata),
    )
    try:
        device_id = intent.send(client)
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.OutcomeUnknown):
            try:
                found, state_read = _found(client, request), True
            except _Unreadable:
                found, state_read = None, False
            if shows_done(intent, found):
                return _claimed(change, int(found.device_id), actor=actor, client=client)
            failure = _not_confirmed(exc, "the claim", state_read=state_read)
        elif isinstance(exc, zerotouch.ApiError):
            failure = _explain_claim_refusal(client, request, exc)
        else:
            failure = DeviceActionFailed(change_failed_sentence(exc, "the claim"), kind=kind_of_error(exc))
        _record_failure(failure, change, actor=actor, client=client)
        raise failure from exc
    return _claimed(change, device_id, actor=actor, client=client)


def _claimed(
    change: ChangeRecord, device_id: int, *, actor: AbstractBaseUser, client: zerotouch.Client
) -> DeviceChange:
    """Bring the cache in line with a claim the API made, and record it."""
    change = replace(change, device_id=device_id)
    if Device.objects.filter(device_id=device_id).exists():
        return _apply_known_change(change, actor=actor, client=client)
    # New to the cache: read it once for its full identifiers, else keep what the claim named.
    read = _read_device(client, device_id)
    if read is None:
        return replace(
            _apply_known_change(change, actor=actor, client=client),
            note="Zero-touch could not be read back just now; the device's other details will refresh.",
        )
    cache_store_devices([read])
    _record(change, actor=actor, client=client)
    return DeviceChange(device=_cached(device_id))


# --- Unclaim -------------------------------------------------------------------------------------


def device_unclaim(
    *,
    actor: AbstractBaseUser,
    device: Device,
    vacation_mode_days: int | None = None,
    vacation_mode_expire_time: datetime | None = None,
    section_type: str = SectionType.ZERO_TOUCH,
    client: zerotouch.Client | None = None,
) -> DeviceChange:
    """Unclaim a device's claim in one section (``devices.unclaim``, by device id), optionally with
    vacation mode. The other section's claim stays as it is: a SIM-lock claim comes and goes without
    touching the zero-touch one (and the device's owner), and the other way round.

    A device zero-touch already shows as unclaimed is recorded as "nothing to change", and the cache
    is corrected from the API.
    """
    client = client or zerotouch_client(lane=Lane.INTERACTIVE)
    section = section_type
    owner_id = device.owner_id
    if section != SectionType.ZERO_TOUCH:
        owner = (cached_claim(device, section) or {}).get("ownerCompanyId")
        owner_id = int(owner) if owner else None
    details: dict = {"previous_owner": owner_id}
    if vacation_mode_days:
        details["vacation_mode_days"] = vacation_mode_days
    if vacation_mode_expire_time:
        details["vacation_mode_expire_time"] = vacation_mode_expire_time.isoformat()
    intent = Intent(
        action=Action.UNCLAIM,
        device_id=device.device_id,
        customer_id=owner_id,
        section_type=section,
        vacation_mode_days=vacation_mode_days,
        vacation_mode_until=vacation_mode_expire_time,
    )
    change = ChangeRecord(
        intent=intent,
        outcome=Outcome.SUCCEEDED,
        device_id=device.device_id,
        label=str(device),
        details=details,
    )
    vacation = intent.vacation
    try:
        intent.send(client)
    except zerotouch.ZeroTouchError as exc:
        read = _read_device(client, device.device_id) if _worth_reading(exc) else None
        claim = read.claim_for(section) if read else None
        if read is not None and claim is None:
            # Not claimed at zero-touch: already done (a repeat, or outside the portal).
            cache_store_devices([read])
            outcome = Outcome.NO_OP
            if isinstance(exc, zerotouch.OutcomeUnknown) and not vacation:
                outcome = Outcome.SUCCEEDED  # our own request did it before the answer was lost
            _record(replace(change, outcome=outcome), actor=actor, client=client)
            return DeviceChange(device=_cached(device.device_id), changed=outcome != Outcome.NO_OP)
        if (
            isinstance(exc, zerotouch.OutcomeUnknown)
            and vacation
            and claim
            and claim.vacation_mode_expire_time
        ):
            cache_store_devices([read])
            _record(change, actor=actor, client=client)
            return DeviceChange(device=_cached(device.device_id))
        if isinstance(exc, zerotouch.FailedPrecondition):
            failure = DeviceActionFailed(
                "Zero-touch says this device is not claimed (any more). Refresh it to see its state."
                if section == SectionType.ZERO_TOUCH
                else "Zero-touch says this device has no SIM-lock claim (any more). Refresh it to see its "
                "state.",
                kind=FailureKind.NOT_CLAIMED,
            )
        else:
            failure = _not_confirmed(exc, "the unclaim", state_read=read is not None)
        _record_failure(failure, change, actor=actor, client=client)
        raise failure from exc
    return _apply_known_change(change, actor=actor, client=client)


def _worth_reading(exc: zerotouch.ZeroTouchError) -> bool:
    """Whether the device's state can tell what became of an unclaim that failed: it was not claimed
    (FAILED_PRECONDITION), or the outcome is open."""
    return isinstance(exc, zerotouch.OutcomeUnknown | zerotouch.FailedPrecondition)


# --- Metadata ------------------------------------------------------------------------------------


def device_update_metadata(
    *,
    actor: AbstractBaseUser,
    device: Device,
    entries: dict[str, str],
    client: zerotouch.Client | None = None,
) -> DeviceChange:
    """Set metadata keys on a device (``devices.metadata``); an empty value removes its key."""
    client = client or zerotouch_client(lane=Lane.INTERACTIVE)
    intent = Intent(
        action=Action.METADATA, device_id=device.device_id, customer_id=device.owner_id, metadata=entries
    )
    change = ChangeRecord(
        intent=intent,
        outcome=Outcome.SUCCEEDED,
        device_id=device.device_id,
        label=str(device),
        details={"before": {key: device.metadata.get(key, "") for key in entries}, "after": entries},
    )
    try:
        intent.send(client)
    except zerotouch.ZeroTouchError as exc:
        read = _read_device(client, device.device_id) if isinstance(exc, zerotouch.OutcomeUnknown) else None
        if read is not None and shows_done(intent, read):
            cache_store_devices([read])
            _record(change, actor=actor, client=client)
            return DeviceChange(device=_cached(device.device_id))
        if isinstance(exc, zerotouch.InvalidArgument):
            failure = DeviceActionFailed(
                f"Zero-touch refused the metadata: {exc.message}", kind=FailureKind.OTHER
            )
        else:
            failure = _not_confirmed(exc, "the metadata change", state_read=read is not None)
        _record_failure(failure, change, actor=actor, client=client)
        raise failure from exc
    return _apply_known_change(change, actor=actor, client=client)


# --- Reading devices from the API ----------------------------------------------------------------


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
    last sync (which the cache records as drift).
    """
    client = zerotouch_client(lane=Lane.INTERACTIVE)
    try:
        found = list(client.devices_find_by_identifier(identifier=identifier, page_size=20))
    except zerotouch.ZeroTouchError as exc:
        raise DeviceActionFailed(lookup_failed_sentence(exc, "the look-up"), kind=kind_of_error(exc)) from exc
    cache_store_devices(found)
    return list(
        Device.objects.select_related("owner").filter(device_id__in=[int(d.device_id) for d in found])
    )


def device_refresh(*, device: Device) -> Device:
    """Read one device again from zero-touch (``devices.get``) into the cache."""
    client = zerotouch_client(lane=Lane.INTERACTIVE)
    try:
        cache_store_devices([client.devices_get(device_id=device.device_id)])
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.NotFound):
            raise DeviceActionFailed(
                "Zero-touch does not know this device any more.", kind=FailureKind.NOT_FOUND
            ) from exc
        raise DeviceActionFailed(lookup_failed_sentence(exc, "the refresh"), kind=kind_of_error(exc)) from exc
    return _cached(device.device_id)


# --- SIM lock ------------------------------------------------------------------------------------

# ``getSimLockState``'s answers in words, said from this reseller's side.
SIM_LOCK_STATE_WORDS = {
    zerotouch.SimLockState.UNLOCKED: "Not SIM-locked",
    zerotouch.SimLockState.LOCKED_TO_PARTNER: "SIM-locked by us",
    zerotouch.SimLockState.LOCKED_TO_OTHER_PARTNER: "SIM-locked by another partner",
}


@dataclass(frozen=True)
class SimLockReading:
    """A device's SIM lock state as zero-touch answered it just now, and in words."""

    state: str
    words: str


def _identifier_of(device: Device) -> zerotouch.DeviceIdentifier:
    """The identifier zero-touch finds a cached device by: its IMEI, else its MEID, else its serial
    number with the manufacturer and model (and, for ChromeOS, the attested device id) it needs."""
    if device.imei:
        return zerotouch.DeviceIdentifier(imei=device.imei)
    if device.meid:
        return zerotouch.DeviceIdentifier(meid=device.meid)
    return zerotouch.DeviceIdentifier(
        serial_number=device.serial_number or None,
        manufacturer=device.manufacturer or None,
        model=device.model or None,
        device_type=device.device_type if device.device_type == "DEVICE_TYPE_CHROME_OS" else None,
        chrome_os_attested_device_id=device.chrome_os_attested_device_id or None,
    )


def device_sim_lock_state(*, device: Device) -> SimLockReading:
    """Ask zero-touch whether the device is SIM-locked, and by whom (``getSimLockState``).

    A read: nothing changes and nothing is recorded, so any failure only says to try again. The
    answer is not kept in the cache, which holds the claims; a vacation-mode SIM-lock claim reads as
    not locked until its vacation ends."""
    client = zerotouch_client(lane=Lane.INTERACTIVE)
    try:
        state = client.devices_get_sim_lock_state(identifier=_identifier_of(device))
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.NotFound):
            raise DeviceActionFailed(
                "Zero-touch does not know this device any more.", kind=FailureKind.NOT_FOUND
            ) from exc
        raise DeviceActionFailed(
            lookup_failed_sentence(exc, "the SIM lock look-up"), kind=kind_of_error(exc)
        ) from exc
    words = SIM_LOCK_STATE_WORDS.get(state, f"Zero-touch did not say ({state}).")
    return SimLockReading(state=state, words=words)
