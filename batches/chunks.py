"""What every step of a batch does with its chunks: cut the confirmed rows into chunks, read a chunk's
rows as the changes they ask for, store a chunk's verdicts (items, the devices' cache and history, the
job's counts) once however often they arrive, and finish the job when its last chunk ends.

The steps themselves live by topic: ``batches.drafts`` (the pre-flight), ``batches.jobs`` (what a
person does to a job), ``batches.submission``, ``batches.polling``, ``batches.reconciliation`` and
``batches.sweep`` (the worker's side); ``batches.moves`` records the two halves of a move. Every step
that sends a request first commits what it is about to do (a chunk ``submitting``), and every answer
is stored in the transaction that records what it means, so that a worker killed at any moment leaves
a state the sweeper can carry on from without sending anything twice blindly.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import zerotouch
from batches import moves
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.notices import job_ended
from core.api import Lane, zerotouch_client
from devices.changes import (
    Action,
    Intent,
    Verdict,
)
from devices.recorder import devices_record_batch

ACTIVE_CHUNKS = (
    BatchChunk.State.PENDING,
    BatchChunk.State.SUBMITTING,
    BatchChunk.State.SUBMITTED,
    BatchChunk.State.UNKNOWN,
)


def batch_client() -> zerotouch.Client:
    return zerotouch_client(lane=Lane.BATCH)  # long deadline, below people in priority


def intent_of(job: BatchJob, item: BatchItem, *, phase: str = "") -> Intent:
    """The change a row asks for, as the one path of a device change takes it (``devices.changes``).
    A claim or an unclaim acts on the row's section (a claim in SIM lock with the row's SIM-lock
    profile), each device of a request in its own: one chunk may mix sections. A move's chunk sends
    the half its ``phase`` names; without one, the move is the whole change (as it is recorded)."""
    intent = Intent(
        action=Action(job.action),
        identifier=zerotouch.DeviceIdentifier(
            imei=item.imei or None,
            meid=item.meid or None,
            serial_number=item.serial_number or None,
            manufacturer=item.manufacturer or None,
            model=item.model or None,
        ),
        device_id=item.device_id,
        customer_id=item.customer_id,
        section_type=item.section_type,
        simlock_profile_id=item.simlock_profile_id,
        metadata=item.metadata,
        vacation_mode_days=job.vacation_mode_days,
        vacation_mode_until=job.vacation_mode_until,
        from_customer_id=item.from_customer_id,
    )
    if phase == BatchChunk.Phase.UNCLAIM:
        return intent.unclaim_half()
    if phase == BatchChunk.Phase.CLAIM:
        return intent.claim_half()
    return intent


def chunk_items(chunk: BatchChunk) -> list[BatchItem]:
    """The chunk's items still waiting for an outcome, in the order their request lists them (rows the
    last check before sending skipped are not in the request)."""
    return list(chunk.items.filter(state=BatchItem.State.PENDING).order_by("row_number", "id"))


def settle_seconds(size: int) -> float:
    """How long an operation of ``size`` devices may still be changing devices after it was sent:
    time for it to start (``ZT_BATCH_SETTLE_SECONDS``) and to process every device."""
    return settings.ZT_BATCH_SETTLE_SECONDS + processing_seconds(size)


def processing_seconds(size: int) -> float:
    """How long an operation of ``size`` devices takes once it runs
    (``ZT_BATCH_SETTLE_SECONDS_PER_DEVICE`` each): when a lost answer's devices are first read."""
    return size * settings.ZT_BATCH_SETTLE_SECONDS_PER_DEVICE


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** min(attempts, 9)))


def cut_into_chunks(
    job: BatchJob,
    *,
    item_ids: list[int] | None = None,
    phase: str | None = None,
    unclaimed_at: datetime | None = None,
) -> list[BatchChunk]:
    """Put the job's waiting items (or ``item_ids``) into new chunks of ``chunk_size``, in row order.
    A move's chunks start with the unclaim (or, for rows sent again, in the ``phase`` they were in)."""
    if phase is None:
        phase = BatchChunk.Phase.UNCLAIM if job.action == BatchJob.Action.MOVE else BatchChunk.Phase.NONE
    if item_ids is None:
        item_ids = list(
            job.items.filter(state=BatchItem.State.PENDING, chunk__isnull=True)
            .order_by("row_number", "id")
            .values_list("id", flat=True)
        )
    last = job.chunks.order_by("-number").values_list("number", flat=True).first() or 0
    chunks = []
    for offset in range(0, len(item_ids), job.chunk_size):
        ids = item_ids[offset : offset + job.chunk_size]
        chunk = BatchChunk.objects.create(
            job=job, number=last + 1 + len(chunks), size=len(ids), phase=phase, unclaimed_at=unclaimed_at
        )
        BatchItem.objects.filter(id__in=ids).update(chunk=chunk, state=BatchItem.State.PENDING)
        chunks.append(chunk)
    return chunks


