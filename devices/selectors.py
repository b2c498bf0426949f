"""Reads of the device cache: search and paging that stay fast at millions of devices.

Every search is one indexed query. Paging is keyset paging (the cursor carries the last row's sort
key), never OFFSET, so page 1,000 costs what page 1 costs; nothing here counts the device table.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek
from django.utils import timezone

from core.converters import MAX_ID
from core.paging import decode_cursor, encode_cursor
from customers.models import Customer
from devices.claims import METADATA_LABELS
from devices.identifiers import IdentifierGuess, detect_identifier, fold_search_text
from devices.models import Device, DeviceEvent, DeviceModel, SearchKey, SyncRun

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
COUNT_CAP = 1000  # results are counted exactly up to here, then shown as "1,000+"
CUSTOMER_COUNT_CAP = 10_000  # the same within one customer's devices (its own index range)
# The highest code point: every string that starts with a prefix sorts below prefix + this.
_PREFIX_END = "\U0010ffff"


@dataclass(frozen=True)
class DeviceFilters:
    """What a person narrowed the device list by. Empty fields do not filter."""

    text: str = ""
    customer_id: int | None = None
    manufacturer: str = ""
    model: str = ""
    claimed: bool | None = None
    vendor_devices: bool | None = None  # True: only vendors' customers; False: only own customers
    order_number: str = ""  # exactly this order number (any letter case), as an order's page names it
    device_ids: tuple[int, ...] | None = None  # only these devices (the ones a person ticked)


@dataclass
class DevicePage:
    devices: list[Device]
    next_cursor: str | None
    matched: dict[int, str] = field(default_factory=dict)  # device id -> the search key kind that matched
    guess: IdentifierGuess | None = None
    count: int | None = None  # devices matching, counted exactly up to a cap (COUNT_CAP)
    count_capped: bool = False  # more than the cap match
    prev_cursor: str | None = None  # the ``before`` of the page before this one (None: this is the first)


SORTS = {
    "device_id": ("device_id", False),
    "-device_id": ("device_id", True),
    "model": ("model", False),
    "-model": ("model", True),
}


_STALE_CURSOR = "This page link is not valid any more; start the search again."


def _decode_cursor(cursor: str, first: type) -> list:
    """The [sort value, device id] a cursor carries; ``first`` is the sort value's type (int or str)."""
    return decode_cursor(cursor, (first, int), longest_text=256, refusal=_STALE_CURSOR)


def _device_filter_q(filters: DeviceFilters, prefix: str = "") -> Q:
    """The non-text filters as one Q, on Device (prefix "") or through a relation ("device__")."""
    q = Q()
    if filters.customer_id is not None:
        q &= Q(**{f"{prefix}owner_id": filters.customer_id})
    if filters.manufacturer:
        q &= Q(**{f"{prefix}manufacturer__in": manufacturer_spellings(filters.manufacturer)})
    if filters.model:
        q &= Q(**{f"{prefix}model": filters.model})
    if filters.claimed is not None:
        q &= Q(**{f"{prefix}owner__isnull": not filters.claimed})
    if filters.order_number:
        carrying = SearchKey.objects.filter(
            kind=SearchKey.Kind.ORDER_NUMBER, value=_order_key(filters.order_number)
        )
        q &= Q(**{f"{prefix}device_id__in": carrying.values("device_id")})
    if filters.device_ids is not None:
        q &= Q(**{f"{prefix}device_id__in": filters.device_ids})
    if filters.vendor_devices is not None:
        q &= Q(**{f"{prefix}sold_by_vendor": filters.vendor_devices})
        if not filters.vendor_devices:
            q &= Q(**{f"{prefix}owner__isnull": False})
    return q


def search_values(text: str) -> tuple[list[str], IdentifierGuess | None]:
    """The values to look up for typed text, as the search keys hold them (``fold_search_text``): as
    typed, and as the identifier rules normalize it."""
    stripped = text.strip()
    if not stripped:
        return [], None
    guess = detect_identifier(stripped)
    values = [fold_search_text(stripped)]
    if guess.value and fold_search_text(guess.value) not in values:
        values.append(fold_search_text(guess.value))
    return values, guess


