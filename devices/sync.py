"""Sync: fill and refresh the device cache from the API, in short resumable steps.

A full sync reads customers, vendors and vendors' customers, then every customer's devices with
``findByOwner`` (ten customers per query, pages of 100), writing 2,000 devices at a time. After all
of a group's pages are in, cached devices of those customers that the API no longer returned are
marked unclaimed (drift).

At Google's quota (1,000 requests per 100 s) a fleet of a million devices takes ~17 minutes of the
whole quota, far longer than a Celery task may run. So a run is a chain of steps (``sync_step``), each
ending well under the task time limit, and the run's ``progress`` is a checkpoint: the groups of
customers, the next group to start, and for each group under way the page token after the last
pages written. A step that runs out of time saves it and hands over to the next; a worker killed
mid-step leaves the checkpoint of its last write, which the next run carries over (``_start_run``),
so no run starts again from the first customer, and no page written is fetched again.

Only one sync runs at a time: a partial unique index allows one ``running`` SyncRun; a run whose
heartbeat has stopped is taken over by the next. Sync calls are in the background lane of the quota:
people and batches go first.
"""

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from queue import Full, Queue

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import zerotouch
from core.api import Lane, zerotouch_client
from core.audit import audit_record
from core.roles import person_name
from customers.models import Customer
from customers.services import customers_sync
from devices.models import DeviceEvent, SyncRun
from devices.store import (
    STORE_BATCH_SIZE,
    StoreCounts,
    cache_mark_unclaimed_outside,
    cache_store_rows,
    device_rows,
    forget_gone_models,
    refresh_device_counts,
    vendor_customer_ids,
)

logger = logging.getLogger(__name__)

OWNERS_PER_REQUEST = 10
PAGE_SIZE = 100


class SyncAlreadyRunning(Exception):
    """Another sync is running; it holds the lock until it finishes or its heartbeat goes stale."""


def _client() -> zerotouch.Client:
    return zerotouch_client(lane=Lane.BACKGROUND)


