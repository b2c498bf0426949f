"""Sync: fill and refresh the device cache from the API.

A full sync reads customers, vendors and vendors' customers, then every customer's devices with
``findByOwner`` (several customers per request, pages of 100), upserting each page as it arrives, so
memory stays flat. After all of a group's pages are in, cached devices of those customers that the
API no longer returned are marked unclaimed (drift).

Only one sync runs at a time: a partial unique index allows one ``running`` SyncRun. A run whose
heartbeat has stopped (its worker was killed) is marked interrupted by the next one, which carries
over the list of customers already done, so no work is lost and nothing is left half-swept.
"""

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta
from queue import Full, Queue

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import zerotouch
from customers.models import Customer
from customers.services import customers_sync
from devices.cache import (
    DeviceRow,
    StoreCounts,
    cache_mark_unclaimed_outside,
    cache_store_devices,
    cache_store_rows,
    device_rows,
    vendor_customer_ids,
)
from devices.models import SyncRun
from portal.api import zerotouch_client

logger = logging.getLogger(__name__)

OWNERS_PER_REQUEST = 10
PAGE_SIZE = 100


class SyncAlreadyRunning(Exception):
    """Another sync is running; it holds the lock until it finishes or its heartbeat goes stale."""


def _start_run(*, scope: str, trigger: str) -> SyncRun:
    stale_before = timezone.now() - timedelta(seconds=settings.ZT_SYNC_STALE_SECONDS)
    with transaction.atomic():
        running = SyncRun.objects.select_for_update().filter(status=SyncRun.Status.RUNNING).first()
        carried: dict = {}
        if running is not None:
            if running.heartbeat_at > stale_before:
                raise SyncAlreadyRunning(f"A sync started at {running.started_at:%H:%M:%S} is still running.")
            running.status = SyncRun.Status.INTERRUPTED
            running.finished_at = timezone.now()
            running.errors = [
                *running.errors,
                "Stopped without finishing (worker lost); the next run resumed it.",
            ]
            running.save(update_fields=["status", "finished_at", "errors"])
            if running.scope == scope == SyncRun.Scope.FULL:
                carried = {"owners_done": running.progress.get("owners_done", []), "resumed_from": running.pk}
        try:
            return SyncRun.objects.create(scope=scope, trigger=trigger, progress=carried)
        except IntegrityError as exc:  # another process started one between our read and write
            raise SyncAlreadyRunning("Another sync started at the same moment.") from exc


def _beat(run: SyncRun, counts: StoreCounts) -> None:
    run.devices_fetched, run.devices_created = counts.fetched, counts.created
    run.devices_updated, run.devices_drifted = counts.updated, counts.drifted
    run.heartbeat_at = timezone.now()
    run.save(
        update_fields=[
            "devices_fetched",
            "devices_created",
            "devices_updated",
            "devices_drifted",
            "heartbeat_at",
            "progress",
            "errors",
            "customers_fetched",
        ]
    )


def _finish(run: SyncRun, counts: StoreCounts, *, failed: bool = False) -> SyncRun:
    if failed:
        run.status = SyncRun.Status.FAILED
    else:
        run.status = SyncRun.Status.PARTIAL if run.errors else SyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    _beat(run, counts)
    run.save(update_fields=["status", "finished_at"])
    return run


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync_workers() -> int:
    """Customer groups synced at once. PostgreSQL takes writes from several connections, so while one
    group waits for the database another is fetched and mapped; SQLite has a single writer."""
    return max(1, settings.ZT_SYNC_WORKERS) if connection.vendor == "postgresql" else 1


class _Progress:
    """The run's counts, errors and finished customers, shared by the threads syncing groups; the
    lock keeps their updates and heartbeats (each saved through the calling thread's connection)
    from interleaving."""

    def __init__(self, run: SyncRun, counts: StoreCounts) -> None:
        self.run, self.counts = run, counts
        self.lock = threading.Lock()

    def beat(self) -> None:
        with self.lock:
            _beat(self.run, self.counts)

    def group_done(self, group: list[int], counts: StoreCounts, drifted: int) -> None:
        with self.lock:
            self.counts.add(counts)
            self.counts.drifted += drifted
            done = [*self.run.progress.get("owners_done", []), *group]
            self.run.progress = {**self.run.progress, "owners_done": done}
            _beat(self.run, self.counts)

    def group_failed(self, group: list[int], error: zerotouch.ZeroTouchError) -> None:
        logger.warning("sync: customers %s failed: %s", group, error)
        with self.lock:
            self.run.errors = [
                *self.run.errors,
                f"Devices of customers {', '.join(map(str, group))}: {error}",
            ]
            _beat(self.run, self.counts)