def device_search(
    filters: DeviceFilters,
    *,
    sort: str = "device_id",
    cursor: str | None = None,
    before: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    count_cap: int = COUNT_CAP,
) -> DevicePage:
    """One page of devices matching ``filters``.

    With text, the text is a prefix of any identifier (IMEI in either slot, MEID, serial) or of an
    order or phone number, and results come in identifier order; without, devices come in ``sort``
    order. ``cursor`` is the ``next_cursor`` of the page before; ``before``, the ``prev_cursor`` of the
    page after (the page that ends just before it; ``cursor`` wins when both are given).
    """
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    paging = _Paging(page_size=page_size, after=cursor or None, before=None if cursor else before or None)
    if filters.text.strip():
        return _search_by_key(filters, paging=paging, count_cap=count_cap)
    return _browse(filters, sort=sort, paging=paging, count_cap=count_cap)


@dataclass(frozen=True)
class _Paging:
    """Where a page starts: after the ``after`` cursor (forward), or ending before ``before``."""

    page_size: int
    after: str | None = None
    before: str | None = None

    @property
    def first(self) -> bool:
        return self.after is None and self.before is None

    def cut(self, rows: list) -> tuple[list, bool, bool]:
        """The page from ``page_size + 1`` rows fetched in the paging's direction: (rows in display
        order, a page after it exists, a page before it exists)."""
        beyond = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if self.before is not None:
            return rows[::-1], True, beyond
        return rows, beyond, self.after is not None and bool(rows)


def _search_by_key(filters: DeviceFilters, *, paging: _Paging, count_cap: int) -> DevicePage:
    values, guess = search_values(filters.text)
    after = _decode_cursor(paging.after, str) if paging.after else None
    before = _decode_cursor(paging.before, str) if paging.before else None
    matches = Q()
    for value in values:
        lower = value
        if after is not None and after[0] > lower:
            lower = after[0]  # start the index range at the cursor, not at the prefix
        within = Q(value__gte=lower, value__lt=value + _PREFIX_END)
        if before is not None:
            within &= Q(value__lte=before[0])  # end it at the cursor going backwards
        matches |= within
    keys: QuerySet[SearchKey] = SearchKey.objects.filter(matches).filter(
        _device_filter_q(filters, "device__")
    )
    order = ["value", "device_id"]
    if after is not None:
        keys = keys.filter(Q(value__gt=after[0]) | Q(value=after[0], device_id__gt=after[1]))
    if before is not None:
        keys = keys.filter(Q(value__lt=before[0]) | Q(value=before[0], device_id__lt=before[1]))
        order = ["-value", "-device_id"]
    fetched = list(keys.select_related("device", "device__owner").order_by(*order)[: paging.page_size + 1])
    rows, more_after, more_before = paging.cut(fetched)
    devices: list[Device] = []
    matched: dict[int, str] = {}
    for key in rows:
        if key.device_id not in matched:  # a device whose IMEI and IMEI2 both match shows once
            matched[key.device_id] = key.kind
            key.device.matched_kind = key.kind  # the row says what matched when its columns do not
            devices.append(key.device)
    if paging.first and not more_after:
        # The whole result is this page: nothing more to count.
        count, capped = min(len(devices), count_cap), len(devices) > count_cap
    else:
        count, capped = _count_devices_by_key(values, filters, count_cap)
    return DevicePage(
        devices=devices,
        next_cursor=encode_cursor(rows[-1].value, rows[-1].device_id) if more_after and rows else None,
        prev_cursor=encode_cursor(rows[0].value, rows[0].device_id) if more_before and rows else None,
        matched=matched,
        guess=guess,
        count=count,
        count_capped=capped,
    )


