"""A chunk whose answer was lost is settled from the devices' state, by the cheapest reads, read
again only where a still-running operation could change the answer.

The rule (docs/architecture.md, "A lost answer", has the arithmetic). A lost request of ``n`` devices
may have started an operation; had it started at once it has ended ``processing_seconds(n)`` after it
was sent, and whatever its start it has ended ``settle_seconds(n)`` after.

1. **First look** once ``processing_seconds(n)`` have passed, or sooner when another chunk of the job
   has finished and its pace says the operation would have ended by then
   (``first_looks_brought_forward``). Devices in the wanted state succeeded,
   and devices whose state explains a refusal (claimed by another customer...) failed: a running
   operation cannot undo either. That is usually every device, and the chunk is done.
2. **Only the others are read again**, once ``settle_seconds(n)`` have passed; then every device not in
   the wanted state is sent again, in a new chunk. (A first look made after that point is the last.)
3. **Cheapest reads.** The customer whose listing tells the outcome (the one a claim is for, the one
   an unclaim or a metadata change concerns) is read with ``findByOwner``: one call per 100 of that
   customer's devices, which the cache counts (zero-touch's: a change in SIM lock is read device by
   device, whatever the chunk mixes). When the chunk's devices are fewer than those pages,
   each device is read instead (``devices.get`` by id, or ``findByIdentifier``), ``READERS`` at a time,
   within the batch lane's share of the quota. A claim's device missing from its customer's listing
   is not there yet: if another customer holds it, the request sent again says so.
"""

import math
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

import zerotouch
from batches.chunks import (
    backoff,
    batch_client,
    chunk_items,
    intent_of,
    processing_seconds,
    record_outcomes,
    settle_seconds,
    update_chunk,
)
from batches.models import BatchChunk
from devices.changes import Action, Intent, Verdict, verdict_of_state
from devices.models import SectionType
from devices.selectors import claimed_count

# Single-device reads in flight at once: enough to hide each call's latency, few enough that the
# batch lane's share of the quota, not this pool, sets the pace.
READERS = 8
PAGE_SIZE = 100  # findByOwner's largest page


@dataclass(frozen=True)
class ReconcileResult:
    settled: bool  # every device of the chunk decided (some perhaps waiting in a new chunk)
    next_in: float | None = None  # seconds until it should be read again; None: nothing to schedule


def _hold_key(chunk_id: int) -> str:
    return f"batches:reconciling:{chunk_id}"


def chunk_reconcile(
    chunk_id: int, *, client: zerotouch.Client | None = None, holder: str = "-"
) -> ReconcileResult:
    """Settle a chunk whose answer was lost, from the devices' state. ``holder`` names the worker
    reading it (node and run, as ``batches.submission`` records a sender)."""
    chunk = BatchChunk.objects.select_related("job").filter(pk=chunk_id).first()
    if chunk is None or chunk.state != BatchChunk.State.UNKNOWN:
        return ReconcileResult(settled=True)
    now = timezone.now()
    sent = chunk.attempted_at or now - timedelta(seconds=settle_seconds(chunk.size))  # None: long ago
    first_look = sent + timedelta(seconds=processing_seconds(chunk.size))
    if chunk.reconciled_at is None and chunk.due_at is not None and chunk.due_at < first_look:
        first_look = chunk.due_at  # brought forward by the pace of the job's finished chunks
    settled_at = sent + timedelta(seconds=settle_seconds(chunk.size))
    if now < first_look:  # the operation, had it started at once, would not have ended yet
        update_chunk(chunk, due_at=first_look)
        return ReconcileResult(settled=False, next_in=(first_look - now).total_seconds())
    # One reading at a time: the sweeper enqueues a due chunk every few seconds, and a reading can take
    # longer at a tight quota; copies would pile up, each spending the quota again. A copy that finds
    # the chunk taken leaves it (a killed reader's hold runs out, or its node's next run lets go of it).
    hold = _hold_key(chunk.pk)
    if not cache.add(hold, holder, timeout=settings.ZT_BATCH_DEADLINE + settle_seconds(chunk.size) * 2):
        return ReconcileResult(settled=False)
    try:
        return _reconcile(chunk, client or batch_client(), settled_at=settled_at)
    finally:
        cache.delete(hold)


