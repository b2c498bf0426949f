"""A device's claims by section, as the device page shows them: the zero-touch claim and the SIM-lock
claim side by side, each with its customer, the partner that made it, since when the portal knows
it, its vacation mode and its additional service.

The cache spreads the zero-touch claim into the device's columns (``devices.store``) and keeps every
claim as the API sent it in ``Device.claims``; the SIM-lock claim is read from there. The API gives
no date for a claim, so "since" is the portal's own record of it: the newest successful claim of
that section for that customer in the device's history (a claim made outside the portal and never
seen arriving by a sync has none).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from customers.models import Customer, Vendor
from devices.models import Device, DeviceEvent, SectionType

# ``DeviceClaim.additionalService`` in words (ADDITIONAL_SERVICE_UNSPECIFIED is "none").
ADDITIONAL_SERVICES = {"DEVICE_PROTECTION": "Device Protection (Android Enterprise Essentials)"}

# The history events that start a section's claim for a customer.
_CLAIM_KINDS = {
    SectionType.ZERO_TOUCH: (
        DeviceEvent.Kind.CLAIMED,
        DeviceEvent.Kind.MOVED,
        DeviceEvent.Kind.DRIFT_CLAIMED,
    ),
    SectionType.SIM_LOCK: (DeviceEvent.Kind.SIM_LOCK_CLAIMED,),
}


@dataclass(frozen=True)
class SectionClaim:
    """One claim of a device as a person reads it. ``vendor_name`` is set when one of the reseller's
    vendors made the claim; ``since`` is None when the portal has no record of it starting."""

    section_type: str
    customer_id: int | None
    customer_name: str
    reseller_id: int | None
    vendor_name: str
    google_workspace_customer_id: str
    vacation_mode_start_time: datetime | None
    vacation_mode_expire_time: datetime | None
    additional_service: str
    since: datetime | None


@dataclass(frozen=True)
class SectionClaims:
    zero_touch: SectionClaim | None
    sim_lock: SectionClaim | None


def cached_claim(device: Device, section_type: str) -> dict | None:
    """The device's claim in ``section_type`` as the cache keeps it (the API's JSON), if it has one."""
    return _claim_in(device.claims, section_type)


def _claim_in(claims: list[dict] | None, section_type: str) -> dict | None:
    return next((claim for claim in claims or () if claim.get("sectionType") == section_type), None)


def section_owners(device_ids: Iterable[int], section_type: str) -> dict[int, int | None]:
    """Whom the cache shows holding each of these devices' claim in ``section_type`` (None: no claim
    in that section), from the claims as the API sent them; devices the cache does not hold are left
    out. A batch's pre-flight and its last check before sending ask this for their SIM-lock rows: the
    device's columns (``owner_id``) are its zero-touch claim's. One query by primary key."""
    ids = list(device_ids)
    if not ids:
        return {}
    owners = {}
    for device_id, claims in Device.objects.filter(device_id__in=ids).values_list("device_id", "claims"):
        claim = _claim_in(claims, section_type)
        owners[device_id] = _int_or_none(claim.get("ownerCompanyId")) if claim is not None else None
    return owners


def _int_or_none(value) -> int | None:
    return int(value) if value not in (None, "") else None


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _since(device: Device, section_type: str, customer_id: int | None) -> datetime | None:
    if customer_id is None:
        return None
    return (
        device.events.filter(
            kind__in=_CLAIM_KINDS[section_type],
            outcome=DeviceEvent.Outcome.SUCCEEDED,
            customer_id=customer_id,
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def _section_claim(
    device: Device,
    section_type: str,
    *,
    customer_id: int | None,
    reseller_id: int | None,
    google_workspace_customer_id: str,
    vacation_mode_start_time: datetime | None,
    vacation_mode_expire_time: datetime | None,
    additional_service: str,
) -> SectionClaim:
    customer = Customer.objects.filter(pk=customer_id).first() if customer_id is not None else None
    vendor = Vendor.objects.filter(pk=reseller_id).first() if reseller_id is not None else None
    if customer is not None:
        customer_name = customer.name
    else:
        customer_name = f"customer {customer_id}" if customer_id is not None else ""
    return SectionClaim(
        section_type=section_type,
        customer_id=customer_id,
        customer_name=customer_name,
        reseller_id=reseller_id,
        vendor_name=vendor.name if vendor else "",
        google_workspace_customer_id=google_workspace_customer_id,
        vacation_mode_start_time=vacation_mode_start_time,
        vacation_mode_expire_time=vacation_mode_expire_time,
        additional_service=""
        if additional_service in ("", "ADDITIONAL_SERVICE_UNSPECIFIED")
        else ADDITIONAL_SERVICES.get(additional_service, additional_service),
        since=_since(device, section_type, customer_id),
    )


def device_section_claims(device: Device) -> SectionClaims:
    """The device's zero-touch claim (from its columns) and SIM-lock claim (from its claims' JSON)."""
    zero_touch = sim_lock = None
    if device.is_claimed:
        zero_touch = _section_claim(
            device,
            SectionType.ZERO_TOUCH,
            customer_id=device.owner_id,
            reseller_id=device.reseller_id,
            google_workspace_customer_id=device.google_workspace_customer_id,
            vacation_mode_start_time=device.vacation_mode_start_time,
            vacation_mode_expire_time=device.vacation_mode_expire_time,
            additional_service=device.additional_service,
        )
    if (claim := cached_claim(device, SectionType.SIM_LOCK)) is not None:
        sim_lock = _section_claim(
            device,
            SectionType.SIM_LOCK,
            customer_id=_int_or_none(claim.get("ownerCompanyId")),
            reseller_id=_int_or_none(claim.get("resellerId")),
            google_workspace_customer_id=claim.get("googleWorkspaceCustomerId", ""),
            vacation_mode_start_time=_timestamp(claim.get("vacationModeStartTime")),
            vacation_mode_expire_time=_timestamp(claim.get("vacationModeExpireTime")),
            additional_service=claim.get("additionalService", ""),
        )
    return SectionClaims(zero_touch=zero_touch, sim_lock=sim_lock)