def _count_devices_by_key(values: list[str], filters: DeviceFilters, cap: int) -> tuple[int, bool]:
    """How many devices a text search finds, exactly up to ``cap``: (count, more than the cap).

    A device can match through several keys (its IMEI and IMEI2 share their first digits), so devices
    are counted, not keys: the ids of the first matching keys are read in index order (no sort, no
    aggregate over the whole range) and told apart here. A device matches one prefix through its two
    IMEIs at most (serial, order and phone numbers hardly share an IMEI's digits), so twice the cap
    in keys holds more than the cap in devices.
    """
    matches = Q()
    for value in values:
        matches |= Q(value__gte=value, value__lt=value + _PREFIX_END)
    limit = 2 * (cap + 1)
    ids = list(
        SearchKey.objects.filter(matches, _device_filter_q(filters, "device__"))
        .order_by("value", "device_id")
        .values_list("device_id", flat=True)[:limit]
    )
    found = len(set(ids))
    return min(found, cap), found > cap or len(ids) == limit


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


def _browse(filters: DeviceFilters, *, sort: str, paging: _Paging, count_cap: int) -> DevicePage:
    column, descending = SORTS.get(sort, SORTS["device_id"])
    matching = Device.objects.filter(_device_filter_q(filters))
    devices = matching.select_related("owner")
    backwards = paging.before is not None
    if paging.after or paging.before:
        last_value, last_id = _decode_cursor(
            paging.after or paging.before, int if column == "device_id" else str
        )
        beyond = "lt" if descending != backwards else "gt"
        if column == "device_id":
            devices = devices.filter(**{f"device_id__{beyond}": last_id})
        else:
            devices = devices.filter(
                Q(**{f"{column}__{beyond}": last_value})
                | Q(**{column: last_value, f"device_id__{beyond}": last_id})
            )
    columns = [*_pinned_columns(filters), "device_id"] if column == "device_id" else [column, "device_id"]
    order = [f"-{name}" if descending != backwards else name for name in columns]
    rows, more, more_before = paging.cut(list(devices.order_by(*order)[: paging.page_size + 1]))
    next_cursor = encode_cursor(getattr(rows[-1], column), rows[-1].device_id) if more and rows else None
    prev_cursor = encode_cursor(getattr(rows[0], column), rows[0].device_id) if more_before and rows else None
    if paging.first and not more:
        count, capped = min(len(rows), count_cap), len(rows) > count_cap  # the whole result is this page
    elif filters == DeviceFilters(customer_id=filters.customer_id) and filters.customer_id is not None:
        # One customer's devices, nothing else: the count its page shows, kept with every change.
        count, capped = _customer_device_count(filters.customer_id), False
    elif filters.customer_id is not None:
        count, capped = bounded_count(matching, max(count_cap, CUSTOMER_COUNT_CAP))
    else:
        count, capped = bounded_count(matching, count_cap)
    return DevicePage(
        devices=rows, next_cursor=next_cursor, prev_cursor=prev_cursor, count=count, count_capped=capped
    )


def _customer_device_count(customer_id: int) -> int:
    counted = Customer.objects.filter(pk=customer_id).values_list("device_count", flat=True).first()
    return counted or 0


class ExportRow(NamedTuple):
    """One device as the export writes it, in ``EXPORT_COLUMNS`` order."""

    device_id: int
    imei: str
    imei2: str
    meid: str
    serial: str
    manufacturer: str
    model: str
    customer: int | str  # "" when unclaimed
    customer_name: str
    ordernumber: str
    phonenumber: str
    changed: datetime | None


# The file's header: the columns a batch file reads keep the names it reads them by.
EXPORT_COLUMNS = [name.replace("_", " ") if name == "customer_name" else name for name in ExportRow._fields]
_EXPORT_FIELDS = (
    "device_id",
    "imei",
    "imei2",
    "meid",
    "serial_number",
    "manufacturer",
    "model",
    "owner_id",
    "owner__name",
    "metadata",
    "changed_at",
    "last_synced_at",
)
_EXPORT_BATCH = 2000


