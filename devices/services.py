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

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import zerotouch
from core.api import Lane, zerotouch_client
from core.audit import audit_record
from core.models import AuditEvent
from customers.models import Customer, Vendor
from devices.cache import (
    DeviceRow,
    cache_store_changed,
    cache_store_devices,
    cached_rows,
    new_device_row,
    refresh_device_counts,
    row_claimed,
    row_unclaimed,
    row_with_metadata,
    vendor_customer_ids,
)
from devices.changes import Action, Intent, shows_done
from devices.claims import ClaimRequest
from devices.failures import change_failed_sentence, kind_of_error, lookup_failed_sentence
from devices.history import device_fields, events_count, events_record, order_number_of
from devices.identifiers import IdentifierGuess, IdentifierKind
from devices.models import Device, DeviceEvent, FailureKind, SearchKey, SectionType


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

_AUDIT_OUTCOMES = {
    DeviceEvent.Outcome.SUCCEEDED: AuditEvent.Outcome.SUCCESS,
    DeviceEvent.Outcome.FAILED: AuditEvent.Outcome.FAILURE,
    DeviceEvent.Outcome.UNKNOWN: AuditEvent.Outcome.UNKNOWN,
    DeviceEvent.Outcome.NO_OP: AuditEvent.Outcome.NO_OP,
}


def _record(
    *,
    actor: AbstractBaseUser,
    kind: str,
    outcome: str,
    device_id: int | None,
    label: str,
    customer_id: int | None,
    details: dict,
    failure_kind: str = "",
    manufacturer: str = "",
    model: str = "",
    recount: Collection[int | None] = (),
) -> None:
    """One audit row and one history event, whatever the outcome. A device the cache does not hold
    (a failed claim of a device never seen) is recorded too, named by the identifier the person gave;
    the reports count it like any other. The order number the change itself named wins over the one
    the cached device carries. The device counts of the customers in ``recount`` are refreshed in
    their place among the shared rows the event is counted into (``devices.history``)."""
    action = {
        DeviceEvent.Kind.CLAIMED: "device.claim",
        DeviceEvent.Kind.UNCLAIMED: "device.unclaim",
        DeviceEvent.Kind.METADATA_CHANGED: "device.metadata",
    }[kind]
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            target_type="device",
            target_id=str(device_id or ""),
            target_label=label,
            outcome=_AUDIT_OUTCOMES[outcome],
            details=details if not failure_kind else {**details, "failure_kind": failure_kind},
        )
        row = (
            Device.objects.filter(device_id=device_id).values(*_EVENT_COLUMNS).first()
            if device_id is not None
            else None
        )
        fields = device_fields(row) or {
            "identifier": str(details.get("identifier") or label),
            "manufacturer": manufacturer,
            "model": model,
        }
        fields["order_number"] = order_number_of(details) or fields.get("order_number", "")
        event = DeviceEvent(
            device_id=device_id if row is not None else None,
            kind=kind,
            outcome=outcome,
            failure_kind=failure_kind,
            source=DeviceEvent.Source.UI,
            actor=actor,
            customer_id=customer_id,
            details=details,
            **fields,
        )
        created = events_record([event], count=False)
        events_count(created, before_daily=lambda: refresh_device_counts(recount))


_EVENT_COLUMNS = ("imei", "meid", "serial_number", "manufacturer", "model", "metadata")


def _record_failure(failure: "DeviceActionFailed", **record) -> None:
    outcome = DeviceEvent.Outcome.UNKNOWN if failure.outcome_unknown else DeviceEvent.Outcome.FAILED
    record["details"] = {**record["details"], "error": str(failure)}
    _record(outcome=outcome, failure_kind=failure.kind, **record)


