"""Writing what the API says about devices into the cache.

Used by sync (thousands of devices a second, in batches) and by the one-device actions alike, so
the mapping from the API's Device to a cache row lives here once. Search keys are kept in step with
each device's identifiers and searchable metadata. Rows are plain dicts written with
``core.db.upsert_rows``: building model instances costs more than the database does.
"""

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

import zerotouch
from core.db import insert_rows, select_rows, upsert_rows
from customers.models import Customer
from devices.history import EVENT_COLUMNS, device_fields, events_record
from devices.models import Device, DeviceEvent, DeviceModel, SearchKey, SectionType, SyncRun

logger = logging.getLogger(__name__)

STORE_BATCH_SIZE = 2000
SEARCHABLE_METADATA = ("ordernumber", "phonenumber")
_KEY_KINDS = (
    (SearchKey.Kind.IMEI, "imei"),
    (SearchKey.Kind.IMEI2, "imei2"),
    (SearchKey.Kind.MEID, "meid"),
    (SearchKey.Kind.MEID2, "meid2"),
    (SearchKey.Kind.SERIAL, "serial_number"),
)
_IDENTIFIER_COLUMNS = tuple(column for _, column in _KEY_KINDS)
DEVICE_COLUMNS = [field.attname for field in Device._meta.concrete_fields]
# Everything but the device id, when it was first seen and the portal's own last change is refreshed
# from the API on every upsert.
_REFRESHED_COLUMNS = [
    column for column in DEVICE_COLUMNS if column not in ("device_id", "first_seen_at", "changed_at")
]

DeviceRow = dict[str, Any]


@dataclass
class StoreCounts:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    drifted: int = 0

    def add(self, other: "StoreCounts") -> None:
        self.fetched += other.fetched
        self.created += other.created
        self.updated += other.updated
        self.drifted += other.drifted


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value else None


_CLAIM_FIELDS = (
    "sectionType",
    "ownerCompanyId",
    "resellerId",
    "googleWorkspaceCustomerId",
    "vacationModeStartTime",
    "vacationModeExpireTime",
    "additionalService",
)


def _claim_json(claim: Mapping[str, Any]) -> dict:
    """A claim as the cache keeps it: the API's fields that are set, ids as strings."""
    stored = {name: claim[name] for name in _CLAIM_FIELDS if claim.get(name)}
    for name in ("ownerCompanyId", "resellerId"):
        if name in stored:
            stored[name] = str(stored[name])
    return stored


def _claim_columns(claims: list[dict], vendor_customers: set[int]) -> dict[str, Any]:
    """The columns a device's zero-touch claim is spread into, from its claims as the cache keeps them."""
    claim = next((c for c in claims if c.get("sectionType") == SectionType.ZERO_TOUCH), {})
    owner_id = _int_or_none(claim.get("ownerCompanyId"))
    return {
        "owner_id": owner_id,
        "sold_by_vendor": owner_id in vendor_customers,
        "reseller_id": _int_or_none(claim.get("resellerId")),
        "section_type": claim.get("sectionType", ""),
        "vacation_mode_start_time": _timestamp(claim.get("vacationModeStartTime")),
        "vacation_mode_expire_time": _timestamp(claim.get("vacationModeExpireTime")),
        "additional_service": claim.get("additionalService", ""),
        "google_workspace_customer_id": claim.get("googleWorkspaceCustomerId", ""),
        "claims": claims,
    }


def device_row(
    device: Mapping[str, Any], *, now: datetime, vendor_customers: set[int], sync_run_id: int | None = None
) -> DeviceRow:
    """The cache row for a device as the API's JSON gives it (``zerotouch.Device.to_json()`` for a
    typed one), its zero-touch claim spread into columns.

    ``vendor_customers``: which owners are vendors' customers (looked up once by the caller).
    """
    identifier = device.get("deviceIdentifier") or {}
    return {
        "device_id": int(device["deviceId"]),
        "imei": identifier.get("imei") or "",
        "imei2": identifier.get("imei2") or "",
        "meid": (identifier.get("meid") or "").upper(),
        "meid2": (identifier.get("meid2") or "").upper(),
        "serial_number": identifier.get("serialNumber") or "",
        "manufacturer": identifier.get("manufacturer") or "",
        "model": identifier.get("model") or "",
        "device_type": identifier.get("deviceType") or "DEVICE_TYPE_UNSPECIFIED",
        "chrome_os_attested_device_id": identifier.get("chromeOsAttestedDeviceId") or "",
        **_claim_columns([_claim_json(claim) for claim in device.get("claims") or ()], vendor_customers),
        "metadata": dict((device.get("deviceMetadata") or {}).get("entries") or {}),
        "first_seen_at": now,
        "last_synced_at": now,
        "seen_in_sync": sync_run_id,
        "changed_at": None,
    }