def device_export(filters: DeviceFilters) -> Iterator[ExportRow]:
    """Every device ``filters`` find, as rows of ``EXPORT_COLUMNS``, read a batch at a time (a million
    devices without holding them): in the page's order for a text search (identifier order),
    otherwise by device id. The identifier and customer columns are the ones a batch file reads, so
    an export can be sent back as a batch (an unclaim of a customer's devices, say)."""
    if filters.text.strip():
        batches = _export_batches_by_key(filters)
    else:
        batches = _export_batches_by_id(filters)
    for batch in batches:
        for row in batch:
            (device_id, imei, imei2, meid, serial, make, model, owner, name, metadata, changed, synced) = row
            metadata = metadata or {}
            when = changed or synced
            yield ExportRow(
                device_id,
                imei,
                imei2,
                meid,
                serial,
                make,
                model,
                owner or "",
                name or "",
                metadata.get("ordernumber", ""),
                metadata.get("phonenumber", ""),
                when,
            )


def _export_batches_by_id(filters: DeviceFilters) -> Iterator[list[tuple]]:
    order = [*_pinned_columns(filters), "device_id"]  # the pinned columns are constant: device id order
    devices = Device.objects.filter(_device_filter_q(filters)).order_by(*order).values_list(*_EXPORT_FIELDS)
    last = 0
    while batch := list(devices.filter(device_id__gt=last)[:_EXPORT_BATCH]):
        yield batch
        last = batch[-1][0]


def _export_batches_by_key(filters: DeviceFilters) -> Iterator[list[tuple]]:
    values, _ = search_values(filters.text)
    matches = Q()
    for value in values:
        matches |= Q(value__gte=value, value__lt=value + _PREFIX_END)
    keys = (
        SearchKey.objects.filter(matches, _device_filter_q(filters, "device__"))
        .order_by("value", "device_id")
        .values_list("value", "device_id")
    )
    seen: set[int] = set()  # a device found by two keys (its IMEI and IMEI2) is written once
    after = None
    while True:
        page = (
            keys
            if after is None
            else keys.filter(Q(value__gt=after[0]) | Q(value=after[0], device_id__gt=after[1]))
        )
        found = list(page[:_EXPORT_BATCH])
        if not found:
            return
        after = found[-1]
        wanted = [device_id for _, device_id in found if device_id not in seen]
        seen.update(wanted)
        rows = {
            row[0]: row for row in Device.objects.filter(device_id__in=wanted).values_list(*_EXPORT_FIELDS)
        }
        yield [rows[device_id] for device_id in wanted if device_id in rows]


@dataclass(frozen=True)
class OrderDevices:
    """The devices whose order number is one order's now, and how many each customer holds."""

    devices: list[Device]  # the first ``limit``, by customer then device id
    total: int  # all of them
    by_customer: list[tuple[str, int]]  # (the customer's name, or "Unclaimed"; devices)


def _order_key(number: str) -> str:
    return fold_search_text(number.strip())[: SearchKey._meta.get_field("value").max_length]


def order_device_counts(numbers: Iterable[str]) -> dict[str, int]:
    """How many devices carry each of these order numbers now (one grouped read of the index)."""
    keys = {number: _order_key(number) for number in numbers}
    counted = dict(
        SearchKey.objects.filter(kind=SearchKey.Kind.ORDER_NUMBER, value__in=set(keys.values()))
        .order_by()
        .values_list("value")
        .annotate(n=Count("device_id"))
    )
    return {number: counted.get(key, 0) for number, key in keys.items()}


def order_numbers_carried(text: str, *, limit: int, scan: int = 20_000) -> list[str]:
    """Order numbers that devices carry now and that start with ``text``, or have a part that does
    (any letter case), as the devices spell them, in index order: up to ``limit`` numbers, from at
    most ``scan`` search keys (an order of thousands of devices holds as many keys)."""
    value = fold_search_text(text.strip())
    if not value:
        return []
    keys = (
        SearchKey.objects.filter(
            kind__in=[SearchKey.Kind.ORDER_NUMBER, SearchKey.Kind.ORDER_PART],
            value__gte=value,
            value__lt=value + _PREFIX_END,
        )
        .order_by("value", "device_id")
        .values_list("device_id", flat=True)
    )
    found: dict[str, str] = {}  # folded number -> as the first device spells it
    ids = list(keys[:scan])
    for start in range(0, len(ids), _EXPORT_BATCH):
        batch = ids[start : start + _EXPORT_BATCH]
        spelled = dict(
            Device.objects.filter(device_id__in=batch).values_list("device_id", "metadata__ordernumber")
        )
        for device_id in batch:
            number = spelled.get(device_id)
            if isinstance(number, str) and number:
                found.setdefault(_order_key(number), number)
                if len(found) >= limit:
                    return list(found.values())
    return list(found.values())


