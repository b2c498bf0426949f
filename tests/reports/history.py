"""A small, known device history for the reports' tests, written the way the portal writes it."""

from datetime import UTC, date, datetime, time

from devices.history import events_record
from devices.models import DeviceEvent


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def record(
    day: date,
    kind: str = DeviceEvent.Kind.CLAIMED,
    *,
    outcome: str = DeviceEvent.Outcome.SUCCEEDED,
    customer=None,
    actor=None,
    source: str = DeviceEvent.Source.UI,
    identifier: str = "",
    device=None,
    failure_kind: str = "",
    order_number: str = "",
    manufacturer: str = "Google",
    model: str = "Pixel 8",
    batch=None,
    hour: int = 12,
    count: int = 1,
) -> list[DeviceEvent]:
    """``count`` events alike (identifiers numbered when ``identifier`` ends with '#')."""
    events = [
        DeviceEvent(
            created_at=at(day, hour),
            kind=kind,
            outcome=outcome,
            customer=customer,
            actor=actor,
            source=source,
            identifier=identifier.replace("#", str(n)) if identifier else f"35{day:%m%d}{hour:02d}{n:07d}",
            device=device,
            failure_kind=failure_kind,
            order_number=order_number,
            manufacturer=manufacturer,
            model=model,
            batch=batch,
        )
        for n in range(count)
    ]
    return events_record(events)