# Order numbers are found by any of their parts, not only from their first character: "0773100" finds
# SO-2023-0773100. A part starts after a character that is not a letter or digit, or where letters
# give way to digits or digits to letters (SO2023 → 2023); each part is kept as a key running to the
# end of the number, so a prefix range over the keys finds it like any other value. Parts shorter
# than this are not kept (a key for every "A1" would cost more than it finds).
ORDER_PART_MIN_LENGTH = 3
_KEY_MAX_LENGTH = SearchKey._meta.get_field("value").max_length


def _order_part_starts(value: str) -> str:
    """The SQL condition that a part of ``value`` (an upper-case SQL text) starts at position ``p``."""
    before, here = f"substr({value}, p - 1, 1)", f"substr({value}, p, 1)"

    def digit(c: str) -> str:
        return f"{c} BETWEEN '0' AND '9'"

    def letter(c: str) -> str:
        return f"{c} BETWEEN 'A' AND 'Z'"

    return (
        f"({digit(here)} OR {letter(here)}) AND (NOT ({digit(before)} OR {letter(before)}) "
        f"OR ({letter(before)} AND {digit(here)}) OR ({digit(before)} AND {letter(here)}))"
    )


def _search_keys_select() -> str:
    """A SELECT of (device_id, kind, value): the search keys of the stored devices whose ids are its
    parameter (``_key_parameters``), a key per non-empty identifier and per searchable metadata value
    (its first 128 characters), and one per part of the order number (``ORDER_PART_MIN_LENGTH``), in
    ASCII upper case (``fold_search_text``), so that a search finds a serial or an order number
    whatever the case it is typed in. Keys are derived by the database from the stored rows, so a key
    never disagrees with its device and no key travels from Python to the database. Names come from
    the models and kinds from this module, never from input; the ids go as a parameter."""
    quote = connection.ops.quote_name
    devices = quote(Device._meta.db_table)
    postgresql = connection.vendor == "postgresql"
    # upper() folds ASCII letters only on SQLite and under PostgreSQL's "C" collation, as
    # fold_search_text does; a locale collation would fold other letters too.
    collation = ' COLLATE "C"' if postgresql else ""
    # IMEIs are digits and MEIDs are stored in upper case already: only serials need folding.
    sources = [
        (
            kind.value,
            f"upper(d.{quote(column)}{collation})" if kind == SearchKey.Kind.SERIAL else f"d.{quote(column)}",
        )
        for kind, column in _KEY_KINDS
    ]

    def metadata(name: str) -> str:
        text = f"d.metadata ->> '{name}'" if postgresql else f"json_extract(d.metadata, '$.{name}')"
        return f"upper(substr({text}, 1, {_KEY_MAX_LENGTH}){collation})"

    for name in SEARCHABLE_METADATA:
        sources.append((name, metadata(name)))  # (kind, value's SQL)
    part = SearchKey.Kind.ORDER_PART.value
    tail = ORDER_PART_MIN_LENGTH - 1
    if postgresql:  # each device read once by its key, its values spread into rows
        pairs = ", ".join(f"('{kind}', {value})" for kind, value in sources)
        return (
            "SELECT d.device_id, k.kind, k.value FROM unnest(%s::bigint[]) AS wanted(id) "  # noqa: S608
            f"CROSS JOIN LATERAL (SELECT * FROM {devices} WHERE device_id = wanted.id LIMIT 1) AS d "
            f"CROSS JOIN LATERAL (VALUES {pairs}) AS k(kind, value) WHERE k.value <> '' "
            f"UNION ALL SELECT o.device_id, '{part}', substr(o.v, p) FROM unnest(%s::bigint[]) AS wanted(id) "
            f"CROSS JOIN LATERAL (SELECT d.device_id, {metadata('ordernumber')} AS v FROM {devices} AS d "
            "WHERE d.device_id = wanted.id LIMIT 1) AS o "
            f"CROSS JOIN LATERAL generate_series(2, length(o.v) - {tail}) AS pos(p) "
            f"WHERE {_order_part_starts('o.v')}"
        )
    wanted = "d.device_id IN (SELECT value FROM json_each(%s))"
    selects = [
        f"SELECT d.device_id, '{kind}', {value} FROM {devices} AS d WHERE {wanted} AND {value} <> ''"  # noqa: S608
        for kind, value in sources
    ]
    last = _KEY_MAX_LENGTH
    positions = f"WITH RECURSIVE pos(p) AS (SELECT 2 UNION ALL SELECT p + 1 FROM pos WHERE p < {last})"  # noqa: S608
    selects.append(
        f"SELECT o.device_id, '{part}', substr(o.v, pos.p) "  # noqa: S608
        f"FROM (SELECT d.device_id, {metadata('ordernumber')} AS v FROM {devices} AS d WHERE {wanted}) AS o "
        f"JOIN ({positions} SELECT p FROM pos) AS pos ON pos.p <= length(o.v) - {tail} "
        f"WHERE {_order_part_starts('o.v')}"
    )
    return " UNION ALL ".join(selects)