def order_devices(number: str, *, limit: int = 500) -> OrderDevices:
    """The devices whose ``ordernumber`` metadata is ``number`` now (any letter case, as the search
    compares), found through the search keys' index: changing a device's order number moves it."""
    keys = SearchKey.objects.filter(kind=SearchKey.Kind.ORDER_NUMBER, value=_order_key(number))
    ids = list(keys.values_list("device_id", flat=True))
    found = Device.objects.filter(device_id__in=ids)
    by_name = F("owner__name").asc(nulls_last=True)  # unclaimed devices last, on any database
    held = found.values("owner_id", "owner__name").annotate(n=Count("pk")).order_by(by_name, "owner_id")
    by_customer = [
        (row["owner__name"] or str(row["owner_id"]) if row["owner_id"] else "Unclaimed", row["n"])
        for row in held
    ]
    devices = list(found.select_related("owner").order_by(by_name, "device_id")[:limit])
    return OrderDevices(devices=devices, total=len(ids), by_customer=by_customer)


def device_ids_search(text: str, *, limit: int) -> list[int]:
    """Ids of the devices the devices page's search finds for ``text`` (up to ``limit``), plus the
    device whose zero-touch id it is (Django admin's search box). The page's search walks the
    search-key index page by page."""
    found: list[int] = []
    text = text.strip()
    if text.isdigit() and int(text) <= MAX_ID:
        found.append(int(text))
    cursor = None
    while len(found) < limit:
        page = device_search(DeviceFilters(text=text), cursor=cursor, page_size=MAX_PAGE_SIZE, count_cap=1)
        found.extend(device.device_id for device in page.devices)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found[:limit]


