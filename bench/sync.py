"""Sync ingest at scale, on a scratch database (``make bench-sync``).

``zt_bench sync --devices 200000``: seeds an emulator process, runs a full sync into an emptied
cache, and prints devices per second and the process's peak memory; ``--error-rate 0.2`` injects
server errors and checks the cache ends exactly equal to the emulator's claims.
"""

import logging
import resource
import statistics
import time

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import override_settings

from core.api import reset_zerotouch_client
from customers.models import Customer, Vendor
from devices.models import Device, DeviceEvent, SearchKey, SyncRun
from devices.sync import sync_full
from emulator.testing import EmulatorProcess


def empty_cache(models: list) -> None:
    """Empty the scratch cache. PostgreSQL: TRUNCATE, so every run starts from fresh files rather
    than from tables and indexes bloated by the previous run's deleted rows."""
    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]  # children first
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)}")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def bench_sync(
    out, *, devices: int, customers: int, seed: int, error_rate: float, runs: int, resync: bool
) -> None:
    def timed_sync(label: str) -> float:
        with override_settings(
            ZT_API_URL=emulator.url,
            ZT_PARTNER_ID=str(emulator.partner_id),
            ZT_QUOTA_REQUESTS=10_000_000,
            ZT_BATCH_DEADLINE=120,
        ):
            reset_zerotouch_client()
            started = time.perf_counter()
            run = sync_full(trigger="benchmark")
            seconds = time.perf_counter() - started
            reset_zerotouch_client()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rate = run.devices_fetched / seconds
        out.write(
            f"database: {connection.vendor}; {label} {run.status}: {run.devices_fetched:,} devices"
            f" ({run.devices_created:,} new) in {seconds:.1f} s = {rate:,.0f} devices/s;"
            f" peak memory {peak_mb:.0f} MB"
        )
        return rate

    # One line per API request would bury the figures; the level is all that changes.
    logging.getLogger("zerotouch").setLevel(logging.WARNING)
    with EmulatorProcess(partner_id=1000001) as emulator:
        started = time.perf_counter()
        emulator.seed(
            customers=customers,
            vendors=3,
            customers_per_vendor=5,
            devices=devices,
            random_seed=seed,
            unclaimed_fraction=0.0,
        )
        out.write(f"emulator seeded with {devices:,} devices in {time.perf_counter() - started:.1f} s")
        if error_rate:
            emulator.set_faults(error_rate=error_rate, error_codes=[500, 503], random_seed=seed)
        rates = []
        for number in range(1, runs + 1):
            empty_cache([DeviceEvent, SearchKey, SyncRun, Device, Customer, Vendor])
            rates.append(timed_sync(f"full sync into an empty cache, run {number}/{runs},"))
        if runs > 1:
            out.write(f"median of {runs} runs into an empty cache: {statistics.median(rates):,.0f} devices/s")
        if resync:
            timed_sync("sync again into the filled cache (every device known),")
        if error_rate:
            stats = emulator.stats()["methods"]
            injected = sum(n for m in stats.values() for code, n in m.items() if code in ("500", "503"))
            emulator.clear_faults()
            truth = emulator.zero_touch_claims()
            cached = dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))
            out.write(
                f"{injected:,} injected server errors; cache equals the emulator's claims: "
                f"{cached == truth} ({len(cached):,} cached, {len(truth):,} in the emulator)"
            )
            if cached != truth:
                raise CommandError("The cache does not equal the emulator's claims.")
