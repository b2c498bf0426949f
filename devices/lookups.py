"""Reads of the device cache for many identifiers at once: a batch's pre-flight asks for a hundred
thousand devices in a few queries and gets each as a small typed row (``CachedDevice``), not a model.

The query is written out because it is the pre-flight's hot path: PostgreSQL takes the values as one
JSON array and probes the search-key index once each; the names come from the models and are quoted.
"""

from collections.abc import Iterable
from typing import NamedTuple

import orjson
from django.db import connection

from devices.identifiers import fold_search_text
from devices.models import Device, SearchKey

# The metadata a batch row can set, read as text with each device.
METADATA_KEYS = ("ordernumber", "phonenumber")


class CachedDevice(NamedTuple):
    """What the verdict needs to know of a cached device, as the look-up returns it: the search-key
    value that found it, whose it is, what it is, and the metadata a batch row can set (None where
    the cache holds no text)."""

    value: str
    device_id: int
    owner_id: int | None
    device_type: str
    serial_number: str
    manufacturer: str
    model: str
    ordernumber: str | None
    phonenumber: str | None

    @property
    def metadata(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (("ordernumber", self.ordernumber), ("phonenumber", self.phonenumber))
            if value is not None
        }


_LOOKUP_BATCH = 5000
_KIND_GROUPS = {"imei": ("imei", "imei2"), "meid": ("meid", "meid2"), "serial": ("serial",)}


def _lookup_sql(values: int, kinds: int) -> str:
    """Devices by search-key value, with the metadata a row can set as text (None unless the cache
    holds a string there). PostgreSQL takes the values as one JSON array (sent and unpacked in a third
    of the time psycopg's array of thousands of strings takes) and probes the key index once each;
    SQLite takes them as parameters. Names come from the models and are quoted."""
    quote = connection.ops.quote_name
    keys, devices = quote(SearchKey._meta.db_table), quote(Device._meta.db_table)
    columns = ", ".join(
        f"d.{quote(Device._meta.get_field(name).column)}"
        for name in ("device_id", "owner_id", "device_type", "serial_number", "manufacturer", "model")
    )
    metadata = f"d.{quote(Device._meta.get_field('metadata').column)}"
    if connection.vendor == "postgresql":
        extracted = ", ".join(
            f"CASE WHEN jsonb_typeof({metadata} -> '{key}') = 'string' THEN {metadata} ->> '{key}' END"
            for key in METADATA_KEYS
        )
        return (
            f"SELECT w.v, {columns}, {extracted} FROM json_array_elements_text(%s::json) AS w(v) "  # noqa: S608
            f'JOIN {keys} AS k ON k.value = w.v COLLATE "C" AND k.kind = ANY(%s) '
            f"JOIN {devices} AS d ON d.device_id = k.device_id"
        )
    extracted = ", ".join(
        f"CASE WHEN json_type({metadata}, '$.{key}') = 'text' THEN json_extract({metadata}, '$.{key}') END"
        for key in METADATA_KEYS
    )
    return (
        f"SELECT k.value, {columns}, {extracted} FROM {keys} AS k JOIN {devices} AS d "  # noqa: S608
        f"ON d.device_id = k.device_id WHERE k.value IN ({', '.join(['%s'] * values)}) "
        f"AND k.kind IN ({', '.join(['%s'] * kinds)})"
    )


def cached_devices(kind: str, values: Iterable[str]) -> dict[str, list[CachedDevice]]:
    """Cached devices by identifier, for many identifiers at once: ``kind`` is "imei" (either SIM
    slot), "meid" or "serial"; the result is keyed by the value as given. One query per few thousand
    values, each value one probe of the search-key index."""
    if kind == "serial":
        by_folded: dict[str, list[str]] = {}
        for value in values:
            by_folded.setdefault(fold_search_text(value), []).append(value)
        folded = sorted(by_folded)
    else:
        folded = sorted(values)  # valid IMEIs and MEIDs are digits and upper-case hex: folded already
    # Sorted, the probes walk the index in its order and neighbouring probes read the same pages.
    kinds = list(_KIND_GROUPS[kind])
    found: dict[str, list[CachedDevice]] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(folded), _LOOKUP_BATCH):
            wanted = folded[start : start + _LOOKUP_BATCH]
            if connection.vendor == "postgresql":
                cursor.execute(_lookup_sql(len(wanted), len(kinds)), [orjson.dumps(wanted).decode(), kinds])
            else:
                cursor.execute(_lookup_sql(len(wanted), len(kinds)), [*wanted, *kinds])
            devices = map(CachedDevice._make, cursor.fetchall())
            if kind != "serial":
                for device in devices:
                    found.setdefault(device.value, []).append(device)
                continue
            for device in devices:
                for given in by_folded[device.value]:
                    if device.serial_number == given:  # serials are case-sensitive
                        found.setdefault(given, []).append(device)
    return found