def first_looks_brought_forward(chunk_id: int) -> list[tuple[int, datetime]]:
    """A chunk whose operation has just ended tells how fast zero-touch works now: seconds a device,
    from sending the request to recording the results. The job's chunks whose answer was lost and
    that have not been read yet get their first look when their own operations would have ended at
    that pace, if that is sooner than ``processing_seconds`` assumes (which must hold for any
    partner, so it is slow). Returns each such chunk with its new moment.

    Only the first look moves. A look too early costs a reading more: the devices still changing
    are read again by the task scheduled for the first look as it was, and once more when settled;
    what is sent again still waits for ``settle_seconds``, the rule that keeps a device from being
    sent twice."""
    done = BatchChunk.objects.filter(pk=chunk_id, state=BatchChunk.State.DONE).first()
    if done is None or not done.size or done.attempted_at is None or done.finished_at is None:
        return []
    pace = max(0.0, (done.finished_at - done.attempted_at).total_seconds()) / done.size
    now = timezone.now()
    moved = []
    waiting = BatchChunk.objects.filter(
        job_id=done.job_id, state=BatchChunk.State.UNKNOWN, reconciled_at__isnull=True
    ).exclude(attempted_at__isnull=True)
    for chunk in waiting:
        look = max(now, chunk.attempted_at + timedelta(seconds=pace * chunk.size))
        if chunk.due_at is not None and look >= chunk.due_at:
            continue
        if BatchChunk.objects.filter(
            pk=chunk.pk, state=BatchChunk.State.UNKNOWN, reconciled_at__isnull=True
        ).update(due_at=look):
            moved.append((chunk.pk, look))
    return moved


def reconcile_holds_release(*, node: str, instance: str) -> int:
    """At a worker's start: readings that an earlier run of the same node was making when it was
    killed hold their chunks no more, so that they are read again now rather than when the hold
    runs out. Returns how many were let go."""
    released = 0
    for chunk_id in BatchChunk.objects.filter(state=BatchChunk.State.UNKNOWN).values_list("pk", flat=True):
        holder = cache.get(_hold_key(chunk_id))
        if isinstance(holder, str) and holder.startswith(f"{node} ") and holder != f"{node} {instance}":
            cache.delete(_hold_key(chunk_id))
            released += 1
    return released


def _reconcile(chunk: BatchChunk, client: zerotouch.Client, *, settled_at: datetime) -> ReconcileResult:
    items = chunk_items(chunk)
    intents = [intent_of(chunk.job, item, phase=chunk.phase) for item in items]
    reading = _Reading(client)
    try:
        verdicts = reading.verdicts(intents)
    except zerotouch.ZeroTouchError as exc:
        retry_at = timezone.now() + backoff(3)
        update_chunk(chunk, due_at=retry_at, last_error=str(exc))
        return ReconcileResult(settled=False, next_in=(retry_at - timezone.now()).total_seconds())
    finally:
        _count_calls(chunk, reading.calls)
    pairs = list(zip(items, verdicts, strict=True))
    decided = [(item, verdict) for item, verdict in pairs if not verdict.send_again]
    undecided = [item for item, verdict in pairs if verdict.send_again]
    early = bool(undecided) and timezone.now() < settled_at
    recorded = record_outcomes(
        chunk,
        [item for item, _ in decided],
        [verdict for _, verdict in decided],
        expect=BatchChunk.State.UNKNOWN,
        resend=[] if early else undecided,
        open_until=settled_at if early else None,
    )
    if early and recorded:  # a running operation could still change these: read them once settled
        return ReconcileResult(settled=False, next_in=(settled_at - timezone.now()).total_seconds())
    return ReconcileResult(settled=recorded)


def _count_calls(chunk: BatchChunk, calls: int) -> None:
    BatchChunk.objects.filter(pk=chunk.pk).update(
        reconcile_calls=F("reconcile_calls") + calls, reconciled_at=timezone.now()
    )


def _identifier_keys(identifier: zerotouch.DeviceIdentifier | None) -> set[tuple[str, ...]]:
    """The keys a device is found by: its IMEIs and MEIDs, and its serial number with manufacturer
    (serial numbers compare without case, as zero-touch compares them)."""
    if identifier is None:
        return set()
    keys = {("imei", value) for value in (identifier.imei, identifier.imei2) if value}
    keys |= {("meid", value.upper()) for value in (identifier.meid, identifier.meid2) if value}
    if identifier.serial_number:
        keys.add(("serial", identifier.serial_number.lower(), (identifier.manufacturer or "").lower()))
    return keys


