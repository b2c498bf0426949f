"""Recording what a batch operation did to its devices: the cache and the history, in bulk.

A batch's results come from the operation's ``perDeviceStatus`` (or, after a lost answer, from the
devices' state read back), never from re-reading each device: a success means the device is now
claimed, unclaimed or annotated as asked, so the cache is written from the request itself, a chunk
at a time, with one history event per device, failed or not, whether the cache holds it or not.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import zerotouch
from devices.cache import (
    DeviceRow,
    cache_store_changed,
    cached_rows,
    new_device_row,
    refresh_device_counts,
    row_claimed,
    row_unclaimed,
    row_with_metadata,
    vendor_customer_ids,
)
from devices.history import device_fields, events_count, events_record, order_number_of
from devices.models import Device, DeviceEvent, SectionType

ACTION_KINDS = {
    "claim": DeviceEvent.Kind.CLAIMED,
    "unclaim": DeviceEvent.Kind.UNCLAIMED,
    "metadata": DeviceEvent.Kind.METADATA_CHANGED,
}


@dataclass(frozen=True)
class DeviceOutcome:
    """What became of one device of a batch."""

    identifier: zerotouch.DeviceIdentifier
    device_id: int | None
    succeeded: bool
    customer_id: int | None = None  # claims: the customer claimed for
    metadata: dict[str, str] = field(default_factory=dict)
    failure_kind: str = ""
    message: str = ""


def devices_record_batch(
    *,
    action: str,
    outcomes: Sequence[DeviceOutcome],
    actor: AbstractBaseUser | None,
    batch_id: int,
    reseller_id: int,
    section_type: str = SectionType.ZERO_TOUCH,
    vacation_mode_days: int | None = None,
    vacation_mode_until: datetime | None = None,
) -> None:
    """Write one chunk's outcomes into the cache and the device history (in the caller's transaction,
    or its own). Devices new to the cache that a claim registered are added from their identifier.

    A metadata change's history says what each key held before, from the cache as it was, as the
    one-device edit does; an event copies the device's make and model from the cache whatever the
    batch's row named it by. Unclaims in vacation mode keep the claim until the mode ends."""
    now = timezone.now()
    if vacation_mode_days:
        vacation_mode_until = now + timedelta(days=vacation_mode_days)
    vacation = {}
    if vacation_mode_days:
        vacation["vacation_mode_days"] = vacation_mode_days
    elif vacation_mode_until:
        vacation["vacation_mode_expire_time"] = vacation_mode_until.isoformat()
    with transaction.atomic():
        ids = [o.device_id for o in outcomes if o.device_id is not None]
        rows = cached_rows(ids, lock=True)
        before = {device_id: dict(row["metadata"] or {}) for device_id, row in rows.items()}
        vendor_customers = vendor_customer_ids()
        changed = []
        for outcome in outcomes:
            if not outcome.succeeded or outcome.device_id is None:
                continue
            row = rows.get(outcome.device_id)
            if row is None:
                if action != "claim":
                    continue  # nothing cached to correct; the next sync brings it
                row = new_device_row(outcome.device_id, outcome.identifier, now=now)
            if action == "claim":
                row = row_claimed(
                    row,
                    customer_id=outcome.customer_id,
                    reseller_id=reseller_id,
                    section_type=section_type,
                    metadata=outcome.metadata,
                    vendor_customers=vendor_customers,
                    now=now,
                )
            elif action == "unclaim":
                row = row_unclaimed(
                    row,
                    section_type=section_type,
                    vacation_mode_until=vacation_mode_until,
                    vendor_customers=vendor_customers,
                    now=now,
                )
            else:
                row = row_with_metadata(row, outcome.metadata, now=now)
            rows[outcome.device_id] = row
            changed.append(row)
        owners = cache_store_changed(changed, recount=False)
        held = set(Device.objects.filter(device_id__in=ids).values_list("device_id", flat=True))
        created = events_record(
            [
                DeviceEvent(
                    device_id=outcome.device_id if outcome.device_id in held else None,
                    created_at=now,
                    kind=ACTION_KINDS[action],
                    outcome=DeviceEvent.Outcome.SUCCEEDED
                    if outcome.succeeded
                    else DeviceEvent.Outcome.FAILED,
                    failure_kind=outcome.failure_kind,
                    source=DeviceEvent.Source.BATCH,
                    actor=actor,
                    batch_id=batch_id,
                    customer_id=outcome.customer_id,
                    details={
                        **_details(action, outcome, before.get(outcome.device_id)),
                        **(vacation if action == "unclaim" else {}),
                    },
                    **_device_fields(outcome, rows.get(outcome.device_id)),
                )
                for outcome in outcomes
            ],
            count=False,
        )
        # Last, the rows every writer adds to (the customers' device counts, today's rollups): their
        # locks are then held for the end of this transaction only, not while a chunk's devices and
        # events are written, so a person's claim made meanwhile waits milliseconds, not seconds.
        refresh_device_counts(owners)
        events_count(created)


def _device_fields(outcome: DeviceOutcome, row: DeviceRow | None) -> dict[str, str]:
    """What the event copies of its device: from the cache row when there is one, else from the
    identifier the row named. The order number the change named wins."""
    identifier = outcome.identifier
    fields = device_fields(row) or {
        "identifier": identifier.imei or identifier.meid or identifier.serial_number or "",
        "manufacturer": identifier.manufacturer or "",
        "model": identifier.model or "",
    }
    fields["order_number"] = order_number_of(outcome.metadata) or fields.get("order_number", "")
    return fields


def _details(action: str, outcome: DeviceOutcome, metadata_before: dict | None) -> dict:
    identifier = outcome.identifier
    details: dict = {"identifier": identifier.imei or identifier.meid or identifier.serial_number}
    if outcome.customer_id is not None:
        details["previous_owner" if action == "unclaim" else "customer"] = outcome.customer_id
    if action == "metadata":
        if metadata_before is not None:
            details["before"] = {key: str(metadata_before.get(key, "")) for key in outcome.metadata}
        details["after"] = dict(outcome.metadata)
    else:
        details.update(outcome.metadata)
    if outcome.message and not outcome.succeeded:
        details["error"] = outcome.message
    return details