def _key_parameters(device_ids: Sequence[int]) -> list:
    """The parameters of ``_search_keys_select`` for these devices: the ids, once for each time the
    SELECT names them (twice on PostgreSQL, once per kind on SQLite)."""
    ids = list(device_ids)
    if connection.vendor == "postgresql":
        return [ids, ids]
    return [orjson.dumps(ids).decode()] * (len(_KEY_KINDS) + len(SEARCHABLE_METADATA) + 1)


def _run_with_ids(sql: str, device_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, _key_parameters(device_ids))


def derive_search_keys(device_ids: Sequence[int]) -> None:
    """Write the search keys of these stored devices (which must have none yet)."""
    if device_ids:
        keys = connection.ops.quote_name(SearchKey._meta.db_table)
        _run_with_ids(f"INSERT INTO {keys} (device_id, kind, value) {_search_keys_select()}", device_ids)


def forget_search_keys(device_ids: Sequence[int]) -> None:
    """Delete the search keys of these stored devices, found through the values they hold now: call it
    before the devices' identifiers or metadata change."""
    if device_ids:
        keys = connection.ops.quote_name(SearchKey._meta.db_table)
        _run_with_ids(
            f"DELETE FROM {keys} WHERE (device_id, kind, value) IN ({_search_keys_select()})",  # noqa: S608
            device_ids,
        )


def _key_material(row: DeviceRow) -> tuple:
    return (
        *(row[c] for c in _IDENTIFIER_COLUMNS),
        *(row["metadata"].get(n, "") for n in SEARCHABLE_METADATA),
    )


def store_device_rows(rows: Sequence[DeviceRow]) -> None:
    """Upsert whole device rows and their search keys (no history: callers write the events they mean)."""
    device_ids = [row["device_id"] for row in rows]
    forget_search_keys(device_ids)
    upsert_rows(Device, rows, unique=["device_id"], update=[*_REFRESHED_COLUMNS, "changed_at"])
    derive_search_keys(device_ids)


def refresh_device_counts(customer_ids: Iterable[int | None]) -> None:
    """Recount these customers' cached devices (``Customer.device_count``), one indexed count each:
    after a sync's group of customers, and after changes that move devices between customers.

    The customers' rows are locked (in id order) before their devices are counted: a count made
    before another writer's devices commit, and written after them, would lose them (a person's
    claim for a customer while a batch's chunk for it is being recorded). Callers that also count
    history events do this after them (``devices.history``: the order every writer takes)."""
    ids = sorted({customer_id for customer_id in customer_ids if customer_id is not None})
    if not ids:
        return
    with transaction.atomic():
        locked = list(
            Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk")
        )
        if not locked:
            return
        counts = dict(
            Device.objects.filter(owner_id__in=ids).order_by().values_list("owner_id").annotate(n=Count("pk"))
        )
        for (customer_id,) in locked:
            Customer.objects.filter(pk=customer_id).update(device_count=counts.get(customer_id, 0))


