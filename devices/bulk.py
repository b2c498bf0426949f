"""Recording what a batch operation did to its devices: the cache and the history, in bulk.

A batch's results come from the operation's ``perDeviceStatus`` (or, after a lost answer, from the
devices' state read back), never from re-reading each device: a success means the device is now
claimed, unclaimed or annotated as asked, so the cache is written from the request itself, a chunk
at a time, with one history event per device, failed or not, whether the cache holds it or not.
"""

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

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
from devices.changes import Action, Intent, Verdict
from devices.history import device_fields, events_count, events_record, order_number_of
from devices.models import Device, DeviceEvent

ACTION_KINDS = {
    Action.CLAIM: DeviceEvent.Kind.CLAIMED,
    Action.UNCLAIM: DeviceEvent.Kind.UNCLAIMED,
    Action.METADATA: DeviceEvent.Kind.METADATA_CHANGED,
}


def devices_record_batch(
    *,
    changes: Sequence[tuple[Intent, Verdict]],
    actor: AbstractBaseUser | None,
    batch_id: int,
    reseller_id: int,
) -> None:
    """Write one chunk's changes, each with its verdict, into the cache and the device history (in the
    caller's transaction, or its own). Devices new to the cache that a claim registered are added
    from their identifier. The changes of a chunk share one action and one vacation mode.

    A metadata change's history says what each key held before, from the cache as it was, as the
    one-device edit does; an event copies the device's make and model from the cache whatever the
    batch's row named it by. Unclaims in vacation mode keep the claim until the mode ends."""
    if not changes:
        return
    now = timezone.now()
    first = changes[0][0]
    action = first.action
    vacation_until = first.vacation_mode_until
    vacation = {}
    if first.vacation_mode_days:
        vacation_until = now + timedelta(days=first.vacation_mode_days)
        vacation["vacation_mode_days"] = first.vacation_mode_days
    elif vacation_until:
        vacation["vacation_mode_expire_time"] = vacation_until.isoformat()
    with transaction.atomic():
        ids = [verdict.device_id for _, verdict in changes if verdict.device_id is not None]
        rows = cached_rows(ids, lock=True)
        before = {device_id: dict(row["metadata"] or {}) for device_id, row in rows.items()}
        vendor_customers = vendor_customer_ids()
        changed = []
        for intent, verdict in changes:
            if not verdict.succeeded or verdict.device_id is None:
                continue
            row = rows.get(verdict.device_id)
            if row is None:
                if action != Action.CLAIM:
                    continue  # nothing cached to correct; the next sync brings it
                row = new_device_row(verdict.device_id, intent.identifier, now=now)
            if action == Action.CLAIM:
                row = row_claimed(
                    row,
                    customer_id=intent.customer_id,
                    reseller_id=reseller_id,
                    section_type=intent.section_type,
                    metadata=intent.metadata,
                    vendor_customers=vendor_customers,
                    now=now,
                )
            elif action == Action.UNCLAIM:
                row = row_unclaimed(
                    row,
                    section_type=intent.section_type,
                    vacation_mode_until=vacation_until,
                    vendor_customers=vendor_customers,
                    now=now,
                )
            else:
                row = row_with_metadata(row, intent.metadata, now=now)
            rows[verdict.device_id] = row
            changed.append(row)
        owners = cache_store_changed(changed, recount=False)
        held = set(Device.objects.filter(device_id__in=ids).values_list("device_id", flat=True))
        created = events_record(
            [
                DeviceEvent(
                    device_id=verdict.device_id if verdict.device_id in held else None,
                    created_at=now,
                    kind=ACTION_KINDS[action],
                    outcome=DeviceEvent.Outcome.SUCCEEDED
                    if verdict.succeeded
                    else DeviceEvent.Outcome.FAILED,
                    failure_kind="" if verdict.succeeded else verdict.kind,
                    source=DeviceEvent.Source.BATCH,
                    actor=actor,
                    batch_id=batch_id,
                    customer_id=intent.customer_id,
                    details={
                        **_details(intent, verdict, before.get(verdict.device_id)),
                        **(vacation if action == Action.UNCLAIM else {}),
                    },
                    **_device_fields(intent, rows.get(verdict.device_id)),
                )
                for intent, verdict in changes
            ],
            count=False,
        )
        # Last, the rows other writers add to, in the order every writer takes them (``devices.history``):
        # the orders, the customers' device counts, today's rollup rows. Their locks are then held
        # for the end of this transaction only, not while a chunk's devices, events and order lines
        # are written, so a person's claim made meanwhile waits milliseconds, not seconds.
        events_count(created, before_daily=lambda: refresh_device_counts(owners))


def _device_fields(intent: Intent, row: DeviceRow | None) -> dict[str, str]:
    """What the event copies of its device: from the cache row when there is one, else from the
    identifier the row named. The order number the change named wins."""
    identifier = intent.identifier
    fields = device_fields(row) or {
        "identifier": identifier.imei or identifier.meid or identifier.serial_number or "",
        "manufacturer": identifier.manufacturer or "",
        "model": identifier.model or "",
    }
    fields["order_number"] = order_number_of(intent.metadata) or fields.get("order_number", "")
    return fields


def _details(intent: Intent, verdict: Verdict, metadata_before: dict | None) -> dict:
    identifier = intent.identifier
    details: dict = {"identifier": identifier.imei or identifier.meid or identifier.serial_number}
    if intent.customer_id is not None:
        details["previous_owner" if intent.action == Action.UNCLAIM else "customer"] = intent.customer_id
    if intent.action == Action.METADATA:
        if metadata_before is not None:
            details["before"] = {key: str(metadata_before.get(key, "")) for key in intent.metadata}
        details["after"] = dict(intent.metadata)
    else:
        details.update(intent.metadata)
    if verdict.sentence and not verdict.succeeded:
        details["error"] = verdict.sentence
    return details