def _groups(items: list[int], size: int) -> list[list[int]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _unfinished(run: SyncRun) -> bool:
    """A full run that stopped before its last group: its checkpoint is worth carrying over."""
    return run.scope == SyncRun.Scope.FULL and run.progress.get("phase", "customers") != "done"


def _start_run(*, scope: str, trigger: str, groups: list[list[int]] | None = None) -> SyncRun:
    """A new run, or ``SyncAlreadyRunning``. A running run whose heartbeat stopped is marked
    interrupted; the checkpoint of the last full run that stopped unfinished (interrupted, failed,
    or taken over) is carried over, so the new run continues where that one was."""
    stale_before = timezone.now() - timedelta(seconds=settings.ZT_SYNC_STALE_SECONDS)
    with transaction.atomic():
        running = SyncRun.objects.select_for_update().filter(status=SyncRun.Status.RUNNING).first()
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
        progress: dict = {"phase": "customers"} if groups is None else _device_phase(groups)
        if scope == SyncRun.Scope.FULL:
            last = SyncRun.objects.filter(scope=SyncRun.Scope.FULL).order_by("-started_at", "-pk").first()
            if last is not None and last.status in (SyncRun.Status.INTERRUPTED, SyncRun.Status.FAILED):
                if _unfinished(last):
                    carried = {k: v for k, v in last.progress.items() if k not in ("step", "claimed")}
                    progress = {
                        **carried,
                        "resumed_from": last.pk,
                        "chain": [*carried.get("chain", []), last.pk],
                    }
        try:
            return SyncRun.objects.create(scope=scope, trigger=trigger, progress=progress)
        except IntegrityError as exc:  # another process started one between our read and write
            raise SyncAlreadyRunning("Another sync started at the same moment.") from exc


def _device_phase(groups: list[list[int]]) -> dict:
    return {"phase": "devices", "groups": groups, "next_group": 0, "active": {}, "owners_done": []}


def sync_begin(
    *, trigger: str, scope: str = SyncRun.Scope.FULL, customer_ids: list[int] | None = None
) -> SyncRun:
    """Start a run (``SyncAlreadyRunning`` if one is under way); its steps do the work."""
    groups = None if customer_ids is None else _groups(sorted(customer_ids), OWNERS_PER_REQUEST)
    return _start_run(scope=scope, trigger=trigger, groups=groups)


def sync_workers() -> int:
    """Customer groups synced at once. PostgreSQL takes writes from several connections, so while one
    group waits for the database another is fetched and mapped; SQLite has a single writer."""
    return max(1, settings.ZT_SYNC_WORKERS) if connection.vendor == "postgresql" else 1


def step_seconds() -> float:
    """How long one step works before it hands over: well under the task's soft time limit."""
    return min(settings.ZT_SYNC_STEP_SECONDS, settings.CELERY_TASK_SOFT_TIME_LIMIT / 3)


# --- The checkpoint, shared by the threads of a step ---------------------------------------------


class _Checkpoint:
    """The run's counts, errors and progress, updated by the threads syncing groups; every change
    is saved with the heartbeat (through the calling thread's connection), under one lock."""

    def __init__(self, run: SyncRun, deadline: float | None) -> None:
        self.run = run
        self.deadline = deadline
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.taken = 0  # groups taken in this step: the first is taken however short the budget

    def out_of_time(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop.set()
        return self.stop.is_set()

    def _save(self) -> None:
        run = self.run
        run.heartbeat_at = timezone.now()
        run.save(
            update_fields=[
                "devices_fetched",
                "devices_created",
                "devices_updated",
                "devices_drifted",
                "customers_fetched",
                "heartbeat_at",
                "progress",
                "errors",
            ]
        )

    def take_group(self) -> tuple[int, str | None] | None:
        """The next group to work on: one under way first (from its page token), else a new one."""
        with self.lock:
            if self.taken and self.out_of_time():
                return None
            self.taken += 1
            progress = self.run.progress
            claimed = progress.setdefault("claimed", [])
            for index, token in progress["active"].items():
                if int(index) not in claimed:
                    claimed.append(int(index))
                    return int(index), token
            if progress["next_group"] >= len(progress["groups"]):
                return None
            index = progress["next_group"]
            progress["next_group"] = index + 1
            progress["active"][str(index)] = None
            claimed.append(index)
            self._save()
            return index, None

    def pages_written(self, index: int, token: str | None, counts: StoreCounts) -> None:
        with self.lock:
            run = self.run
            run.devices_fetched += counts.fetched
            run.devices_created += counts.created
            run.devices_updated += counts.updated
            run.devices_drifted += counts.drifted
            run.progress["active"][str(index)] = token
            self._save()

    def group_done(self, index: int, drifted: int) -> None:
        with self.lock:
            progress = self.run.progress
            group = progress["groups"][index]
            Customer.objects.filter(pk__in=group).update(devices_synced_at=timezone.now())
            refresh_device_counts(group)
            self.run.devices_drifted += drifted
            progress["active"].pop(str(index), None)
            progress["owners_done"] = [*progress.get("owners_done", []), *group]
            self._save()

    def group_failed(self, index: int, error: zerotouch.ZeroTouchError) -> None:
        group = self.run.progress["groups"][index]
        logger.warning("sync: customers %s failed: %s", group, error)
        with self.lock:
            self.run.progress["active"].pop(str(index), None)
            self.run.errors = [
                *self.run.errors,
                f"Devices of customers {', '.join(map(str, group))}: {error}",
            ]
            self._save()

    def release(self) -> None:
        """End of the step: the groups it held are free for the next one."""
        with self.lock:
            self.run.progress.pop("claimed", None)
            self._save()


# --- Steps -----------------------------------------------------------------------------------------


def _claim_step(run_id: int) -> SyncRun | None:
    """Hold the run for one step (None: finished, or another step is alive on it). A step whose
    heartbeat went stale is presumed dead and replaced."""
    stale_before = timezone.now() - timedelta(seconds=settings.ZT_SYNC_STALE_SECONDS)
    token = uuid.uuid4().hex
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().filter(pk=run_id, status=SyncRun.Status.RUNNING).first()
        if run is None:
            return None
        holder = run.progress.get("step")
        if holder and run.heartbeat_at > stale_before:
            return None
        run.progress = {**run.progress, "step": token, "steps": run.progress.get("steps", 0) + 1}
        run.progress.pop("claimed", None)
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["progress", "heartbeat_at"])
    return run


FINISHED, MORE, BUSY = "finished", "more", "busy"


def sync_step(run_id: int, *, client: zerotouch.Client | None = None, budget: float | None = None) -> str:
    """Work on a run for at most ``budget`` seconds (None: to the end). Returns FINISHED (the run is
    over), MORE (a next step is needed) or BUSY (another step is alive on it).

    The first step syncs customers and vendors and lists the groups of customers; later steps fetch
    devices group by group, each from its saved page token.
    """
    run = _claim_step(run_id)
    if run is None:
        running = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).exists()
        return BUSY if running else FINISHED
    client = client or _client()
    checkpoint = _Checkpoint(run, None if budget is None else time.monotonic() + budget)
    try:
        if run.progress.get("phase", "customers") == "customers":
            _sync_customers(client, checkpoint)
        _sync_devices(client, checkpoint)
    except SoftTimeLimitExceeded:
        # The task's time is up mid-page: every write before saved its page token; carry on from there.
        checkpoint.stop.set()
        run.progress.pop("step", None)
        checkpoint.release()
        return MORE
    except zerotouch.ZeroTouchError as exc:
        run.errors = [*run.errors, f"Sync stopped: {exc}"]
        _finish(run, failed=True)
        return FINISHED
    except BaseException:
        run.errors = [*run.errors, "Sync stopped by an unexpected error; see the worker log."]
        _finish(run, failed=True)
        raise
    progress = run.progress
    if progress["next_group"] >= len(progress["groups"]) and not progress["active"]:
        progress["phase"] = "done"
        if run.scope == SyncRun.Scope.FULL and not run.errors:
            forget_gone_models()  # every device has been read: models none has any more go
        _finish(run)
        return FINISHED
    progress.pop("step", None)
    checkpoint.release()
    return MORE


