import logging

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import DatabaseError

from devices import sync
from devices.models import SyncRun

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def sync_full() -> None:
    """Beat's periodic full sync; a run already in progress makes this one a no-op."""
    try:
        sync.sync_full(trigger="beat")
    except sync.SyncAlreadyRunning:
        return


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
        sync_full.delay()