def _apply_known_change(
    device_id: int,
    change: Callable[[DeviceRow, datetime], DeviceRow | None],
    *,
    record: dict,
) -> DeviceChange:
    """Apply a change the API confirmed to the cached device, under its row lock, and record it.

    ``change(row, now)`` gives the changed row, or None when the row already shows the change (a
    repeat): that is recorded as "nothing to change". The customers' device counts are refreshed
    with the event's counts, in the order every writer takes those shared rows (``devices.history``),
    so that this and a batch's chunk never each hold a row the other waits for.
    """
    now = timezone.now()
    with transaction.atomic():
        row = cached_rows([device_id], lock=True)[device_id]
        changed = change(row, now)
        owners = cache_store_changed([changed], recount=False) if changed is not None else set()
        outcome = DeviceEvent.Outcome.SUCCEEDED if changed is not None else DeviceEvent.Outcome.NO_OP
        _record(device_id=device_id, outcome=outcome, recount=owners, **record)
    return DeviceChange(device=_cached(device_id), changed=changed is not None)


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
        if claim is not None and claim.reseller_id and str(claim.reseller_id) != str(client.partner_id):
            vendor = Vendor.objects.filter(pk=int(claim.reseller_id)).first()
            if vendor is not None:  # a vendor of ours: the reseller may unclaim its devices
                cache_store_devices([found])
                return DeviceActionFailed(
                    f"This device is claimed by your vendor {vendor.name} for its customer "
                    f"{_customer_label(int(claim.owner_company_id or 0) or None)}. As its reseller you may "
                    "unclaim it (Unclaim on the device's page), then claim it here.",
                    kind=FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
                )
            return DeviceActionFailed(
                "This device is claimed by another reseller. Only that reseller can unclaim it.",
                kind=FailureKind.CLAIMED_BY_ANOTHER_RESELLER,
            )
        if (
            claim is not None
            and claim.owner_company_id
            and int(claim.owner_company_id) != request.customer_id
        ):
            cache_store_devices([found])  # a read of the API's state: drift, if the cache thought otherwise
            return DeviceActionFailed(
                "This device is claimed by another customer, "
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
    details = {"customer": request.customer_id, "identifier": request.label, **request.metadata}
    # Through the search keys' index (the devices table has none on imei: a scan of a million rows).
    cached_id = (
        SearchKey.objects.filter(value=request.imei, kind=SearchKey.Kind.IMEI)
        .values_list("device_id", flat=True)
        .first()
        if request.imei
        else None
    )
    record = {
        "actor": actor,
        "kind": DeviceEvent.Kind.CLAIMED,
        "label": request.label,
        "customer_id": request.customer_id,
        "details": details,
        "manufacturer": request.manufacturer,
        "model": request.model,
    }
    try:
        device_id = request.intent().send(client)
    except zerotouch.ZeroTouchError as exc:
        if isinstance(exc, zerotouch.OutcomeUnknown):
            try:
                found, state_read = _found(client, request), True
            except _Unreadable:
                found, state_read = None, False
            if shows_done(request.intent(), found):
                return _claimed(client, request, int(found.device_id), record)
            failure = _not_confirmed(exc, "the claim", state_read=state_read)
        elif isinstance(exc, zerotouch.ApiError):
            failure = _explain_claim_refusal(client, request, exc)
        else:
            failure = DeviceActionFailed(change_failed_sentence(exc, "the claim"), kind=kind_of_error(exc))
        _record_failure(failure, device_id=cached_id, **record)
        raise failure from exc
    return _claimed(client, request, device_id, record)


def _claimed(client: zerotouch.Client, request: ClaimRequest, device_id: int, record: dict) -> DeviceChange:
    """Bring the cache in line with a claim the API made, and record it."""
    vendor_customers = vendor_customer_ids()

    def claim(row: DeviceRow, now: datetime) -> DeviceRow | None:
        changed = row_claimed(
            row,
            customer_id=request.customer_id,
            reseller_id=int(client.partner_id),
            section_type=request.section_type,
            google_workspace_customer_id=request.google_workspace_customer_id if request.chrome_os else "",
            metadata=request.metadata,
            vendor_customers=vendor_customers,
            now=now,
        )
        same = all(changed[column] == row[column] for column in ("owner_id", "metadata", "claims"))
        return None if same else changed

    if Device.objects.filter(device_id=device_id).exists():
        return _apply_known_change(device_id, claim, record=record)
    # New to the cache: read it once for its full identifiers, else keep what the claim named.
    read = _read_device(client, device_id)
    note = ""
    if read is not None:
        cache_store_devices([read])
    else:
        now = timezone.now()
        row = claim(new_device_row(device_id, request.identifier(), now=now), now)
        cache_store_changed([row])
        note = "Zero-touch could not be read back just now; the device's other details will refresh."
    _record(device_id=device_id, outcome=DeviceEvent.Outcome.SUCCEEDED, **record)
    return DeviceChange(device=_cached(device_id), note=note)


# --- Unclaim -------------------------------------------------------------------------------------


def _vacation_until(days: int | None, until: datetime | None, now: datetime) -> datetime | None:
    if days:
        return now + timedelta(days=days)
    return until


def device_unclaim(
    *,
    actor: AbstractBaseUser,
    device: Device,
    vacation_mode_days: int | None = None,
    vacation_mode_expire_time: datetime | None = None,
    client: zerotouch.Client | None = None,
) -> DeviceChange:
    """Unclaim a device (``devices.unclaim``, by device id), optionally with vacation mode.

    A device zero-touch already shows as unclaimed is recorded as "nothing to change", and the cache
    is corrected from the API.
    """
    client = client or zerotouch_client(lane=Lane.INTERACTIVE)
    section = device.section_type or SectionType.ZERO_TOUCH
    details: dict = {"previous_owner": device.owner_id}
    if vacation_mode_days:
        details["vacation_mode_days"] = vacation_mode_days
    if vacation_mode_expire_time:
        details["vacation_mode_expire_time"] = vacation_mode_expire_time.isoformat()
    record = {
        "actor": actor,
        "kind": DeviceEvent.Kind.UNCLAIMED,
        "label": str(device),
        "customer_id": device.owner_id,
        "details": details,
    }
    intent = Intent(
        action=Action.UNCLAIM,
        device_id=device.device_id,
        customer_id=device.owner_id,
        section_type=section,
        vacation_mode_days=vacation_mode_days,
        vacation_mode_until=vacation_mode_expire_time,
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
            outcome = DeviceEvent.Outcome.NO_OP
            if isinstance(exc, zerotouch.OutcomeUnknown) and not vacation:
                outcome = DeviceEvent.Outcome.SUCCEEDED  # our own request did it before the answer was lost
            _record(device_id=device.device_id, outcome=outcome, **record)
            return DeviceChange(
                device=_cached(device.device_id), changed=outcome != DeviceEvent.Outcome.NO_OP
            )
        if (
            isinstance(exc, zerotouch.OutcomeUnknown)
            and vacation
            and claim
            and claim.vacation_mode_expire_time
        ):
            cache_store_devices([read])
            _record(device_id=device.device_id, outcome=DeviceEvent.Outcome.SUCCEEDED, **record)
            return DeviceChange(device=_cached(device.device_id))
        if isinstance(exc, zerotouch.FailedPrecondition):
            failure = DeviceActionFailed(
                "Zero-touch says this device is not claimed (any more). Refresh it to see its state.",
                kind=FailureKind.NOT_CLAIMED,
            )
        else:
            failure = _not_confirmed(exc, "the unclaim", state_read=read is not None)
        _record_failure(failure, device_id=device.device_id, **record)
        raise failure from exc

    vendor_customers = vendor_customer_ids()

    def unclaim(row: DeviceRow, now: datetime) -> DeviceRow | None:
        if not any(c.get("sectionType") == section for c in row["claims"]):
            return None
        return row_unclaimed(
            row,
            section_type=section,
            vacation_mode_until=_vacation_until(vacation_mode_days, vacation_mode_expire_time, now),
            vendor_customers=vendor_customers,
            now=now,
        )

    return _apply_known_change(device.device_id, unclaim, record=record)


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
    record = {
        "actor": actor,
        "kind": DeviceEvent.Kind.METADATA_CHANGED,
        "label": str(device),
        "customer_id": device.owner_id,
        "details": {"before": {key: device.metadata.get(key, "") for key in entries}, "after": entries},
    }
    intent = Intent(
        action=Action.METADATA, device_id=device.device_id, customer_id=device.owner_id, metadata=entries
    )
    try:
        intent.send(client)
    except zerotouch.ZeroTouchError as exc:
        read = _read_device(client, device.device_id) if isinstance(exc, zerotouch.OutcomeUnknown) else None
        if read is not None and shows_done(intent, read):
            cache_store_devices([read])
            _record(device_id=device.device_id, outcome=DeviceEvent.Outcome.SUCCEEDED, **record)
            return DeviceChange(device=_cached(device.device_id))
        if isinstance(exc, zerotouch.InvalidArgument):
            failure = DeviceActionFailed(
                f"Zero-touch refused the metadata: {exc.message}", kind=FailureKind.OTHER
            )
        else:
            failure = _not_confirmed(exc, "the metadata change", state_read=read is not None)
        _record_failure(failure, device_id=device.device_id, **record)
        raise failure from exc

    def set_metadata(row: DeviceRow, now: datetime) -> DeviceRow | None:
        changed = row_with_metadata(row, entries, now=now)
        return None if changed["metadata"] == row["metadata"] else changed

    return _apply_known_change(device.device_id, set_metadata, record=record)


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