def remember_models(rows: Iterable[DeviceRow]) -> None:
    """Add the manufacturer and model pairs of these rows to the filters' list (``DeviceModel``)."""
    pairs = {(row["manufacturer"], row["model"]) for row in rows if row["manufacturer"] or row["model"]}
    if pairs:
        models = [DeviceModel(manufacturer=make, model=model) for make, model in sorted(pairs)]
        DeviceModel.objects.bulk_create(models, ignore_conflicts=True)


def forget_gone_models() -> int:
    """Drop the pairs no cached device has any more (after a full sync); each is one index probe."""
    gone = [
        pk
        for pk, make, model in DeviceModel.objects.values_list("pk", "manufacturer", "model")
        if not Device.objects.filter(manufacturer=make, model=model).exists()
    ]
    DeviceModel.objects.filter(pk__in=gone).delete()
    return len(gone)


def vendor_customer_ids() -> set[int]:
    """The customers that belong to a vendor: their devices are marked ``sold_by_vendor``."""
    return set(Customer.objects.filter(vendor__isnull=False).values_list("pk", flat=True))


def device_rows(
    devices: Iterable[Mapping[str, Any]], *, vendor_customers: set[int], sync_run_id: int | None = None
) -> Iterator[DeviceRow]:
    """Cache rows for devices (the API's JSON) as they come; no database access, so it can run in
    another thread."""
    now = timezone.now()
    for position, device in enumerate(devices, 1):
        yield device_row(device, now=now, vendor_customers=vendor_customers, sync_run_id=sync_run_id)
        if position % STORE_BATCH_SIZE == 0:
            now = timezone.now()


def cache_store_devices(
    api_devices: Iterable[zerotouch.Device], *, sync_run: SyncRun | None = None
) -> StoreCounts:
    """Upsert devices the API returned, in batches; record claims that changed outside the portal."""
    rows = device_rows(
        (api_device.to_json() for api_device in api_devices),
        vendor_customers=vendor_customer_ids(),
        sync_run_id=sync_run.pk if sync_run else None,
    )
    return cache_store_rows(rows, sync_run=sync_run)


def cache_store_rows(rows: Iterable[DeviceRow], *, sync_run: SyncRun | None = None) -> StoreCounts:
    """Upsert device rows (from ``device_rows``) in batches of ``STORE_BATCH_SIZE``.

    A device cached unclaimed or for another customer that comes back claimed gets a
    ``drift_claimed`` event: had the portal made that change, the cache would already show it.
    """
    counts = StoreCounts()
    batch: dict[int, DeviceRow] = {}
    for row in rows:
        counts.fetched += 1  # every copy counts as fetched, even a repeated one
        batch[row["device_id"]] = row  # a device repeated across pages: the last copy wins
        if len(batch) >= STORE_BATCH_SIZE:
            counts.add(_store_batch(batch, sync_run=sync_run))
            batch = {}
    if batch:
        counts.add(_store_batch(batch, sync_run=sync_run))
    return counts


def _store_batch(rows: dict[int, DeviceRow], *, sync_run: SyncRun | None) -> StoreCounts:
    """Write one batch. Devices new to the cache are inserted (the fast path: on PostgreSQL straight
    ``COPY``), known ones upserted; should another process insert one of the new devices meanwhile
    (a look-up in the UI), the batch is rolled back and written again, now knowing that device."""
    try:
        return _write_batch(rows, sync_run=sync_run)
    except IntegrityError:
        logger.info("A device of this batch was inserted by another process meanwhile; writing it again.")
        return _write_batch(rows, sync_run=sync_run)


