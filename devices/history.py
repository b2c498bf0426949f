"""Writing the device history: the one way every writer (one-device changes, batches, sync) appends
``DeviceEvent`` rows.

The history is the reports' fact table, and the reports read daily rollups of it rather than the
millions of events themselves. So the rollups are counted here, in the transaction that appends the
events: an event and its count commit together or not at all, and ``reports_rebuild`` recomputing
them from the history gives the same numbers. (The only import of ``reports`` by ``devices``.)
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from devices.models import DeviceEvent
from reports.rollups import rollups_add

_IDENTIFIER_COLUMNS = ("imei", "meid", "serial_number")
ORDER_NUMBER_LENGTH = 128


def identifier_of(device: Mapping[str, Any]) -> str:
    """The identifier a person would read out, from a cache row (or any mapping of its columns)."""
    return next((str(device[c]) for c in _IDENTIFIER_COLUMNS if device.get(c)), "")


def order_number_of(metadata: Mapping[str, Any] | None) -> str:
    return str((metadata or {}).get("ordernumber", ""))[:ORDER_NUMBER_LENGTH]


def device_fields(row: Mapping[str, Any] | None) -> dict[str, str]:
    """What an event copies from the cached device: its identifier, make, model and order number."""
    if row is None:
        return {}
    return {
        "identifier": identifier_of(row),
        "manufacturer": row.get("manufacturer") or "",
        "model": row.get("model") or "",
        "order_number": order_number_of(row.get("metadata")),
    }


def events_record(events: Sequence[DeviceEvent], *, count: bool = True) -> list[DeviceEvent]:
    """Append ``events`` to the history and count them into the reports' rollups, atomically (in the
    caller's transaction when there is one). An event without an identifier gets its device's id.

    ``count=False`` leaves the counting to the caller, who must call ``events_count`` with the result
    before its transaction ends: a long transaction does it last, to hold the rollups' shared rows
    (today's counts, which every writer adds to) for as short a time as it can."""
    if not events:
        return []
    for event in events:
        if not event.identifier and event.device_id is not None:
            event.identifier = str(event.device_id)
        event.identifier = event.identifier[:128]
    with transaction.atomic():
        created = DeviceEvent.objects.bulk_create(events, batch_size=500)
        if count:
            rollups_add(created)
    return created


def events_count(events: Sequence[DeviceEvent]) -> None:
    """Count events appended with ``events_record(..., count=False)`` into the rollups (the caller's
    transaction, the one that appended them)."""
    if events:
        rollups_add(events)