def bounded_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Count up to ``cap`` rows: (count, more_than_cap). Never scans a whole large table."""
    counted = queryset.order_by()[: cap + 1].count()  # no ORDER BY: any cap + 1 rows will do
    return min(counted, cap), counted > cap


def device_get(device_id: int) -> Device | None:
    return Device.objects.select_related("owner", "owner__vendor").filter(device_id=device_id).first()


def owners_of(device_ids: list[int]) -> dict[int, int | None]:
    """Whom the cache shows holding each of these devices (None: unclaimed); devices it does not hold
    are left out. One query by primary key, however many ids."""
    return dict(Device.objects.filter(device_id__in=device_ids).values_list("device_id", "owner_id"))


def metadata_of(device_ids: list[int]) -> dict[int, dict]:
    """The cached metadata of these devices, by id (devices the cache does not hold are left out)."""
    return dict(Device.objects.filter(device_id__in=device_ids).values_list("device_id", "metadata"))


def manufacturer_models() -> list[tuple[str, str]]:
    """Every (manufacturer, model) pair in the cache, for the filters: a small table the cache's
    writers keep (``devices.store.remember_models``), not a DISTINCT over the devices. A manufacturer
    zero-touch holds in several spellings (``LENOVO`` and ``Lenovo``: devices report their own) is
    listed once, in the spelling ``_shown_spelling`` picks; filtering by it finds every spelling."""
    pairs = list(DeviceModel.objects.values_list("manufacturer", "model"))
    spellings: dict[str, set[str]] = {}
    for make, _ in pairs:
        spellings.setdefault(make.casefold(), set()).add(make)
    shown = {folded: _shown_spelling(names) for folded, names in spellings.items()}
    return sorted(
        {(shown[make.casefold()], model) for make, model in pairs}, key=lambda p: (p[0].casefold(), p)
    )


def _shown_spelling(names: set[str]) -> str:
    """Of one manufacturer's spellings, the one a person reads most easily: not all capitals when
    another exists ("Lenovo" rather than "LENOVO"), then the first in order."""
    return min(names, key=lambda name: (name.isupper() and len(names) > 1, name))


def manufacturer_spellings(manufacturer: str) -> list[str]:
    """Every spelling of ``manufacturer`` the cache holds, whatever the case (at least itself)."""
    found = set(
        DeviceModel.objects.filter(manufacturer__iexact=manufacturer).values_list("manufacturer", flat=True)
    )
    return sorted(found | {manufacturer})


@dataclass(frozen=True)
class HistoryEntry:
    event: DeviceEvent
    lines: list[str]  # the event's details in words, e.g. "Order number: SO-1 → SO-2"


def device_history(device: Device, *, limit: int = 100) -> list[HistoryEntry]:
    """The device's most recent history, newest first, with who, which sync run, and details in words
    (customers by name, metadata keys by their labels)."""
    events = list(device.events.select_related("actor", "sync_run")[:limit])
    customer_ids = {
        value
        for event in events
        for key, value in event.details.items()
        if key in _CUSTOMER_KEYS and isinstance(value, int)
    }
    names = dict(Customer.objects.filter(pk__in=customer_ids).values_list("pk", "name"))
    return [HistoryEntry(event=event, lines=_event_lines(event, names)) for event in events]


_CUSTOMER_KEYS = {
    "customer": "Customer",
    "owner": "Customer",
    "previous_owner": "Previous customer",
    "move_to": "Moving to",
}


def _customer_words(value, names: dict[int, str]) -> str:
    if value in (None, ""):
        return "none"
    name = names.get(value) if isinstance(value, int) else None
    return f"{name} ({value})" if name else f"customer {value}"


def _metadata_label(key: str) -> str:
    return METADATA_LABELS.get(key, key)


def _event_lines(event: DeviceEvent, names: dict[int, str]) -> list[str]:
    """An event's details in words. A move says where from and where to in one line ("Moved from
    Riverside (501) to Pioneer (502)"); an unclaim that a move's failed claim left standing says so."""
    details = event.details
    first, skip = [], set()
    if event.kind == DeviceEvent.Kind.MOVED:
        route = (
            f"from {_customer_words(details.get('previous_owner'), names)} "
            f"to {_customer_words(details.get('customer'), names)}"
        )
        first.append(
            f"Moved {route}" if event.outcome == DeviceEvent.Outcome.SUCCEEDED else f"Not moved {route}"
        )
        skip = {"previous_owner", "customer"}
    elif "move_to" in details:
        first.append(
            f"Part of a move to {_customer_words(details['move_to'], names)}, whose claim failed: the "
            "device was left unclaimed."
        )
        skip = {"move_to"}
    return first + _detail_lines({k: v for k, v in details.items() if k not in skip}, names)


def _detail_lines(details: dict, names: dict[int, str]) -> list[str]:
    lines = []
    before, after = details.get("before"), details.get("after")
    for key, value in details.items():
        if key in ("before", "after", "failure_kind", "error"):
            continue
        if key in _CUSTOMER_KEYS:
            lines.append(f"{_CUSTOMER_KEYS[key]}: {_customer_words(value, names)}")
        elif key == "identifier":
            lines.append(f"Identifier: {value}")
        elif key == "vacation_mode_days":
            lines.append(f"Vacation mode: {value} day{'s' if value != 1 else ''}")
        elif key == "vacation_mode_expire_time":
            lines.append(f"Vacation mode until {str(value)[:16].replace('T', ' ')}")
        elif key == "simlock_profile_id":
            lines.append(f"SIM-lock profile: {value}")
        else:
            lines.append(f"{_metadata_label(key)}: {value}")
    if isinstance(after, dict):
        for key, value in after.items():
            was = (before or {}).get(key, "")
            lines.append(f"{_metadata_label(key)}: {was or '(none)'} → {value or '(removed)'}")
    if details.get("error"):
        lines.append(str(details["error"]))
    return lines