def _newer_in_cache(stored: DeviceRow, fetched: DeviceRow) -> bool:
    changed_at = stored["changed_at"]
    if changed_at is None:
        return False
    if timezone.is_naive(changed_at):  # SQLite hands back UTC without its zone
        changed_at = changed_at.replace(tzinfo=UTC)
    return changed_at >= fetched["last_synced_at"]


def _write_batch(rows: dict[int, DeviceRow], *, sync_run: SyncRun | None) -> StoreCounts:
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # A batch is only the API's state copied: its commit need not wait for the disk. Were the
            # server to crash, the last batches would be gone together, never a batch in part, and
            # never while a later synchronous commit (the sync's progress) is kept.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        existing = {
            values["device_id"]: values
            for values in select_rows(
                Device,
                "device_id",
                list(rows),
                ["device_id", "owner_id", "metadata", "changed_at", *_IDENTIFIER_COLUMNS],
            )
        }
        # A device the portal changed after its page was read: the cache already knows better.
        for device_id in [i for i in rows if i in existing and _newer_in_cache(existing[i], rows[i])]:
            del rows[device_id], existing[device_id]
        new_rows = [row for device_id, row in rows.items() if device_id not in existing]
        old_rows = [row for device_id, row in rows.items() if device_id in existing]
        rekeyed = [row for row in old_rows if _key_material(existing[row["device_id"]]) != _key_material(row)]
        forget_search_keys([row["device_id"] for row in rekeyed])  # while the old values are stored
        insert_rows(Device, new_rows)
        # first_seen_at is not among the refreshed columns, so an existing device keeps its own.
        upsert_rows(Device, old_rows, unique=["device_id"], update=_REFRESHED_COLUMNS)
        derive_search_keys([row["device_id"] for row in (*new_rows, *rekeyed)])
        events = [
            DeviceEvent(
                device_id=row["device_id"],
                kind=DeviceEvent.Kind.DRIFT_CLAIMED,
                source=DeviceEvent.Source.SYNC,
                sync_run=sync_run,
                customer_id=row["owner_id"],
                details={"previous_owner": existing[row["device_id"]]["owner_id"], "owner": row["owner_id"]},
                **device_fields(row),
            )
            for row in old_rows
            if row["owner_id"] is not None and existing[row["device_id"]]["owner_id"] != row["owner_id"]
        ]
        events_record(events)
    remember_models(rows.values())  # a device may bring a model the filters do not list yet
    if sync_run is None:  # a look-up or a refresh; a sync recounts at the end of each group
        refresh_device_counts(
            {row["owner_id"] for row in rows.values()} | {v["owner_id"] for v in existing.values()}
        )
    # fetched is counted by the caller, which also sees the copies a batch merged
    return StoreCounts(created=len(new_rows), updated=len(old_rows), drifted=len(events))


def cache_mark_unclaimed_outside(
    *, owner_ids: Sequence[int], sync_run: SyncRun, seen_by: Sequence[int] = ()
) -> int:
    """Devices cached as claimed for ``owner_ids`` that this sync run (and the runs it carried on
    from, ``seen_by``) did not see any more: the claim is gone (unclaimed outside the portal). They
    are marked unclaimed and a drift event is written. A device the portal changed during the run is
    left alone: the run's pages were read before the portal knew better."""
    gone = list(
        Device.objects.filter(owner_id__in=owner_ids)
        .exclude(seen_in_sync__in=[sync_run.pk, *seen_by])
        .exclude(changed_at__gte=sync_run.started_at)
        .values("device_id", "owner_id", *EVENT_COLUMNS)
    )
    if not gone:
        return 0
    with transaction.atomic():
        Device.objects.filter(device_id__in=[device["device_id"] for device in gone]).update(
            owner=None,
            sold_by_vendor=False,
            reseller_id=None,
            section_type="",
            vacation_mode_start_time=None,
            vacation_mode_expire_time=None,
            additional_service="",
            google_workspace_customer_id="",
            claims=[],
            last_synced_at=timezone.now(),
        )
        events_record(
            [
                DeviceEvent(
                    device_id=device["device_id"],
                    kind=DeviceEvent.Kind.DRIFT_UNCLAIMED,
                    source=DeviceEvent.Source.SYNC,
                    sync_run=sync_run,
                    customer_id=device["owner_id"],
                    details={"previous_owner": device["owner_id"]},
                    **device_fields(device),
                )
                for device in gone
            ]
        )
    return len(gone)