def _listed_owner(intent: Intent) -> int | None:
    """The customer whose zero-touch listing shows this change's outcome (None: read the device
    itself). A change in SIM lock is read device by device: the cache does not count a customer's
    SIM-lock claims, so what their listing would cost cannot be weighed against that."""
    if intent.chrome_os or intent.section_type != SectionType.ZERO_TOUCH:
        return None
    return intent.customer_id


class _Reading:
    """One reading of a chunk's devices: each device's verdict, and the API calls it took."""

    def __init__(self, client: zerotouch.Client):
        self.client = client
        self.partner_id = str(client.partner_id)
        self.calls = 0
        self._counting = threading.Lock()  # single-device reads run in threads

    def verdicts(self, intents: list[Intent]) -> list[Verdict]:
        owners = {owner for intent in intents if (owner := _listed_owner(intent)) is not None}
        listed = [index for index, intent in enumerate(intents) if _listed_owner(intent) is not None]
        verdicts: list[Verdict | None] = [None] * len(intents)
        if owners and self._listing_pays(owners, intents, len(listed)):
            found = self._find_in_listing(owners, [intents[index] for index in listed])
            for index, device in zip(listed, found, strict=True):
                verdict = self._verdict_from_listing(intents[index], device)
                if verdict is not None:
                    verdicts[index] = verdict
        alone = [index for index, verdict in enumerate(verdicts) if verdict is None]
        for index, device in zip(alone, self._read_each([intents[index] for index in alone]), strict=True):
            verdicts[index] = verdict_of_state(intents[index], device, partner_id=self.partner_id)
        return verdicts

    def _listing_pays(self, owners: set[int], intents: list[Intent], listed: int) -> bool:
        """Whether listing the owners' devices costs fewer calls than reading the devices one by one.
        A claim's devices may have joined the listing since the cache counted it."""
        arriving = listed if intents[0].action == Action.CLAIM else 0
        pages = math.ceil((claimed_count(owners, cap=listed * PAGE_SIZE) + arriving) / PAGE_SIZE)
        return max(1, pages) < listed

    def _find_in_listing(self, owners: set[int], intents: list[Intent]) -> list[zerotouch.Device | None]:
        """Each intent's device as the owners' zero-touch listing shows it (None: not in the listing)."""
        wanted_ids = {intent.device_id: index for index, intent in enumerate(intents) if intent.device_id}
        wanted_keys = {
            key: index
            for index, intent in enumerate(intents)
            if not intent.device_id
            for key in _identifier_keys(intent.identifier)
        }
        found: list[zerotouch.Device | None] = [None] * len(intents)
        pager = self.client.devices_find_by_owner(
            customer_ids=sorted(owners), section_type=SectionType.ZERO_TOUCH, page_size=PAGE_SIZE
        )
        for page in pager.pages():
            self.calls += 1
            for device in page.items():
                index = wanted_ids.get(int(device.device_id))
                if index is None:
                    keys = _identifier_keys(device.identifier) & wanted_keys.keys()
                    index = wanted_keys[min(keys)] if keys else None
                if index is not None:
                    found[index] = device
        return found

    def _verdict_from_listing(self, intent: Intent, device: zerotouch.Device | None) -> Verdict | None:
        """The verdict the listing of the customer gives (None: it cannot tell; read the device)."""
        if device is not None:
            return verdict_of_state(intent, device, partner_id=self.partner_id)
        if intent.action == Action.CLAIM:  # not claimed for this customer: send the claim again
            return Verdict(succeeded=False, device_id=intent.device_id, send_again=True)
        if intent.action == Action.UNCLAIM and intent.device_id:  # no longer this customer's
            return Verdict(succeeded=True, device_id=intent.device_id)
        return None  # a metadata change of a device the customer no longer holds: read it

    def _read_each(self, intents: Iterable[Intent]) -> list[zerotouch.Device | None]:
        intents = list(intents)
        if not intents:
            return []
        with ThreadPoolExecutor(max_workers=min(READERS, len(intents))) as pool:
            return list(pool.map(self._read_one, intents))

    def _read_one(self, intent: Intent) -> zerotouch.Device | None:
        with self._counting:
            self.calls += 1
        if intent.device_id:
            try:
                return self.client.devices_get(device_id=intent.device_id)
            except zerotouch.NotFound:
                return None
        try:
            found = self.client.devices_find_by_identifier(identifier=intent.identifier, page_size=1)
            return next(iter(found), None)
        except zerotouch.InvalidArgument:
            return None  # an identifier zero-touch does not accept names no device
