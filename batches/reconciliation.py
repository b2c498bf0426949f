"""A chunk whose answer was lost is settled from the devices' state instead of being sent again blindly."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

import zerotouch
from batches.chunks import (
    backoff,
    batch_client,
    chunk_items,
    intent_of,
    record_outcomes,
    settle_seconds,
    update_chunk,
)
from batches.models import BatchChunk, BatchItem, BatchJob
from devices.changes import (
    verdict_of_state,
)


def _read_devices(client: zerotouch.Client, job: BatchJob, items: list[BatchItem]) -> dict[int, dict | None]:
    """Each item's device as the API holds it now, as JSON (None: unknown to the API)."""
    observed = {}
    for item in items:
        if item.device_id:
            try:
                observed[item.id] = client.devices_get(device_id=item.device_id).to_json()
            except zerotouch.NotFound:
                observed[item.id] = None
            continue
        try:
            found = next(
                iter(
                    client.devices_find_by_identifier(identifier=intent_of(job, item).identifier, page_size=1)
                ),
                None,
            )
        except zerotouch.InvalidArgument:
            found = None  # an identifier zero-touch does not accept names no device
        observed[item.id] = found.to_json() if found else None
    return observed


def chunk_reconcile(chunk_id: int, *, client: zerotouch.Client | None = None) -> bool:
    """Settle a chunk whose answer was lost, from the devices' state; True once it is settled.

    The lost request may have started an operation still changing devices, so the devices are read
    twice, an operation's length apart; only when nothing moved in between is the state final. Then a
    device in the wanted state succeeded, one whose state explains a refusal (claimed by another
    customer) failed, and only the others are sent again, in a new chunk.
    """
    chunk = BatchChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None or chunk.state != BatchChunk.State.UNKNOWN:
        return True
    # One reading at a time: the sweeper enqueues a due chunk every few seconds, and a reading, one
    # call per device, can take far longer at a tight quota; copies would pile up, each spending the
    # quota again. A copy that finds the chunk taken leaves it (a killed reader's hold runs out).
    hold = f"batches:reconciling:{chunk.pk}"
    if not cache.add(hold, True, timeout=settings.ZT_BATCH_DEADLINE + settle_seconds(chunk.size) * 2):
        return False
    try:
        return _reconcile(chunk, client)
    finally:
        cache.delete(hold)


def _reconcile(chunk: BatchChunk, client: zerotouch.Client | None) -> bool:
    items = chunk_items(chunk)
    client = client or batch_client()
    try:
        observed = {str(key): value for key, value in _read_devices(client, chunk.job, items).items()}
    except zerotouch.ZeroTouchError as exc:
        update_chunk(chunk, due_at=timezone.now() + backoff(3), last_error=str(exc))
        return False
    if observed != chunk.observed:
        update_chunk(
            chunk,
            observed=observed,
            due_at=timezone.now() + timedelta(seconds=settle_seconds(len(items))),
        )
        return False
    decided, verdicts, resend = [], [], []
    for item in items:
        device = zerotouch.Device.from_json(observed[str(item.id)]) if observed[str(item.id)] else None
        verdict = verdict_of_state(intent_of(chunk.job, item), device, partner_id=str(client.partner_id))
        if verdict.send_again:
            resend.append(item)
        else:
            decided.append(item)
            verdicts.append(verdict)
    return record_outcomes(chunk, decided, verdicts, expect=BatchChunk.State.UNKNOWN, resend=resend)
