"""Celery tasks of the sync: each runs one step of a run (well under the task time limit) and hands
over to the next; beat starts the hourly run and a watchdog that takes over runs whose worker died.

A task is named after the service that does its job, with ``_task`` added: ``sync_step_task`` calls
``sync.sync_step``; ``sync_full_task`` starts in steps the run that ``sync.sync_full`` does in one
process, and ``sync_customer_devices_task`` the one of ``sync.sync_customer_devices``."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError

from devices import sync
from devices.history import events_fill_models
from devices.models import SyncRun

logger = logging.getLogger(__name__)


def _begin(trigger: str, **kwargs) -> None:
    try:
        run = sync.sync_begin(trigger=trigger, **kwargs)
    except sync.SyncAlreadyRunning:
        return
    sync_step_task.delay(run.pk)


@shared_task(ignore_result=True)
def sync_full_task(trigger: str = "beat") -> None:
    """Beat's periodic full sync; a run in progress makes this one a no-op. A run that stopped
    unfinished is carried on from its checkpoint."""
    _begin(trigger)


@shared_task(ignore_result=True)
def sync_customer_devices_task(customer_id: int, trigger: str = "ui") -> None:
    """Refresh one customer's devices (a person asked, or the customer had recent activity)."""
    _begin(trigger, scope=SyncRun.Scope.CUSTOMER, customer_ids=[customer_id])


@shared_task(ignore_result=True)
def sync_step_task(run_id: int) -> None:
    """One step of a run, then the next step as a new task. A step that reaches the task's soft time
    limit saves where it is and asks for the next (``sync_step``)."""
    outcome = sync.sync_step(run_id, budget=sync.step_seconds())
    if outcome == sync.MORE:
        sync_step_task.delay(run_id)


@shared_task(ignore_result=True)
def sync_active_customers_task() -> None:
    """Customers with recent activity get their devices synced between the hourly full passes (in the
    background lane of the quota); beat runs this every ZT_SYNC_ACTIVE_SECONDS."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(seconds=settings.ZT_SYNC_ACTIVE_SECONDS)
    customers = sync.active_customers(since=since)
    if customers:
        _begin("recent activity", scope=SyncRun.Scope.CUSTOMER, customer_ids=customers)


@shared_task(ignore_result=True)
def sync_watchdog_task() -> None:
    """A run whose steps stopped (its worker was killed) is taken over by a new run that carries its
    checkpoint; beat runs this every minute."""
    if sync.sync_stalled():
        _begin("watchdog after a lost worker")


@worker_ready.connect
def sync_when_never_synced(sender, **kwargs) -> None:
    """A new installation fills its cache as soon as a worker is up, not at beat's first interval."""
    if not settings.ZT_SYNC_ON_WORKER_START:
        return
    try:
        never_synced = not SyncRun.objects.filter(
            status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL]
        ).exists()
    except DatabaseError as exc:
        logger.warning("Not starting a first sync: the database is not ready (%s).", exc)
        return
    if never_synced:
        logger.info("No sync has finished yet: starting a full sync.")
        sync_full_task.delay("worker start")


@shared_task(ignore_result=True)
def events_fill_models_task() -> int:
    """Beat's: events recorded before the cache knew their device's make and model get them."""
    return events_fill_models()