def _sync_customers(client: zerotouch.Client, checkpoint: _Checkpoint) -> None:
    run = checkpoint.run
    counts = customers_sync(client=client)
    owners = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
    run.customers_fetched = counts.customers
    run.errors = [*run.errors, *(counts.errors or [])]
    run.progress = {**run.progress, **_device_phase(_groups(owners, OWNERS_PER_REQUEST))}
    with checkpoint.lock:
        checkpoint._save()


def _sync_devices(client: zerotouch.Client, checkpoint: _Checkpoint) -> None:
    vendor_customers = vendor_customer_ids()
    workers = sync_workers()

    def work() -> None:
        while (taken := checkpoint.take_group()) is not None:
            _sync_group(client, checkpoint, *taken, vendor_customers)

    if workers == 1:
        work()
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="sync-group") as pool:
        # Each thread runs in a copy of this context, so its log lines keep the request id of the task.
        futures = [
            pool.submit(contextvars.copy_context().run, _in_own_connection, work) for _ in range(workers)
        ]
        try:
            for future in futures:
                future.result()  # an unexpected error in a group stops the step
        finally:
            checkpoint.stop.set()


def _in_own_connection(task) -> None:
    """Run ``task`` in a pool thread, which has its own database connection: closed afterwards."""
    try:
        task()
    finally:
        connection.close()


def _page_rows(
    pages: Iterator, checkpoint: _Checkpoint, vendor_customers: set[int], run_id: int
) -> Iterator[tuple[list, str | None]]:
    """Each page of a listing as cache rows, with the token of the page after it; no more pages once
    the step is out of time, so that a page is only asked for while there is time to write it and no
    page is fetched twice across steps. Runs in the prefetch thread: the rows are built there while
    the writer waits for the database."""
    for page in pages:
        yield (
            list(device_rows(page.items_json, vendor_customers=vendor_customers, sync_run_id=run_id)),
            page.next_page_token,
        )
        if page.next_page_token is None or checkpoint.out_of_time():
            return


def _sync_group(
    client: zerotouch.Client,
    checkpoint: _Checkpoint,
    index: int,
    token: str | None,
    vendor_customers: set[int],
) -> None:
    """One group of customers, from ``token``: pages written 2,000 devices at a time, each write
    saving the token that follows it; at the end, the devices the API no longer returned are marked."""
    run = checkpoint.run
    group = run.progress["groups"][index]
    chain = [*run.progress.get("chain", []), run.pk]
    batch: list = []
    next_token = token
    try:
        pages = client.devices_find_by_owner_pages(customer_ids=group, page_size=PAGE_SIZE, page_token=token)
        for rows, next_token in prefetched(
            _page_rows(pages, checkpoint, vendor_customers, run.pk), buffer=40, chunk=1
        ):
            batch.extend(rows)
            if len(batch) >= STORE_BATCH_SIZE or next_token is None:
                checkpoint.pages_written(index, next_token, cache_store_rows(batch, sync_run=run))
                batch = []
    except zerotouch.ZeroTouchError as exc:
        checkpoint.group_failed(index, exc)
        return
    if batch:  # the step ran out of time: what was fetched is written, the rest waits for the next
        checkpoint.pages_written(index, next_token, cache_store_rows(batch, sync_run=run))
    if next_token is not None:
        return
    drifted = cache_mark_unclaimed_outside(owner_ids=group, sync_run=run, seen_by=chain)
    checkpoint.group_done(index, drifted)


