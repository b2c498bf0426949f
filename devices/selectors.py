"""Reads of the device cache: search and paging that stay fast at millions of devices.

Every search is one indexed query. Paging is keyset paging (the cursor carries the last row's sort
key), never OFFSET, so page 1,000 costs what page 1 costs; nothing here counts the device table.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Q, QuerySet

from devices.identifiers import IdentifierGuess, detect_identifier
from devices.models import Device, SearchKey

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# The highest code point: every string that starts with a prefix sorts below prefix + this.
_PREFIX_END = "\U0010ffff"


class InvalidCursor(ValueError):
    """The page cursor was not one this module made (edited by hand, or from an older release)."""


@dataclass(frozen=True)
class DeviceFilters:
    """What a person narrowed the device list by. Empty fields do not filter."""

    text: str = ""
    customer_id: int | None = None
    manufacturer: str = ""
    model: str = ""
    claimed: bool | None = None
    vendor_devices: bool | None = None  # True: only vendors' customers; False: only own customers


@dataclass
class DevicePage:
    devices: list[Device]
    next_cursor: str | None
    matched: dict[int, str] = field(default_factory=dict)  # device id -> the search key kind that matched
    guess: IdentifierGuess | None = None


SORTS = {
    "device_id": ("device_id", False),
    "-device_id": ("device_id", True),
    "model": ("model", False),
    "-model": ("model", True),
}


def encode_cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor("This page link is not valid any more; start the search again.") from exc
    if not isinstance(values, list) or len(values) != 2 or not isinstance(values[1], int):
        raise InvalidCursor("This page link is not valid any more; start the search again.")
    return values


def _device_filter_q(filters: DeviceFilters, prefix: str = "") -> Q:
    """The non-text filters as one Q, on Device (prefix "") or through a relation ("device__")."""
    q = Q()
    if filters.customer_id is not None:
        q &= Q(**{f"{prefix}owner_id": filters.customer_id})
    if filters.manufacturer:
        q &= Q(**{f"{prefix}manufacturer": filters.manufacturer})
    if filters.model:
        q &= Q(**{f"{prefix}model": filters.model})
    if filters.claimed is not None:
        q &= Q(**{f"{prefix}owner__isnull": not filters.claimed})
    if filters.vendor_devices is not None:
        q &= Q(**{f"{prefix}sold_by_vendor": filters.vendor_devices})
        if not filters.vendor_devices:
            q &= Q(**{f"{prefix}owner__isnull": False})
    return q


def search_values(text: str) -> tuple[list[str], IdentifierGuess | None]:
    """The values to look up for typed text: as typed, and as the identifier rules normalize it."""
    stripped = text.strip()
    if not stripped:
        return [], None
    guess = detect_identifier(stripped)
    values = [stripped]
    if guess.value and guess.value != stripped:
        values.append(guess.value)
    return values, guess


def device_search(
    filters: DeviceFilters,
    *,
    sort: str = "device_id",
    cursor: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> DevicePage:
    """One page of devices matching ``filters``.

    With text, the text is a prefix of any identifier (IMEI in either slot, MEID, serial) or of an
    order or phone number, and results come in identifier order; without, devices come in ``sort``
    order. ``cursor`` is the ``next_cursor`` of the previous page.
    """
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    if filters.text.strip():
        return _search_by_key(filters, cursor=cursor, page_size=page_size)
    return _browse(filters, sort=sort, cursor=cursor, page_size=page_size)


def _search_by_key(filters: DeviceFilters, *, cursor: str | None, page_size: int) -> DevicePage:
    values, guess = search_values(filters.text)
    after = decode_cursor(cursor) if cursor else None
    matches = Q()
    for value in values:
        lower = value
        if after is not None and after[0] > lower:
            lower = after[0]  # start the index range at the cursor, not at the prefix
        matches |= Q(value__gte=lower, value__lt=value + _PREFIX_END)
    keys: QuerySet[SearchKey] = SearchKey.objects.filter(matches).filter(
        _device_filter_q(filters, "device__")
    )
    if after is not None:
        keys = keys.filter(Q(value__gt=after[0]) | Q(value=after[0], device_id__gt=after[1]))
    rows = list(
        keys.select_related("device", "device__owner").order_by("value", "device_id")[: page_size + 1]
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    devices: list[Device] = []
    matched: dict[int, str] = {}
    for key in rows:
        if key.device_id not in matched:  # a device whose IMEI and IMEI2 both match shows once
            matched[key.device_id] = key.kind
            devices.append(key.device)
    next_cursor = encode_cursor(rows[-1].value, rows[-1].device_id) if more else None
    return DevicePage(devices=devices, next_cursor=next_cursor, matched=matched, guess=guess)


def _pinned_columns(filters: DeviceFilters) -> list[str]:
    """Columns the filters fix to one value, in the order of an index that ends with device_id.

    Ordering by them before device_id gives the same order (they are constant) but lets the database
    walk that index. Ordered by device_id alone, a planner may scan the primary key and filter,
    which is slow when matching devices are not spread evenly (a big customer's block of devices).
    """
    if filters.customer_id is not None:
        return ["owner_id", "model"] if filters.model else ["owner_id"]
    if filters.claimed is False:
        return ["owner_id"]  # IS NULL: one value for the (owner, device_id) index
    if filters.model:
        return ["manufacturer", "model"] if filters.manufacturer else ["model"]
    if filters.vendor_devices is not None:
        return ["sold_by_vendor"]
    return []


def _browse(filters: DeviceFilters, *, sort: str, cursor: str | None, page_size: int) -> DevicePage:
    column, descending = SORTS.get(sort, SORTS["device_id"])
    devices = Device.objects.filter(_device_filter_q(filters)).select_related("owner")
    if cursor:
        last_value, last_id = decode_cursor(cursor)
        beyond = "lt" if descending else "gt"
        if column == "device_id":
            devices = devices.filter(**{f"device_id__{beyond}": last_id})
        else:
            devices = devices.filter(
                Q(**{f"{column}__{beyond}": last_value})
                | Q(**{column: last_value, f"device_id__{beyond}": last_id})
            )
    columns = [*_pinned_columns(filters), "device_id"] if column == "device_id" else [column, "device_id"]
    order = [f"-{name}" if descending else name for name in columns]
    rows = list(devices.order_by(*order)[: page_size + 1])
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_cursor = encode_cursor(getattr(rows[-1], column), rows[-1].device_id) if more else None
    return DevicePage(devices=rows, next_cursor=next_cursor)


def bounded_count(queryset: QuerySet, cap: int = 1000) -> tuple[int, bool]:
    """Count up to ``cap`` rows: (count, more_than_cap). Never scans a whole large table."""
    counted = queryset[: cap + 1].count()
    return min(counted, cap), counted > cap


def device_get(device_id: int) -> Device | None:
    return Device.objects.select_related("owner", "owner__vendor").filter(device_id=device_id).first()


_MANUFACTURER_MODELS_KEY = "devices:manufacturer-models"


def manufacturer_models() -> list[tuple[str, str]]:
    """Every (manufacturer, model) pair in the cache, for the filters. Kept in Django's cache, since
    at a million devices the DISTINCT reads a whole index; forgotten when new devices arrive."""
    pairs = cache.get(_MANUFACTURER_MODELS_KEY)
    if pairs is None:
        pairs = list(
            Device.objects.order_by("manufacturer", "model").values_list("manufacturer", "model").distinct()
        )
        cache.set(_MANUFACTURER_MODELS_KEY, pairs, 3600)
    return pairs


def forget_manufacturer_models() -> None:
    cache.delete(_MANUFACTURER_MODELS_KEY)


def device_history(device: Device, *, limit: int = 100) -> list:
    """The device's most recent history, newest first, with who and which sync run."""
    return list(device.events.select_related("actor", "sync_run")[:limit])
