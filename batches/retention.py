"""How long batch jobs that were never sent are kept.

A draft (checked, never confirmed) or a discarded job holds a row per device of its file, up to
100,000, and no device was changed by it. Beat deletes those older than
``ZT_BATCH_DRAFT_RETENTION_DAYS``. Jobs that were sent are history (device events name them) and are
kept whatever their age.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.models import BatchItem, BatchJob

logger = logging.getLogger(__name__)

PURGED_STATES = (BatchJob.State.DRAFT, BatchJob.State.DISCARDED)


def jobs_purge(*, now: datetime | None = None) -> int:
    """Delete the drafts and discarded jobs created more than ``ZT_BATCH_DRAFT_RETENTION_DAYS`` ago,
    with their items; returns how many jobs were deleted.

    One job per transaction, so that a 100,000-row draft does not hold the database for the others.
    Its items go first in one ``DELETE`` by job id (nothing refers to an item, so Django deletes them
    without loading them); the job's own delete then has no item left to cascade to. The job is locked
    and its state read again in that transaction: a draft confirmed since the list was read is kept.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.ZT_BATCH_DRAFT_RETENTION_DAYS)
    stale = BatchJob.objects.filter(state__in=PURGED_STATES, created_at__lt=cutoff)
    purged = 0
    for job_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            if not list(stale.select_for_update().filter(pk=job_id).values_list("pk", flat=True)):
                continue
            items, _ = BatchItem.objects.filter(job_id=job_id).delete()
            BatchJob.objects.filter(pk=job_id).delete()
        purged += 1
        logger.info("Purged batch job %s (never sent) and its %s items.", job_id, items)
    return purged
