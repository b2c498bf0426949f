"""The worker sends a job's chunks, one async request each, after a last look at the devices."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import zerotouch
from batches.chunks import (
    backoff,
    batch_client,
    chunk_items,
    finish_if_done,
    intent_of,
    processing_seconds,
    record_outcomes,
    update_chunk,
)
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.selectors import customer_names
from devices.changes import (
    send_async,
    verdict_of_error,
)
from devices.failures import change_failed_sentence
from devices.models import SectionType
from devices.sections import section_owners
from devices.selectors import owners_of

logger = logging.getLogger(__name__)


def _skip_moved_devices(job: BatchJob, chunk: BatchChunk) -> int:
    """The last check before a chunk of unclaims or metadata changes (or a move's unclaim half) is
    sent: a device the cache now shows held by another customer than the pre-flight saw (someone
    claimed, unclaimed or moved it meanwhile) is skipped with that reason, so the request never touches
    a device nobody asked to change. An unclaim in SIM lock is checked against the device's SIM-lock
    claim. Runs in the transaction that marks the chunk ``submitting``; returns the rows skipped. A
    claim, and a move's claim half, need no such check: zero-touch refuses to claim a device another
    customer holds (in either section)."""
    if job.action == BatchJob.Action.CLAIM or chunk.phase == BatchChunk.Phase.CLAIM:
        return 0
    items = list(
        chunk.items.filter(state=BatchItem.State.PENDING, device_id__isnull=False).only(
            "id", "device_id", "customer_id", "from_customer_id", "section_type"
        )
    )

    def held_by(item: BatchItem) -> int | None:  # whose the pre-flight saw the device
        return item.from_customer_id if chunk.phase == BatchChunk.Phase.UNCLAIM else item.customer_id

    owners = owners_of([item.device_id for item in items if not item.sim_lock])
    sim_locks = section_owners([item.device_id for item in items if item.sim_lock], SectionType.SIM_LOCK)

    def holders(item: BatchItem) -> dict[int, int | None]:
        return sim_locks if item.sim_lock else owners

    moved = [
        item
        for item in items
        if item.device_id in holders(item) and holders(item)[item.device_id] != held_by(item)
    ]
    if not moved:
        return 0
    names = customer_names({held_by(item) for item in moved} | {holders(i)[i.device_id] for i in moved})

    def name(company_id: int | None) -> str:
        return names.get(company_id, f"customer id {company_id}")

    for item in moved:
        now, was = holders(item)[item.device_id], held_by(item)
        if now is None:
            item.message = f"Unclaimed since the check (it was {name(was)}'s): left as it is."
        elif was is None:
            item.message = f"Claimed by {name(now)} since the check: left as it is."
        else:
            item.message = f"Claimed by {name(now)} since the check, not by {name(was)}: left as it is."
        if item.sim_lock:  # "Its SIM lock was claimed by..."
            item.message = f"Its SIM lock was {item.message[0].lower()}{item.message[1:]}"
        item.state = BatchItem.State.SKIPPED
    BatchItem.objects.bulk_update(moved, ["state", "message"], batch_size=500)
    BatchJob.objects.filter(pk=job.pk).update(
        ready=F("ready") - len(moved), skipped=F("skipped") + len(moved)
    )
    return len(moved)


def chunk_submit_next(
    job_id: int, *, client: zerotouch.Client | None = None, holder: str = ""
) -> BatchChunk | None:
    """Send the job's next chunk that is due, if any; returns it (submitted, back to waiting, or with
    its answer lost), or None when nothing is due.

    The chunk is marked ``submitting`` by ``holder`` (the worker sending it, see
    ``batches.sweep.chunks_orphaned``) and committed before the request leaves; the operation's name
    is stored in the same transaction that marks it ``submitted``.
    """
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            BatchChunk.objects.select_for_update(skip_locked=True)
            .filter(job_id=job_id, state=BatchChunk.State.PENDING)
            .exclude(due_at__gt=now)
            .order_by("number")
            .first()
        )
        if chunk is None:
            return None
        job = BatchJob.objects.get(pk=job_id)
        _skip_moved_devices(job, chunk)
        items = chunk_items(chunk)
        if not items:  # every row of it was skipped: nothing to send
            update_chunk(
                chunk, state=BatchChunk.State.DONE, progress=100, finished_at=now, due_at=None, last_error=""
            )
            finish_if_done(job_id)
            return chunk
        chunk.state, chunk.attempted_at, chunk.attempts = BatchChunk.State.SUBMITTING, now, chunk.attempts + 1
        chunk.holder = holder
        chunk.save(update_fields=["state", "attempted_at", "attempts", "holder"])
        BatchJob.objects.filter(pk=job_id, state=BatchJob.State.QUEUED).update(state=BatchJob.State.RUNNING)
    client = client or batch_client()
    try:
        operation = send_async(client, [intent_of(job, item, phase=chunk.phase) for item in items])
    except zerotouch.OutcomeUnknown as exc:
        # The request may have started an operation the portal cannot name: find out from the devices
        # once whatever it did has settled.
        logger.warning("batch %s chunk %s: answer lost (%s); reconciling later", job_id, chunk.number, exc)
        update_chunk(
            chunk,
            state=BatchChunk.State.UNKNOWN,
            due_at=chunk.attempted_at + timedelta(seconds=processing_seconds(len(items))),
            last_error=str(exc),
        )
        return chunk
    except zerotouch.InvalidArgument as exc:
        # The request as a whole was refused (nothing started): its items fail with the reason.
        _fail_chunk(chunk, items, exc)
        return chunk
    except zerotouch.ZeroTouchError as exc:
        # Provably not acted on (a ONCE method is only failed this way when nothing started): wait.
        logger.warning("batch %s chunk %s not sent: %s", job_id, chunk.number, exc)
        with transaction.atomic():
            update_chunk(
                chunk,
                state=BatchChunk.State.PENDING,
                due_at=timezone.now() + backoff(chunk.attempts),
                last_error=change_failed_sentence(exc, "sending the batch"),
            )
        return chunk
    with transaction.atomic():
        update_chunk(
            chunk,
            state=BatchChunk.State.SUBMITTED,
            operation_name=operation.name,
            submitted_at=timezone.now(),
            due_at=timezone.now() + timedelta(seconds=settings.ZT_BATCH_POLL_MIN_SECONDS),
            last_error="",
        )
    return chunk


def _fail_chunk(chunk: BatchChunk, items: list[BatchItem], exc: zerotouch.ZeroTouchError) -> None:
    job = chunk.job
    record_outcomes(
        chunk,
        items,
        [
            verdict_of_error(exc, intent_of(job, item, phase=chunk.phase), "the batch request")
            for item in items
        ],
    )