# --- Changes the portal made: known from the API's answer, written without reading the device again --


def cached_rows(device_ids: Iterable[int], *, lock: bool = False) -> dict[int, DeviceRow]:
    """The cache rows of these devices, by id (devices not cached are left out). ``lock`` holds their
    rows until the transaction ends, so that two changes to one device are applied one after the other."""
    devices = Device.objects.filter(device_id__in=list(device_ids))
    if lock:
        devices = devices.select_for_update()
    return {row["device_id"]: row for row in devices.values(*DEVICE_COLUMNS)}


def new_device_row(device_id: int, identifier: zerotouch.DeviceIdentifier, *, now: datetime) -> DeviceRow:
    """A row for a device the cache did not hold, from the identifier a change named it by."""
    return device_row(
        {"deviceId": device_id, "deviceIdentifier": identifier.to_json()}, now=now, vendor_customers=set()
    )


def merged_metadata(current: Mapping[str, str], entries: Mapping[str, str]) -> dict[str, str]:
    """Metadata after setting ``entries`` as the API does: an empty value removes its key."""
    merged = {**current, **entries}
    return {key: value for key, value in merged.items() if value != ""}


def row_claimed(
    row: DeviceRow,
    *,
    customer_id: int,
    reseller_id: int,
    section_type: str = SectionType.ZERO_TOUCH,
    google_workspace_customer_id: str = "",
    metadata: Mapping[str, str] | None = None,
    vendor_customers: set[int],
    now: datetime,
) -> DeviceRow:
    """The row of a device once claimed for a customer (any vacation mode of that section ends)."""
    claim = {"sectionType": section_type, "ownerCompanyId": str(customer_id), "resellerId": str(reseller_id)}
    if google_workspace_customer_id:
        claim["googleWorkspaceCustomerId"] = google_workspace_customer_id
    claims = [c for c in row["claims"] if c.get("sectionType") != section_type] + [claim]
    return {
        **row,
        **_claim_columns(claims, vendor_customers),
        "metadata": merged_metadata(row["metadata"], metadata or {}),
        "changed_at": now,
    }


def row_unclaimed(
    row: DeviceRow,
    *,
    section_type: str = SectionType.ZERO_TOUCH,
    vacation_mode_until: datetime | None = None,
    vendor_customers: set[int],
    now: datetime,
) -> DeviceRow:
    """The row of a device once unclaimed; in vacation mode the claim stays until ``vacation_mode_until``."""
    claims = [dict(c) for c in row["claims"] if c.get("sectionType") != section_type or vacation_mode_until]
    if vacation_mode_until is not None:
        for claim in claims:
            if claim.get("sectionType") == section_type:
                claim["vacationModeStartTime"] = now.isoformat()
                claim["vacationModeExpireTime"] = vacation_mode_until.isoformat()
    return {**row, **_claim_columns(claims, vendor_customers), "changed_at": now}


def row_with_metadata(row: DeviceRow, entries: Mapping[str, str], *, now: datetime) -> DeviceRow:
    return {**row, "metadata": merged_metadata(row["metadata"], entries), "changed_at": now}


def cache_store_changed(rows: Sequence[DeviceRow], *, recount: bool = True) -> set[int | None]:
    """Write rows the portal changed itself (from ``row_claimed`` and the like): no drift is recorded,
    since the portal made the change. New devices are inserted, with their models for the filters.

    Returns the customers whose device counts the change moved; ``recount=False`` leaves recounting
    them (``refresh_device_counts``) to the caller, later in the same transaction."""
    if not rows:
        return set()
    before = Device.objects.filter(device_id__in=[row["device_id"] for row in rows]).values_list(
        "owner_id", flat=True
    )
    owners = {*before, *(row["owner_id"] for row in rows)}
    store_device_rows(rows)
    remember_models(rows)
    if recount:
        refresh_device_counts(owners)
    return owners