def sync_full(*, trigger: str = "command", client: zerotouch.Client | None = None) -> SyncRun:
    """Run a full sync in this process; returns the finished SyncRun (raises SyncAlreadyRunning)."""
    client = client or zerotouch_client()
    run = _start_run(scope=SyncRun.Scope.FULL, trigger=trigger)
    counts = StoreCounts()
    try:
        customer_counts = customers_sync(client=client)
        run.customers_fetched = customer_counts.customers
        run.errors = [*run.errors, *(customer_counts.errors or [])]
        done = set(run.progress.get("owners_done", []))
        owners = [pk for pk in Customer.objects.order_by("pk").values_list("pk", flat=True) if pk not in done]
        vendor_customers = vendor_customer_ids()
        progress = _Progress(run, counts)
        groups = list(_chunks(owners, OWNERS_PER_REQUEST))
        workers = sync_workers()
        if workers == 1:
            for group in groups:
                _sync_group(client, progress, group, vendor_customers)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="sync-group") as pool:
                futures = [
                    pool.submit(_in_own_connection, _sync_group, client, progress, group, vendor_customers)
                    for group in groups
                ]
                try:
                    for future in as_completed(futures):
                        future.result()  # an unexpected error in a group stops the sync
                finally:
                    for future in futures:
                        future.cancel()
    except zerotouch.ZeroTouchError as exc:
        run.errors = [*run.errors, f"Sync stopped: {exc}"]
        return _finish(run, counts, failed=True)
    except BaseException:
        run.errors = [*run.errors, "Sync stopped by an unexpected error; see the worker log."]
        _finish(run, counts, failed=True)
        raise
    return _finish(run, counts)


def _sync_group(
    client: zerotouch.Client, progress: _Progress, group: list[int], vendor_customers: set[int]
) -> None:
    """One group of customers: store their devices, then mark the ones the API no longer returned."""
    try:
        counts = cache_store_rows(
            _owner_rows(client, progress, group, vendor_customers), sync_run=progress.run
        )
    except zerotouch.ZeroTouchError as exc:
        progress.group_failed(group, exc)
        return
    drifted = cache_mark_unclaimed_outside(owner_ids=group, sync_run=progress.run)
    progress.group_done(group, counts, drifted)


def _in_own_connection(task, *args) -> None:
    """Run ``task`` in a pool thread, which has its own database connection: closed afterwards."""
    try:
        task(*args)
    finally:
        connection.close()


def _owner_rows(
    client: zerotouch.Client, progress: _Progress, group: list[int], vendor_customers: set[int]
) -> Iterator[DeviceRow]:
    """The cache rows of a group of customers' devices, page by page, keeping the run's heartbeat
    alive. Pages are fetched and turned into rows in a background thread (``prefetched``) while this
    thread writes the previous batch."""
    devices = client.devices_find_by_owner_json(customer_ids=group, page_size=PAGE_SIZE)
    rows = device_rows(devices, vendor_customers=vendor_customers, sync_run_id=progress.run.pk)
    for position, row in enumerate(prefetched(rows), 1):
        yield row
        if position % 2000 == 0:
            progress.beat()


_DONE = object()


def prefetched(items: Iterator, *, buffer: int = 4000, chunk: int = 100) -> Iterator:
    """Iterate ``items`` in a background thread, up to ``buffer`` items ahead of the consumer.

    The next pages arrive from the API while the current batch is written to the database (both
    wait outside the GIL); the bounded queue keeps memory flat. Items cross the queue ``chunk`` at a
    time, since a queue hand-over costs more than handling one device. An error in the producer is
    raised in the consumer, after the items that came before it; a consumer that stops early stops
    the producer.
    """
    queue: Queue = Queue(maxsize=max(1, buffer // chunk))
    stop = threading.Event()

    def hand_over(message) -> bool:
        while not stop.is_set():
            try:
                queue.put(message, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        pending: list = []
        try:
            for item in items:
                pending.append(item)
                if len(pending) >= chunk:
                    if not hand_over(pending):
                        return
                    pending = []
            hand_over(pending)
            hand_over(_DONE)
        except BaseException as exc:  # handed over to the consumer, which raises it
            hand_over(pending)
            hand_over(exc)

    producer = threading.Thread(target=produce, name="sync-prefetch", daemon=True)
    producer.start()
    try:
        while (message := queue.get()) is not _DONE:
            if isinstance(message, BaseException):
                raise message
            yield from message
    finally:
        stop.set()
        producer.join(timeout=5)


def sync_customer_devices(
    *, customer_id: int, trigger: str = "ui", client: zerotouch.Client | None = None
) -> SyncRun:
    """Refresh one customer's devices (and mark the ones the API no longer returns as unclaimed)."""
    client = client or zerotouch_client()
    run = _start_run(scope=SyncRun.Scope.CUSTOMER, trigger=trigger)
    counts = StoreCounts()
    try:
        counts.add(
            cache_store_devices(
                client.devices_find_by_owner(customer_ids=[customer_id], page_size=PAGE_SIZE), sync_run=run
            )
        )
        counts.drifted += cache_mark_unclaimed_outside(owner_ids=[customer_id], sync_run=run)
    except zerotouch.ZeroTouchError as exc:
        run.errors = [f"Devices of customer {customer_id}: {exc}"]
        return _finish(run, counts, failed=True)
    return _finish(run, counts)