# --- A customer's devices, for the customer pages (customers.device_reads) ----------------------

# The history's kinds that claimed a device for the event's customer: a claim, and a move to it (the
# customer it left sees the move in its device count, not as an unclaim). The reports count the same.
CLAIM_KINDS = (DeviceEvent.Kind.CLAIMED, DeviceEvent.Kind.MOVED)


def customer_last_claim() -> Subquery:
    """When a device was last claimed for the customer ``OuterRef("pk")``, as an annotation of
    customers: one indexed look-up per customer (history by customer, newest first). A device moved
    to the customer counts as claimed for it (``CLAIM_KINDS``)."""
    last = (
        DeviceEvent.objects.filter(customer_id=OuterRef("pk"), kind__in=CLAIM_KINDS, outcome="succeeded")
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return Subquery(last)


@dataclass(frozen=True)
class WeekClaims:
    week: object  # a date: the Monday of the week
    claims: int


def customer_claims_per_week(customer_id: int, *, weeks: int = 52) -> list[WeekClaims]:
    """Devices claimed (or moved) for the customer each week of the last year (every week, zeros
    included)."""
    today = timezone.localdate()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    counted = dict(
        DeviceEvent.objects.filter(
            customer_id=customer_id,
            kind__in=CLAIM_KINDS,
            outcome="succeeded",
            created_at__date__gte=first,
        )
        .annotate(week=TruncWeek("created_at"))
        .order_by()
        .values_list("week")
        .annotate(n=Count("pk"))
    )
    by_date = {(week.date() if hasattr(week, "date") else week): n for week, n in counted.items()}
    return [
        WeekClaims(week=first + timedelta(weeks=i), claims=by_date.get(first + timedelta(weeks=i), 0))
        for i in range(weeks)
    ]


def customer_devices(customer_id: int, *, page_size: int = 10) -> DevicePage:
    """The first devices of the customer, as the device list shows them."""
    return device_search(DeviceFilters(customer_id=customer_id), page_size=page_size)


def customer_events(customer_id: int, *, limit: int = 20) -> list[DeviceEvent]:
    """What happened lately to the customer's devices, newest first."""
    return list(
        DeviceEvent.objects.filter(customer_id=customer_id)
        .select_related("actor", "device")
        .order_by("-created_at")[:limit]
    )


# --- The sync, as people see it ------------------------------------------------------------------


@dataclass(frozen=True)
class SyncProgress:
    run: SyncRun
    customers_done: int
    customers_total: int
    time_left: timedelta | None  # at the pace of this run so far (its share of the quota)


def sync_progress(run: SyncRun) -> SyncProgress:
    """How far a run has come: customers whose devices are all read, and the time left at its pace."""
    progress = run.progress or {}
    groups = progress.get("groups") or []
    total = sum(len(group) for group in groups)
    done = len(progress.get("owners_done") or [])
    time_left = None
    elapsed = (timezone.now() - run.started_at).total_seconds()
    done_now = done - len(progress.get("owners_done_before") or [])
    if run.status == run.Status.RUNNING and done_now > 0 and total > done:
        time_left = timedelta(seconds=elapsed * (total - done) / done_now)
    return SyncProgress(run=run, customers_done=done, customers_total=total, time_left=time_left)


def sync_overview(*, recent: int = 10) -> dict:
    """The run under way (with its progress), the last finished one, and the latest runs."""
    runs = list(SyncRun.objects.order_by("-started_at", "-pk")[:recent])
    running = next((run for run in runs if run.status == SyncRun.Status.RUNNING), None)
    finished = next((run for run in runs if run.status != SyncRun.Status.RUNNING), None)
    return {
        "current": sync_progress(running) if running else None,
        "last": finished,
        "runs": runs,
    }


def claimed_count(owner_ids: Iterable[int], *, cap: int) -> int:
    """How many devices the cache shows claimed by these customers, counted up to ``cap`` (what a
    caller comparing costs needs; a customer's million devices are not counted one by one)."""
    counted, _ = bounded_count(Device.objects.filter(owner_id__in=list(owner_ids)), cap)
    return counted
