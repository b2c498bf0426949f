"""A year of invented history for the development demo, so that a manager who signs in to `make run`
finds reports to read.

Only the demo command calls this, after a sync has filled the cache from the emulator's demo state.
The history agrees with the cache: each device claimed now was claimed by a demo person on some day
of the last year (more of them lately, as a growing reseller's would), some only after a failed
attempt; a few devices were claimed and unclaimed again; a few changes were found by sync. Every
event is marked ``{"demo": true}`` in its details. Events go through ``events_record``, so the
reports' rollups and orders count them as they count real ones.
"""

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from devices.history import device_fields, events_record
from devices.models import Device, DeviceEvent, FailureKind

_COLUMNS = ("device_id", "owner_id", "imei", "meid", "serial_number", "manufacturer", "model", "metadata")
_FAILURES = [
    FailureKind.TEMPORARY,
    FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
    FailureKind.INVALID_IDENTIFIER,
    FailureKind.LIMIT_EXCEEDED,
]
_DETAILS = {"demo": True}

Kind, Outcome, Source = DeviceEvent.Kind, DeviceEvent.Outcome, DeviceEvent.Source


def demo_history(
    *, people: list[AbstractBaseUser], devices: int = 4000, seed: int = 1, now: datetime | None = None
) -> int:
    """Write the demo history for up to ``devices`` cached devices; returns the number of events."""
    rng = random.Random(seed)
    now = now or timezone.now()
    claimed = list(Device.objects.filter(owner__isnull=False).order_by("device_id").values(*_COLUMNS))
    unclaimed = list(Device.objects.filter(owner__isnull=True).order_by("device_id").values(*_COLUMNS)[:2000])
    customers = sorted({row["owner_id"] for row in claimed})
    if not claimed or not people:
        return 0
    events: list[DeviceEvent] = []

    def when() -> datetime:
        # Most claims lately: the day is drawn nearer today than a uniform draw would place it.
        return now - timedelta(days=365 * rng.random() ** 1.7, seconds=rng.randrange(86_400))

    def event(row: dict, moment: datetime, kind: str, **fields) -> DeviceEvent:
        fields.setdefault("source", Source.UI)
        fields.setdefault("actor", rng.choices(people, weights=[4, *[1] * (len(people) - 1)])[0])
        return DeviceEvent(
            device_id=row["device_id"],
            created_at=min(moment, now),
            kind=kind,
            customer_id=fields.pop("customer_id", row["owner_id"]),
            details=_DETAILS,
            **device_fields(row),
            **fields,
        )

    for row in rng.sample(claimed, min(devices, len(claimed))):
        moment = when()
        if rng.random() < 0.07:  # it took two tries
            failed_at = moment - timedelta(hours=rng.randrange(1, 72))
            events.append(
                event(
                    row, failed_at, Kind.CLAIMED, outcome=Outcome.FAILED, failure_kind=rng.choice(_FAILURES)
                )
            )
        events.append(event(row, moment, Kind.CLAIMED))
        if rng.random() < 0.1:  # an order or phone number added later
            events.append(event(row, moment + timedelta(days=rng.randrange(1, 20)), Kind.METADATA_CHANGED))
        elif rng.random() < 0.02:  # claimed at Google's portal, found by a sync
            events[-1] = event(row, moment, Kind.DRIFT_CLAIMED, source=Source.SYNC, actor=None)
    for row in rng.sample(unclaimed, min(len(unclaimed), devices // 25)):  # returned devices
        customer_id = rng.choice(customers)
        moment = when()
        events.append(event(row, moment, Kind.CLAIMED, customer_id=customer_id))
        released = moment + timedelta(days=rng.randrange(1, 60))
        events.append(event(row, released, Kind.UNCLAIMED, customer_id=customer_id))
    events.sort(key=lambda made: made.created_at)
    events_record(events)
    return len(events)
