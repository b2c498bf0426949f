"""The two halves of a move job's chunks, recorded (``batches.chunks.record_outcomes`` calls these in
the transaction that holds the chunk).

Zero-touch claims no device another customer holds, so a chunk of a move sends an unclaim of its
devices and then, for those unclaimed, a claim for the customer they go to (``BatchChunk.Phase``).

- **Unclaim half.** A row whose unclaim failed has failed: its device was not changed, and its history
  says the move failed. A row whose device was unclaimed goes on, waiting in the same chunk, which
  goes back to ``pending`` in the claim phase (``claim_half_started``); its device is written into the
  cache as unclaimed at once, without a history event yet.
- **Claim half.** A row whose claim succeeded has moved: one "moved" event. A row whose claim failed
  is *half done*: its device is unclaimed, and stays so until someone claims it; the row says "unclaimed
  from X, claim for Y failed: why", the job counts it, and its page offers to claim it back for X or
  to try Y again (``batches.jobs``). Only when another claim took the device in between is the row
  failed without being half done: the device is someone's again.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from batches.models import BatchChunk, BatchItem, BatchJob
from batches.selectors import customer_names
from devices.changes import Intent, Verdict
from devices.models import FailureKind
from devices.recorder import devices_record_move_claims, devices_record_move_unclaims

# A claim half refused for these reasons found the device claimed again, by someone else, since its
# unclaim: it is not left unclaimed, so its row is failed but not half done.
TAKEN_SINCE = frozenset({FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER, FailureKind.CLAIMED_BY_ANOTHER_RESELLER})


@dataclass(frozen=True)
class Tally:
    """What a chunk's outcomes add to its job's counts."""

    succeeded: int = 0
    failed: int = 0
    half_done: int = 0


def _names(changes: list[tuple[Intent, Verdict]]):
    names = customer_names(
        {intent.customer_id for intent, _ in changes} | {intent.from_customer_id for intent, _ in changes}
    )
    return lambda company_id: names.get(company_id, f"customer id {company_id}")


def unclaims_recorded(
    job: BatchJob, chunk: BatchChunk, items: list[BatchItem], changes: list[tuple[Intent, Verdict]]
) -> Tally:
    """The verdicts of a chunk's unclaim half: failures fail, the unclaimed wait for their claim.

    A row unclaimed is not written: it still waits, in its chunk, whose phase now tells where it
    stands (``BatchItem.progress_label``), and its device was named by its id already. Only failures
    are: writing a thousand rows costs seconds, which every move would wait for between its halves."""
    name = _names(changes)
    failures = []
    for item, (intent, verdict) in zip(items, changes, strict=True):
        if verdict.succeeded:
            continue
        item.state = BatchItem.State.FAILED
        item.device_id = verdict.device_id or item.device_id
        item.failure_kind, item.status = verdict.kind, verdict.status
        item.message = (
            f"Not moved: the unclaim from {name(intent.from_customer_id)} failed. {verdict.sentence}"
        )
        failures.append(item)
    BatchItem.objects.bulk_update(
        failures, ["state", "device_id", "failure_kind", "status", "message"], batch_size=500
    )
    devices_record_move_unclaims(
        changes=changes,
        actor=job.created_by,
        batch_id=job.pk,
        reseller_id=int(settings.ZT_PARTNER_ID),
    )
    return Tally(failed=len(failures))


def claim_half_started(chunk: BatchChunk) -> bool:
    """After its unclaim half, the chunk waits to send the claim for the rows that were unclaimed (its
    rows still waiting); False when none was, and the chunk is done. The new request is a new start:
    no operation, no progress, no reading of a lost answer yet."""
    waiting = chunk.items.filter(state=BatchItem.State.PENDING).count()
    if not waiting:
        return False
    changes = {
        "phase": BatchChunk.Phase.CLAIM,
        "state": BatchChunk.State.PENDING,
        "size": waiting,
        "unclaimed_at": timezone.now(),
        "operation_name": "",
        "submitted_at": None,
        "due_at": None,
        "progress": 0,
        "holder": "",
        "reconciled_at": None,
        "last_error": "",
    }
    for field, value in changes.items():
        setattr(chunk, field, value)
    chunk.save(update_fields=list(changes))
    return True


def claims_recorded(
    job: BatchJob, chunk: BatchChunk, items: list[BatchItem], changes: list[tuple[Intent, Verdict]]
) -> Tally:
    """The verdicts of a chunk's claim half: each row's move has ended, moved or half done."""
    name = _names(changes)
    succeeded = half_done = 0
    for item, (intent, verdict) in zip(items, changes, strict=True):
        item.device_id = verdict.device_id or item.device_id
        item.status = verdict.status
        source, target = name(intent.from_customer_id), name(intent.customer_id)
        if verdict.succeeded:
            succeeded += 1
            item.state, item.failure_kind = BatchItem.State.SUCCEEDED, ""
            item.message = f"Moved from {source} to {target}."
            continue
        item.state, item.failure_kind = BatchItem.State.FAILED, verdict.kind
        if verdict.kind in TAKEN_SINCE:
            item.message = (
                f"Unclaimed from {source}, then claimed by another customer before the claim for "
                f"{target} was made: left as it is. {verdict.sentence}"
            )
            continue
        half_done += 1
        item.half_done = True
        item.message = f"Unclaimed from {source}, claim for {target} failed: {verdict.sentence}"
    written = ["state", "device_id", "failure_kind", "status", "message"]
    BatchItem.objects.bulk_update(items, written + (["half_done"] if half_done else []), batch_size=500)
    devices_record_move_claims(
        changes=changes,
        unclaimed_at=chunk.unclaimed_at,
        actor=job.created_by,
        batch_id=job.pk,
        reseller_id=int(settings.ZT_PARTNER_ID),
    )
    return Tally(succeeded=succeeded, failed=len(items) - succeeded, half_done=half_done)