def update_chunk(chunk: BatchChunk, **changes) -> None:
    for name, value in changes.items():
        setattr(chunk, name, value)
    chunk.save(update_fields=list(changes))


def record_outcomes(
    chunk: BatchChunk,
    items: list[BatchItem],
    verdicts: list[Verdict],
    *,
    expect: str | None = None,
    resend: list[BatchItem] = (),
    open_until: datetime | None = None,
) -> bool:
    """Store a chunk's verdicts: items, the devices' cache and history, the job's counts, in one
    transaction that holds the chunk, so that outcomes are recorded once however often they arrive.
    Items in ``resend`` go back to waiting in a new chunk. With ``open_until`` the chunk stays in its
    state for its other items, due again then (a reconciliation that read some devices too early).

    The verdicts are of the chunk's request as it was when they were read: those of a move's unclaim
    half are not recorded once the chunk has gone on to the claim half. After the unclaim half, the
    chunk waits again to send the claim for its rows that were unclaimed (``batches.moves``)."""
    job = chunk.job
    with transaction.atomic():
        locked = BatchChunk.objects.select_for_update().get(pk=chunk.pk)
        if expect is not None and locked.state != expect:
            return False
        if locked.state in (BatchChunk.State.DONE, BatchChunk.State.CANCELLED) or locked.phase != chunk.phase:
            return False
        if locked.phase:
            changes = [(intent_of(job, item), verdict) for item, verdict in zip(items, verdicts, strict=True)]
            record_half = (
                moves.unclaims_recorded if locked.phase == BatchChunk.Phase.UNCLAIM else moves.claims_recorded
            )
            tally = record_half(job, locked, items, changes)
        else:
            tally = _changes_recorded(job, items, verdicts)
        BatchJob.objects.filter(pk=job.pk).update(
            succeeded=F("succeeded") + tally.succeeded,
            failed=F("failed") + tally.failed,
            half_done=F("half_done") + tally.half_done,
        )
        if resend:
            BatchItem.objects.filter(id__in=[item.id for item in resend]).update(chunk=None)
            cut_into_chunks(
                job,
                item_ids=[item.id for item in resend],
                phase=locked.phase,
                unclaimed_at=locked.unclaimed_at,
            )
        if open_until is not None:
            update_chunk(locked, due_at=open_until)
            return True
        if locked.phase == BatchChunk.Phase.UNCLAIM and moves.claim_half_started(locked):
            return True
        update_chunk(
            locked, state=BatchChunk.State.DONE, progress=100, finished_at=timezone.now(), due_at=None
        )
        finish_if_done(job.pk)
    return True


def _changes_recorded(job: BatchJob, items: list[BatchItem], verdicts: list[Verdict]) -> moves.Tally:
    """The verdicts of a chunk whose request made each row's whole change: every row gets its outcome."""
    for item, verdict in zip(items, verdicts, strict=True):
        item.state = BatchItem.State.SUCCEEDED if verdict.succeeded else BatchItem.State.FAILED
        item.device_id = verdict.device_id or item.device_id
        item.failure_kind = "" if verdict.succeeded else verdict.kind
        item.status = verdict.status
        item.message = verdict.sentence
    BatchItem.objects.bulk_update(
        items, ["state", "device_id", "failure_kind", "status", "message"], batch_size=500
    )
    devices_record_batch(
        changes=[(intent_of(job, item), verdict) for item, verdict in zip(items, verdicts, strict=True)],
        actor=job.created_by,
        batch_id=job.pk,
        reseller_id=int(settings.ZT_PARTNER_ID),
    )
    succeeded = sum(1 for verdict in verdicts if verdict.succeeded)
    return moves.Tally(succeeded=succeeded, failed=len(verdicts) - succeeded)


def finish_if_done(job_id: int) -> None:
    """A job whose chunks have all ended is finished (cancelled, if any were cancelled)."""
    if BatchChunk.objects.filter(job_id=job_id, state__in=ACTIVE_CHUNKS).exists():
        return
    job = BatchJob.objects.get(pk=job_id)
    running = (BatchJob.State.QUEUED, BatchJob.State.RUNNING)
    if job.state in running:
        job.state = BatchJob.State.CANCELLED if job.cancelled else BatchJob.State.DONE
        job.finished_at = timezone.now()
        # The state it had is the guard: of two calls that both saw the job running, one ends it, and
        # only that one tells people (a notice, the emails asked for).
        if BatchJob.objects.filter(pk=job_id, state__in=running).update(
            state=job.state, finished_at=job.finished_at
        ):
            job_ended(job)


def job_with_waiting_chunks(chunk_id: int) -> int | None:
    """The job of this chunk when it has chunks waiting to be sent (rows a reconciliation sends again
    wait in a new chunk of the same job), else None."""
    job_id = BatchChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()
    if (
        job_id is not None
        and BatchChunk.objects.filter(job_id=job_id, state=BatchChunk.State.PENDING).exists()
    ):
        return job_id
    return None
