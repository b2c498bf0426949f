"""Writing the device history: the one way every writer (one-device changes, batches, sync) appends
``DeviceEvent`` rows.

The history is the reports' fact table, and the reports read daily rollups of it rather than the
millions of events themselves. So the rollups are counted here, in the transaction that appends the
events: an event and its count commit together or not at all, and ``reports_rebuild`` recomputing
them from the history gives the same numbers.

``reports`` sits above ``devices`` in the layers, so this module does not import it: the reports
app registers its counting as an ``EventCounter`` when Django starts (``ReportsConfig.ready``), and
every write here calls the registered counters inside its own transaction.

Rows that several writers add to are locked by every transaction in one order, after everything
else it writes: the orders its events name (shared by the writers of the same order), the device
counts of the customers it moved devices between (``devices.store.refresh_device_counts``, shared by
the writers of the same customer), and today's rollup rows, which every writer of the day adds to,
last. One order means two writers cannot deadlock; last means a long writer (a batch's chunk of a
thousand devices) holds the rows a person's one claim also needs only for the end of its
transaction, not while it writes its devices, events and order lines.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from devices.models import DeviceEvent


@dataclass(frozen=True)
class EventCounter:
    """What keeps counts of the history, called in the transaction that changes it.

    ``add(events)`` counts newly appended events into rows that only writers of the same events meet
    at (the orders they name); ``add_daily(events)`` into the rows every writer of the day adds to
    (today's rollups), which are taken last (the order above). ``move_models(events, makes)`` moves
    counted events from the make and model they carry to ``makes`` (one (manufacturer, model) pair
    per event, in order), leaving the events as they are: ``events_fill_models`` sets them afterwards.
    """

    add: Callable[[Sequence[DeviceEvent]], None]
    add_daily: Callable[[Sequence[DeviceEvent]], None]
    move_models: Callable[[Sequence[DeviceEvent], Sequence[tuple[str, str]]], None]


_counters: list[EventCounter] = []


def event_counter_register(counter: EventCounter) -> None:
    """Count every later write with ``counter`` too (once, however often it is registered)."""
    if counter not in _counters:
        _counters.append(counter)


def _count(events: Sequence[DeviceEvent], before_daily: Callable[[], None] | None = None) -> None:
    for counter in _counters:
        counter.add(events)
    if before_daily is not None:
        before_daily()
    for counter in _counters:
        counter.add_daily(events)


_IDENTIFIER_COLUMNS = ("imei", "meid", "serial_number")
ORDER_NUMBER_LENGTH = 128


def identifier_of(device: Mapping[str, Any]) -> str:
    """The identifier a person would read out, from a cache row (or any mapping of its columns)."""
    return next((str(device[c]) for c in _IDENTIFIER_COLUMNS if device.get(c)), "")


def order_number_of(metadata: Mapping[str, Any] | None) -> str:
    return str((metadata or {}).get("ordernumber", ""))[:ORDER_NUMBER_LENGTH]


# The columns of a cached device that ``device_fields`` reads.
EVENT_COLUMNS = ("imei", "meid", "serial_number", "manufacturer", "model", "metadata")


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
    (today's counts, which every writer adds to) for as short a time as it can; a caller that also
    recounts customers' devices does that through ``events_count`` (the order above)."""
    if not events:
        return []
    for event in events:
        if not event.identifier and event.device_id is not None:
            event.identifier = str(event.device_id)
        event.identifier = event.identifier[:128]
    with transaction.atomic():
        created = DeviceEvent.objects.bulk_create(events, batch_size=500)
        if count:
            _count(created)
    return created


def events_count(events: Sequence[DeviceEvent], *, before_daily: Callable[[], None] | None = None) -> None:
    """Count events appended with ``events_record(..., count=False)`` into the rollups (the caller's
    transaction, the one that appended them). ``before_daily`` writes the caller's other shared rows
    (the customers' device counts) in their place in the order above: after the events' orders,
    before today's rollup rows."""
    _count(events, before_daily)


def events_fill_models(*, limit: int = 5000) -> int:
    """Give events that copied no make or model the ones the cache now holds for their device, and
    count them there in the reports: a device claimed by its IMEI alone, before any sync had brought
    it, is recorded without a model, which the next sync learns. Only these two descriptive copies
    change; what happened stays as it was appended. Returns how many events were filled (at most
    ``limit`` a call; beat calls it every few minutes, ``reports_rebuild`` until none is left)."""
    with transaction.atomic():
        events = list(
            DeviceEvent.objects.select_for_update(of=("self",))
            .filter(model="", manufacturer="", device__isnull=False)
            .exclude(device__model="")
            .select_related("device")
            .only(*_ROLLUP_FIELDS, "device__manufacturer", "device__model")
            .order_by("pk")[:limit]
        )
        if not events:
            return 0
        makes = [(event.device.manufacturer, event.device.model) for event in events]
        for counter in _counters:
            counter.move_models(events, makes)
        for event, (manufacturer, model) in zip(events, makes, strict=True):
            event.manufacturer, event.model = manufacturer, model
        DeviceEvent.objects.bulk_update(events, ["manufacturer", "model"], batch_size=500)
    return len(events)


# The fields the reports' rollups key an event by (reports.rollups.model_key and its siblings).
_ROLLUP_FIELDS = (
    "created_at",
    "customer_id",
    "actor_id",
    "kind",
    "source",
    "outcome",
    "failure_kind",
    "manufacturer",
    "model",
)
