"""The devices a person has ticked on the devices page, kept in their session across pages and
searches until they start a batch with them or clear them.

Only ids are kept (a few bytes each), in the order they were ticked, at most ``SELECTION_LIMIT``:
beyond that, acting on "all devices matching this search" is the way, and it is offered beside the
results. Ids are checked against the cache when they are added, so the selection holds only devices
the cache knows.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase

from devices.models import Device

SESSION_KEY = "devices_selected"
SELECTION_LIMIT = 10_000


@dataclass(frozen=True)
class Selection:
    ids: tuple[int, ...]
    refused: int = 0  # ids not added because the selection was full

    @property
    def count(self) -> int:
        return len(self.ids)


def selection_of(session: SessionBase) -> Selection:
    value = session.get(SESSION_KEY)
    if not isinstance(value, list):
        return Selection(ids=())
    return Selection(ids=tuple(i for i in value if isinstance(i, int)))


def selection_change(
    session: SessionBase, *, add: Iterable[int] = (), remove: Iterable[int] = (), clear: bool = False
) -> Selection:
    """Tick (``add``) or untick (``remove``) devices, or start over (``clear``); devices the cache does
    not know are not added, nor any beyond ``SELECTION_LIMIT`` (counted as ``refused``)."""
    kept = [] if clear else list(selection_of(session).ids)
    gone = set(remove)
    kept = [device_id for device_id in kept if device_id not in gone]
    present = set(kept)
    wanted = [device_id for device_id in dict.fromkeys(add) if device_id not in present]
    known = set(Device.objects.filter(device_id__in=wanted).values_list("device_id", flat=True))
    refused = 0
    for device_id in wanted:
        if device_id not in known:
            continue
        if len(kept) >= SELECTION_LIMIT:
            refused += 1
            continue
        kept.append(device_id)
    if kept:
        session[SESSION_KEY] = kept
    else:
        session.pop(SESSION_KEY, None)
    return Selection(ids=tuple(kept), refused=refused)