def _finish(run: SyncRun, *, failed: bool = False) -> SyncRun:
    if failed:
        run.status = SyncRun.Status.FAILED
    else:
        run.status = SyncRun.Status.PARTIAL if run.errors else SyncRun.Status.SUCCEEDED
    run.progress.pop("step", None)
    run.progress.pop("claimed", None)
    run.finished_at = timezone.now()
    run.heartbeat_at = timezone.now()
    run.save()
    return run


def sync_stalled() -> bool:
    """Whether a full run is marked running but its steps stopped beating (a killed worker)."""
    stale_before = timezone.now() - timedelta(seconds=settings.ZT_SYNC_STALE_SECONDS)
    return SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING, scope=SyncRun.Scope.FULL, heartbeat_at__lt=stale_before
    ).exists()


def sync_start_request(*, actor: AbstractBaseUser | AnonymousUser) -> SyncRun:
    """Start a full sync for a person, as beat does (``SyncAlreadyRunning`` while one runs): the run,
    the audit row, and its first step on a worker once the run is committed."""
    from devices import tasks  # the tasks module imports this one

    run = sync_begin(trigger=f"admin: {person_name(actor)}"[:32])
    audit_record(actor=actor, action="sync.start", target=run, details={"scope": run.scope})
    tasks.sync_step_task.delay_on_commit(run.pk)
    return run


def sync_customer_request(*, customer: Customer, actor) -> bool:
    """Ask for a sync of one customer's devices now (a worker does it). False when a full sync is
    running, which reads this customer's devices too."""
    from devices import tasks  # the tasks module imports this one

    if SyncRun.objects.filter(status=SyncRun.Status.RUNNING, scope=SyncRun.Scope.FULL).exists():
        return False
    audit_record(actor=actor, action="sync.customer", target=customer)
    tasks.sync_customer_devices_task.delay_on_commit(customer.pk, person_name(actor)[:32] if actor else "ui")
    return True


def active_customers(*, since, limit: int = 50) -> list[int]:
    """Customers whose devices changed lately (the portal's changes, batches, drift found): synced more
    often than the hourly full pass."""
    return list(
        DeviceEvent.objects.filter(created_at__gte=since, customer_id__isnull=False)
        .exclude(source=DeviceEvent.Source.SYNC, kind=DeviceEvent.Kind.FIRST_SEEN)
        .order_by()
        .values_list("customer_id", flat=True)
        .distinct()[:limit]
    )


# --- Whole runs in this process (the zt_sync command, tests) ------------------------------------


def _run_to_the_end(run: SyncRun, client: zerotouch.Client | None) -> SyncRun:
    while sync_step(run.pk, client=client) == MORE:
        pass
    run.refresh_from_db()
    return run


def sync_full(*, trigger: str = "command", client: zerotouch.Client | None = None) -> SyncRun:
    """Run a full sync in this process, step after step; returns the finished SyncRun (raises
    SyncAlreadyRunning)."""
    return _run_to_the_end(sync_begin(trigger=trigger), client)


def sync_customer_devices(
    *, customer_id: int, trigger: str = "ui", client: zerotouch.Client | None = None
) -> SyncRun:
    """Refresh one customer's devices (and mark the ones the API no longer returns as unclaimed)."""
    run = sync_begin(trigger=trigger, scope=SyncRun.Scope.CUSTOMER, customer_ids=[customer_id])
    return _run_to_the_end(run, client)


# --- Prefetching -----------------------------------------------------------------------------------

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

    context = contextvars.copy_context()  # the request id of the task, for the thread's log lines
    producer = threading.Thread(target=context.run, args=(produce,), name="sync-prefetch", daemon=True)
    producer.start()
    try:
        while (message := queue.get()) is not _DONE:
            if isinstance(message, BaseException):
                raise message
            yield from message
    finally:
        stop.set()
        producer.join(timeout=5)
