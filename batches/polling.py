"""The worker asks for a sent chunk's operation until it is done, then records every row's result."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

import zerotouch
from batches.chunks import (
    batch_client,
    chunk_items,
    intent_of,
    record_outcomes,
    update_chunk,
)
from batches.models import BatchChunk
from devices.changes import (
    verdict_of_result,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    done: bool
    next_poll_in: float | None  # seconds; None when there is nothing more to poll


def chunk_poll(chunk_id: int, *, client: zerotouch.Client | None = None) -> PollResult:
    """Ask for a submitted chunk's operation; once done, record every item's result at once.

    The next poll comes sooner when the operation is nearly done: the time it still needs, by its
    progress so far, between ``ZT_BATCH_POLL_MIN_SECONDS`` and ``ZT_BATCH_POLL_MAX_SECONDS``.
    """
    chunk = BatchChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None or chunk.state != BatchChunk.State.SUBMITTED:
        return PollResult(done=True, next_poll_in=None)
    client = client or batch_client()
    try:
        operation = client.operations_get(name=chunk.operation_name)
    except zerotouch.ZeroTouchError as exc:
        delay = settings.ZT_BATCH_POLL_MAX_SECONDS
        logger.warning("batch %s chunk %s: poll failed (%s)", chunk.job_id, chunk.number, exc)
        update_chunk(chunk, due_at=timezone.now() + timedelta(seconds=delay), last_error=str(exc))
        return PollResult(done=False, next_poll_in=delay)
    if not operation.done:
        progress = operation.metadata.progress if operation.metadata and operation.metadata.progress else 0
        submitted = chunk.submitted_at
        elapsed = None if submitted is None else (timezone.now() - submitted).total_seconds()
        delay = operation.next_poll_in(
            elapsed, minimum=settings.ZT_BATCH_POLL_MIN_SECONDS, maximum=settings.ZT_BATCH_POLL_MAX_SECONDS
        )
        update_chunk(
            chunk, progress=progress, due_at=timezone.now() + timedelta(seconds=delay), last_error=""
        )
        return PollResult(done=False, next_poll_in=delay)
    _apply_operation(chunk, operation)
    return PollResult(done=True, next_poll_in=None)


def _apply_operation(chunk: BatchChunk, operation: zerotouch.Operation) -> None:
    items = chunk_items(chunk)
    results = list(operation.results)
    job = chunk.job
    verdicts = [
        verdict_of_result(
            intent_of(job, item, phase=chunk.phase), results[index] if index < len(results) else None
        )
        for index, item in enumerate(items)
    ]
    record_outcomes(chunk, items, verdicts, expect=BatchChunk.State.SUBMITTED)
