"""Beat's safety net: what a lost message or a killed worker left undone is found and enqueued again."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from batches.chunks import processing_seconds
from batches.models import BatchChunk


@dataclass
class Sweep:
    submit: list[int]  # job ids with chunks due to be sent
    poll: list[int]  # chunk ids whose poll is overdue
    reconcile: list[int]  # chunk ids due to be reconciled
    marked_unknown: int = 0


def batches_sweep(*, now: datetime | None = None, poll_late_seconds: float | None = None) -> Sweep:
    """What needs doing that no task is on its way to do: chunks left ``submitting`` by a killed
    worker become ``unknown`` (to be reconciled); due sends, overdue polls and due reconciliations are
    listed for the caller to enqueue. A poll counts as overdue ``poll_late_seconds`` after it was due
    (``ZT_BATCH_POLL_MAX_SECONDS``: its task may be on its way); 0 at a worker's start, when the polls
    a killed run had scheduled are gone with it."""
    # One transaction: the chunks it marks and the lists it returns come from one view of the state.
    with transaction.atomic():
        return _sweep(now or timezone.now(), poll_late_seconds)


def _sweep(now: datetime, poll_late_seconds: float | None) -> Sweep:
    stuck_before = now - timedelta(seconds=settings.ZT_BATCH_DEADLINE + settings.ZT_BATCH_SETTLE_SECONDS)
    marked = len(
        _mark_unknown(
            BatchChunk.objects.filter(state=BatchChunk.State.SUBMITTING, attempted_at__lt=stuck_before)
        )
    )
    late = settings.ZT_BATCH_POLL_MAX_SECONDS if poll_late_seconds is None else poll_late_seconds
    overdue = now - timedelta(seconds=late)
    return Sweep(
        submit=list(
            BatchChunk.objects.filter(state=BatchChunk.State.PENDING, job__state__in=["queued", "running"])
            .exclude(due_at__gt=now)
            .values_list("job_id", flat=True)
            .distinct()
        ),
        poll=list(
            BatchChunk.objects.filter(state=BatchChunk.State.SUBMITTED, due_at__lt=overdue).values_list(
                "id", flat=True
            )
        ),
        reconcile=list(
            BatchChunk.objects.filter(state=BatchChunk.State.UNKNOWN, due_at__lte=now).values_list(
                "id", flat=True
            )
        ),
        marked_unknown=marked,
    )


def chunks_orphaned(*, node: str, instance: str) -> list[BatchChunk]:
    """At a worker's start: chunks that an earlier run of the same worker node (``node``, e.g.
    ``celery@host``, kept by a restarted container) left ``submitting`` when it was killed become
    ``unknown`` at once, rather than after the sweeper's deadline, to be read as any lost answer is
    (``batches.reconciliation``). ``instance`` is this run's; the chunks marked are returned."""
    return _mark_unknown(
        BatchChunk.objects.filter(state=BatchChunk.State.SUBMITTING, holder__startswith=f"{node} ").exclude(
            holder=f"{node} {instance}"
        )
    )


def _mark_unknown(chunks) -> list[BatchChunk]:
    """Chunks whose sender died: their answer is lost, to be read from the devices."""
    marked = []
    for chunk in chunks:
        chunk.state = BatchChunk.State.UNKNOWN
        chunk.due_at = chunk.attempted_at + timedelta(seconds=processing_seconds(chunk.size))
        chunk.last_error = "The worker stopped while sending this chunk."
        if BatchChunk.objects.filter(pk=chunk.pk, state=BatchChunk.State.SUBMITTING).update(
            state=chunk.state, due_at=chunk.due_at, last_error=chunk.last_error
        ):
            marked.append(chunk)
    return marked
