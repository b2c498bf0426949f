"""Batch jobs from the first upload to the last result: pre-flight, confirmation, submission, polling,
reconciliation after a lost answer, cancellation and retry.

Pages, the ``zt_batch`` command and the Celery tasks all call these functions; only they call the API.
Every step that sends a request first commits what it is about to do (a chunk ``submitting``), and
every answer is stored in the transaction that records what it means, so that a worker killed at any
moment leaves a state the sweeper (``batches_sweep``) can carry on from without sending anything twice
blindly.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import BinaryIO

import psycopg
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

import zerotouch
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.parsing import FileRefused, Limits, ParsedRow, ignored_columns, parse_csv, parse_pasted
from batches.preflight import (
    CUSTOMER_AT,
    ITEM_COLUMNS,
    MESSAGE_AT,
    STATE_AT,
    SUGGESTION_AT,
    Checker,
    checked_blocks,
    cycle_collector_paused,
    items_of,
)
from batches.selectors import RETRY_MAY_CHANGE, customer_names, retry_plan
from customers.models import Customer
from devices.bulk import devices_record_batch
from devices.changes import (
    Action,
    Intent,
    Verdict,
    send_async,
    verdict_of_error,
    verdict_of_result,
    verdict_of_state,
)
from devices.failures import change_failed_sentence
from devices.selectors import owners_of
from portal.api import zerotouch_client
from portal.models import AuditEvent
from portal.roles import Role, user_roles
from portal.services import audit_record

logger = logging.getLogger(__name__)

ACTIVE_CHUNKS = (
    BatchChunk.State.PENDING,
    BatchChunk.State.SUBMITTING,
    BatchChunk.State.SUBMITTED,
    BatchChunk.State.UNKNOWN,
)


class BatchRefused(Exception):
    """The job cannot do what was asked (confirm a finished job, retry with nothing to retry...)."""


# --- Pre-flight and confirmation (the person's side) --------------------------------------------------


def job_create(
    *,
    action: str,
    rows: Iterable[ParsedRow],
    actor: AbstractBaseUser | None,
    customer: Customer | None = None,
    source: str = BatchJob.Source.FILE,
    source_name: str = "",
    retry_of: BatchJob | None = None,
    any_owner: bool = False,
    vacation_mode_days: int | None = None,
    vacation_mode_until: datetime | None = None,
) -> BatchJob:
    """Check every row and keep the job as a draft with one item per row, awaiting confirmation.

    Nothing is sent. ``rows`` may raise ``batches.parsing.FileRefused`` part way through: then nothing
    is kept and the refusal goes to the caller. A claim or an unclaim whose rows name no customer
    needs one chosen (``CustomerNeeded``); an unclaim from whoever holds each device is the explicit
    ``any_owner``.
    """
    unclaim = action == BatchJob.Action.UNCLAIM
    rows = iter(rows)
    first = next(rows, None)  # the header is read: a file refused whole is refused before any job
    _check_customer_named(first, action=action, customer=customer, any_owner=any_owner)
    rows = chain([first], rows) if first is not None else rows
    with transaction.atomic(), cycle_collector_paused():
        job = BatchJob.objects.create(
            action=action,
            source=source,
            source_name=source_name[:255],
            created_by=actor if actor is not None and actor.is_authenticated else None,
            created_by_name=actor.get_username() if actor is not None and actor.is_authenticated else "",
            customer=customer,
            retry_of=retry_of,
            chunk_size=settings.ZT_BATCH_CHUNK_SIZE,
            any_owner=any_owner and unclaim,
            vacation_mode_days=vacation_mode_days if unclaim else None,
            vacation_mode_until=vacation_mode_until if unclaim else None,
            ignored_columns=ignored_columns(first.raw) if first is not None else [],
        )
        checker = Checker(action=action, customer=customer, any_owner=any_owner)
        counts = Counter()
        customers = set()
        blocks = checked_blocks(rows, checker=checker)
        block = next(blocks, None)
        while block is not None:
            items = items_of(checker, block, job_id=job.pk)
            counts.update(map(itemgetter(STATE_AT), items))
            customers.update(item[CUSTOMER_AT] for item in items if item[STATE_AT] == BatchItem.State.PENDING)
            with _item_writer() as write:
                write(items)
                # The next rows are read and checked while the database takes these in. Reading and
                # checking make no query: the connection is busy with these rows until the block ends.
                block = next(blocks, None)
        job.rows = counts.total()
        job.ready = counts[BatchItem.State.PENDING]
        job.invalid = counts[BatchItem.State.INVALID]
        job.skipped = counts[BatchItem.State.SKIPPED]
        job.customers = len(customers - {None})
        job.save(update_fields=["rows", "ready", "invalid", "skipped", "customers"])
        audit_record(
            actor=actor,
            action="batch.create",
            target=job,
            details={
                "rows": job.rows,
                "ready": job.ready,
                "invalid": job.invalid,
                "skipped": job.skipped,
                "source": source,
                **({"retry_of": retry_of.pk} if retry_of is not None else {}),
            },
        )
    return job


class CustomerNeeded(FileRefused):
    """The rows name no customer and none was chosen: a refusal about the form's customer field."""


def _check_customer_named(
    first: ParsedRow | None, *, action: str, customer: Customer | None, any_owner: bool
) -> None:
    """Refuse, before any job exists, rows that need a customer nobody named: a claim (for whom?) or
    an unclaim (from whom?) whose file has no customer column (Google's ``owner``)."""
    if first is None:
        return
    needs = action == BatchJob.Action.CLAIM or (action == BatchJob.Action.UNCLAIM and not any_owner)
    if needs and customer is None and "customer_id" not in first.fields:
        if action == BatchJob.Action.CLAIM:
            raise CustomerNeeded("Choose the customer the devices are claimed for.")
        raise CustomerNeeded(
            'Choose the customer the devices are unclaimed from, or tick "Unclaim from whichever '
            'customer holds each device".'
        )


@contextmanager
def _item_writer() -> Iterator[Callable[[list[tuple]], None]]:
    """A writer of items given as ``batches.preflight.ITEM_COLUMNS`` tuples, rather than dictionaries
    (this runs for every row of every file).

    PostgreSQL: one ``COPY`` on the connection's own transaction (through psycopg, as Django has no
    COPY), sent by a thread of psycopg's so that the caller carries on with its own work while the
    server takes the rows in; they are all stored when the block ends. SQLite: one prepared statement
    run per row.
    """
    quote = connection.ops.quote_name
    table = quote(BatchItem._meta.db_table)
    columns = ", ".join(quote(BatchItem._meta.get_field(name).column) for name in ITEM_COLUMNS)
    if connection.vendor != "postgresql":
        placeholders = ", ".join(["%s"] * len(ITEM_COLUMNS))
        with connection.cursor() as cursor:
            yield partial(cursor.executemany, f"INSERT INTO {table} ({columns}) VALUES ({placeholders})")  # noqa: S608
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        statement = f"COPY {table} ({columns}) FROM STDIN"
        with cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:

            def write(items: list[tuple]) -> None:
                for item in items:
                    copy.write_row(item)

            yield write


def job_from_input(
    *,
    action: str,
    mode: str,
    customer: Customer | None,
    actor: AbstractBaseUser | None,
    upload: BinaryIO | None = None,
    upload_name: str = "",
    text: str = "",
    any_owner: bool = False,
    vacation_mode_days: int | None = None,
    vacation_mode_until: datetime | None = None,
) -> BatchJob:
    """A checked job from what a person gave: a CSV file (``mode`` "file"), pasted lines ("paste") or
    scanned codes ("scan", one per line). Raises ``FileRefused`` for input that cannot be read."""
    limits = Limits(max_bytes=settings.ZT_BATCH_MAX_BYTES, max_rows=settings.ZT_BATCH_MAX_ROWS)
    if mode == "file":
        if upload is None:
            raise FileRefused("Choose a CSV file.")
        rows, source = parse_csv(upload, limits=limits, name=upload_name), BatchJob.Source.FILE
    else:
        rows = parse_pasted(text, limits=limits)
        source = BatchJob.Source.SCAN if mode == "scan" else BatchJob.Source.PASTE
    return job_create(
        action=action,
        rows=rows,
        actor=actor,
        customer=customer,
        source=source,
        source_name=upload_name,
        any_owner=any_owner,
        vacation_mode_days=vacation_mode_days,
        vacation_mode_until=vacation_mode_until,
    )


@dataclass(frozen=True)
class ScanCheck:
    """One scanned code, checked: "ready", "skip" (nothing to do) or "error", and why; with the
    manufacturer and model its row keeps (a serial number's; an IMEI or a MEID is known without)."""

    status: str
    message: str
    suggestion: str = ""
    manufacturer: str = ""
    model: str = ""


# The rules speak to someone fixing a file ("a spreadsheet dropped the leading zero", "format the column
# as text"); on the scan page a code is fixed by scanning it again. Each sentence of the rules holding the
# phrase on the left is said as on the right (formatted with the scanned code and the row as read).
_SCAN_SENTENCES = (
    (
        "scientific notation",
        "{code} is a number in scientific notation, not an IMEI: scan the barcode marked IMEI on the device "
        "or its box.",
    ),
    (
        "IMEI whose leading zero",
        "{imei} has 14 digits: the scan missed a digit, or this IMEI lost its leading zero; scan it again.",
    ),
    (
        "MEID whose leading zero",
        "{meid} has 13 characters: the scan missed one, or this MEID lost its leading zero; scan it again.",
    ),
    (
        "An IMEI is 15 digits",
        "{code} is not an IMEI (15 digits): it may be another barcode of the box, such as the product code "
        "or the IMEI SV; scan the one marked IMEI.",
    ),
    (
        "template's example row",
        "This is the example IMEI of the portal's templates, not a device: scan the device's own barcode.",
    ),
    (
        "serial number needs the",
        "A serial number needs its manufacturer and model: type them above, then scan it again.",
    ),
    (
        "Give an order number or a phone number",
        "A scan gives no order or phone number: set them with an uploaded file or pasted CSV instead.",
    ),
)


def scan_check(
    *,
    code: str,
    action: str,
    customer: Customer | None,
    manufacturer: str = "",
    model: str = "",
    any_owner: bool = False,
) -> ScanCheck:
    """Check one scanned code at once, with the rules and against the cache, as the job's row will be.

    The code is read as the scan page submits it, an ``identifier`` cell classified by its shape. Only
    a serial number takes the ``manufacturer`` and ``model`` typed beside the scan box: zero-touch
    knows a serial number by all three, while an IMEI or a MEID names the device alone, and a make
    left filled in from the last box must not be sent with another maker's IMEI. The rules' sentences
    are given as a scanner's (``_SCAN_SENTENCES``); what uploads and pastes say does not change.
    """
    checker = Checker(action=action, customer=customer, any_owner=any_owner)
    fields = {"identifier": code}
    candidate = checker.check(ParsedRow(number=1, fields=fields, raw=fields))
    if candidate.serial_number and (manufacturer or model):
        # A serial number alone fails the rules, so this first check left nothing in the checker.
        fields = {"identifier": code, "manufacturer": manufacturer, "model": model}
        candidate = checker.check(ParsedRow(number=1, fields=fields, raw=fields))
    [item] = items_of(checker, [candidate], job_id=0)
    kept = {"manufacturer": candidate.manufacturer, "model": candidate.model}
    if item[STATE_AT] == BatchItem.State.INVALID:
        values = {"code": code, "imei": candidate.imei, "meid": candidate.meid}
        sentences = (
            next((said.format(**values) for phrase, said in _SCAN_SENTENCES if phrase in error), error)
            for error in candidate.errors
        )
        message = " ".join(dict.fromkeys(sentences))  # manufacturer and model missing: said once
        return ScanCheck("error", message, item[SUGGESTION_AT], **kept)
    if item[STATE_AT] == BatchItem.State.SKIPPED:
        return ScanCheck("skip", item[MESSAGE_AT], **kept)
    return ScanCheck("ready", "Ready.", **kept)


def _check_draft_owner(job: BatchJob, actor: AbstractBaseUser | None, doing: str) -> None:
    """A draft is its creator's to send or discard (admins may too): another salesperson who opens its
    page sees it, but cannot act on someone else's check."""
    if actor is None or job.created_by_id is None or job.created_by_id == actor.pk:
        return
    if Role.ADMINS in user_roles(actor):
        return
    audit_record(
        actor=actor,
        action=f"batch.{doing}",
        target=job,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"refused": "not the creator's"},
    )
    raise BatchRefused(
        f"This check is {job.created_by_name}'s: only they (or an admin) can {doing} it. "
        "Start a new batch with the same file to send it yourself."
    )


def job_confirm(*, job: BatchJob, actor: AbstractBaseUser | None) -> BatchJob:
    """Send a checked job: its ready items are cut into chunks and the submission is queued."""
    from batches import tasks  # the tasks module imports this one

    _check_draft_owner(job, actor, "confirm")
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(pk=job.pk).first()
        if job is None:
            raise BatchRefused("This check was purged after its retention: upload the file again.")
        if job.state != BatchJob.State.DRAFT:
            raise BatchRefused(f"This job is {job.get_state_display().lower()}; it cannot be sent again.")
        if not job.ready:
            raise BatchRefused("No row of this job is ready to send.")
        _cut_into_chunks(job)
        job.state = BatchJob.State.QUEUED
        job.submitted_at = timezone.now()
        job.save(update_fields=["state", "submitted_at"])
        audit_record(
            actor=actor,
            action=f"batch.{job.action}",
            target=job,
            details={"rows": job.rows, "ready": job.ready, "invalid": job.invalid, "skipped": job.skipped},
        )
        tasks.submit_job.delay_on_commit(job.pk)
    return job


def _cut_into_chunks(job: BatchJob, *, item_ids: list[int] | None = None) -> list[BatchChunk]:
    """Put the job's waiting items (or ``item_ids``) into new chunks of ``chunk_size``, in row order."""
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
        chunk = BatchChunk.objects.create(job=job, number=last + 1 + len(chunks), size=len(ids))
        BatchItem.objects.filter(id__in=ids).update(chunk=chunk, state=BatchItem.State.PENDING)
        chunks.append(chunk)
    return chunks


def job_discard(*, job: BatchJob, actor: AbstractBaseUser | None) -> None:
    """Drop a checked job that will not be sent (its rows are purged after the drafts' retention)."""
    _check_draft_owner(job, actor, "discard")
    with transaction.atomic():
        updated = BatchJob.objects.filter(pk=job.pk, state=BatchJob.State.DRAFT).update(
            state=BatchJob.State.DISCARDED, finished_at=timezone.now()
        )
        if not updated:
            raise BatchRefused("Only a job that was not sent can be discarded.")
        audit_record(actor=actor, action="batch.discard", target=job, details={"rows": job.rows})


@dataclass(frozen=True)
class Cancellation:
    """What a cancel did: rows cancelled before they were sent, and rows already sent, which finish."""

    cancelled: int
    already_sent: int

    @property
    def sentence(self) -> str:
        if not self.cancelled:
            return f"Nothing left to cancel: all {self.already_sent:,} rows were already sent."
        sent = f"; {self.already_sent:,} already sent finish" if self.already_sent else ""
        return f"Cancelled {self.cancelled:,} row{'s' if self.cancelled != 1 else ''} not sent yet{sent}."


def job_cancel(*, job: BatchJob, actor: AbstractBaseUser | None) -> Cancellation:
    """Cancel the job's chunks not sent yet; chunks already sent run to their end. The audit row and
    the answer say how many rows were cancelled, and that nothing was when every row had been sent."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job.pk)
        if job.state not in (BatchJob.State.QUEUED, BatchJob.State.RUNNING):
            raise BatchRefused(
                f"This job is {job.get_state_display().lower()}: only a job that is queued or running "
                "can be cancelled."
            )
        chunks = list(
            job.chunks.select_for_update().filter(state=BatchChunk.State.PENDING).values_list("id", flat=True)
        )
        BatchChunk.objects.filter(id__in=chunks).update(
            state=BatchChunk.State.CANCELLED, finished_at=timezone.now()
        )
        cancelled = BatchItem.objects.filter(chunk_id__in=chunks, state=BatchItem.State.PENDING).update(
            state=BatchItem.State.CANCELLED, message="Cancelled before it was sent."
        )
        BatchJob.objects.filter(pk=job.pk).update(cancelled=F("cancelled") + cancelled)
        result = Cancellation(cancelled=cancelled, already_sent=job.ready - job.cancelled - cancelled)
        audit_record(
            actor=actor,
            action="batch.cancel",
            target=job,
            outcome=AuditEvent.Outcome.SUCCESS if cancelled else AuditEvent.Outcome.NO_OP,
            details={"items_cancelled": cancelled, "items_already_sent": result.already_sent},
        )
        _finish_if_done(job.pk)
    return result


def job_retry_failed(*, job: BatchJob, actor: AbstractBaseUser | None) -> BatchJob:
    """A new checked job from the items that failed for a reason a retry can change (a temporary
    problem, an outcome left open, a limit): checked again against today's cache, awaiting
    confirmation. Failures the same request would meet again (another customer's device, not the
    reseller's, an invalid identifier...) stay out: ``retry_plan`` says how many and why."""
    failed = job.items.filter(state=BatchItem.State.FAILED, failure_kind__in=RETRY_MAY_CHANGE).order_by(
        "row_number"
    )
    if not failed.exists():
        plan = retry_plan(job)
        raise BatchRefused(
            f"Nothing to retry: {plan.left_out_sentence}" if plan.left_out else "No row of this job failed."
        )
    rows = (
        ParsedRow(
            number=item.row_number,
            fields={
                "imei": item.imei,
                "meid": item.meid,
                "serial_number": item.serial_number,
                "manufacturer": item.manufacturer,
                "model": item.model,
                "customer_id": str(item.customer_id or ""),
                **item.metadata,
            },
            raw=item.raw,
        )
        for item in failed.iterator(chunk_size=2000)
    )
    retry = job_create(
        action=job.action,
        rows=rows,
        actor=actor,
        customer=job.customer,
        source=BatchJob.Source.RETRY,
        source_name=job.source_name,
        retry_of=job,
        any_owner=job.any_owner,
        vacation_mode_days=job.vacation_mode_days,
        vacation_mode_until=job.vacation_mode_until,
    )
    audit_record(
        actor=actor,
        action="batch.retry",
        target=job,
        details={"new_job": retry.pk, "rows": retry.rows, "left_out": retry_plan(job).left_out},
    )
    return retry


# --- Submission (the worker's side) -----------------------------------------------------------------


def _client() -> zerotouch.Client:
    return zerotouch_client()  # the batch lane: long deadline, below people in priority


def _intent(job: BatchJob, item: BatchItem) -> Intent:
    """The change a row asks for, as the one path of a device change takes it (``devices.changes``)."""
    return Intent(
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
        metadata=item.metadata,
        vacation_mode_days=job.vacation_mode_days,
        vacation_mode_until=job.vacation_mode_until,
    )


def _chunk_items(chunk: BatchChunk) -> list[BatchItem]:
    """The chunk's items still waiting for an outcome, in the order their request lists them (rows the
    last check before sending skipped are not in the request)."""
    return list(chunk.items.filter(state=BatchItem.State.PENDING).order_by("row_number", "id"))


def _skip_moved_devices(job: BatchJob, chunk: BatchChunk) -> int:
    """The last check before a chunk of unclaims or metadata changes is sent: a device the cache now
    shows held by another customer than the pre-flight saw (someone claimed, unclaimed or moved it
    meanwhile) is skipped with that reason, so the request never touches a device nobody asked to
    change. Runs in the transaction that marks the chunk ``submitting``; returns the rows skipped."""
    if job.action == BatchJob.Action.CLAIM:
        return 0
    items = list(
        chunk.items.filter(state=BatchItem.State.PENDING, device_id__isnull=False).only(
            "id", "device_id", "customer_id"
        )
    )
    owners = owners_of([item.device_id for item in items])
    moved = [
        item for item in items if item.device_id in owners and owners[item.device_id] != item.customer_id
    ]
    if not moved:
        return 0
    names = customer_names({item.customer_id for item in moved} | {owners[i.device_id] for i in moved})

    def name(company_id: int | None) -> str:
        return names.get(company_id, f"customer id {company_id}")

    for item in moved:
        now = owners[item.device_id]
        if now is None:
            item.message = f"Unclaimed since the check (it was {name(item.customer_id)}'s): left as it is."
        elif item.customer_id is None:
            item.message = f"Claimed by {name(now)} since the check: left as it is."
        else:
            item.message = (
                f"Claimed by {name(now)} since the check, not by {name(item.customer_id)}: left as it is."
            )
        item.state = BatchItem.State.SKIPPED
    BatchItem.objects.bulk_update(moved, ["state", "message"], batch_size=500)
    BatchJob.objects.filter(pk=job.pk).update(
        ready=F("ready") - len(moved), skipped=F("skipped") + len(moved)
    )
    return len(moved)


def settle_seconds(size: int) -> float:
    """How long an operation of ``size`` devices may still be changing devices after it was sent."""
    return settings.ZT_BATCH_SETTLE_SECONDS + size * settings.ZT_BATCH_SETTLE_SECONDS_PER_DEVICE


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** min(attempts, 9)))


def chunk_submit_next(job_id: int, *, client: zerotouch.Client | None = None) -> BatchChunk | None:
    """Send the job's next chunk that is due, if any; returns it (submitted, back to waiting, or with
    its answer lost), or None when nothing is due.

    The chunk is marked ``submitting`` and committed before the request leaves; the operation's name
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
        items = _chunk_items(chunk)
        if not items:  # every row of it was skipped: nothing to send
            _update_chunk(
                chunk, state=BatchChunk.State.DONE, progress=100, finished_at=now, due_at=None, last_error=""
            )
            _finish_if_done(job_id)
            return chunk
        chunk.state, chunk.attempted_at, chunk.attempts = BatchChunk.State.SUBMITTING, now, chunk.attempts + 1
        chunk.save(update_fields=["state", "attempted_at", "attempts"])
        BatchJob.objects.filter(pk=job_id, state=BatchJob.State.QUEUED).update(state=BatchJob.State.RUNNING)
    client = client or _client()
    try:
        operation = send_async(client, [_intent(job, item) for item in items])
    except zerotouch.OutcomeUnknown as exc:
        # The request may have started an operation the portal cannot name: find out from the devices
        # once whatever it did has settled.
        logger.warning("batch %s chunk %s: answer lost (%s); reconciling later", job_id, chunk.number, exc)
        _update_chunk(
            chunk,
            state=BatchChunk.State.UNKNOWN,
            due_at=timezone.now() + timedelta(seconds=settle_seconds(len(items))),
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
            _update_chunk(
                chunk,
                state=BatchChunk.State.PENDING,
                due_at=timezone.now() + _backoff(chunk.attempts),
                last_error=change_failed_sentence(exc, "sending the batch"),
            )
        return chunk
    with transaction.atomic():
        _update_chunk(
            chunk,
            state=BatchChunk.State.SUBMITTED,
            operation_name=operation.name,
            submitted_at=timezone.now(),
            due_at=timezone.now() + timedelta(seconds=settings.ZT_BATCH_POLL_MIN_SECONDS),
            last_error="",
        )
    return chunk


def _update_chunk(chunk: BatchChunk, **changes) -> None:
    for name, value in changes.items():
        setattr(chunk, name, value)
    chunk.save(update_fields=list(changes))


def _fail_chunk(chunk: BatchChunk, items: list[BatchItem], exc: zerotouch.ZeroTouchError) -> None:
    job = chunk.job
    _record_outcomes(
        chunk, items, [verdict_of_error(exc, _intent(job, item), "the batch request") for item in items]
    )


# --- Results --------------------------------------------------------------------------------------


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
    client = client or _client()
    try:
        operation = client.operations_get(name=chunk.operation_name)
    except zerotouch.ZeroTouchError as exc:
        delay = settings.ZT_BATCH_POLL_MAX_SECONDS
        logger.warning("batch %s chunk %s: poll failed (%s)", chunk.job_id, chunk.number, exc)
        _update_chunk(chunk, due_at=timezone.now() + timedelta(seconds=delay), last_error=str(exc))
        return PollResult(done=False, next_poll_in=delay)
    if not operation.done:
        progress = operation.metadata.progress if operation.metadata and operation.metadata.progress else 0
        submitted = chunk.submitted_at
        elapsed = None if submitted is None else (timezone.now() - submitted).total_seconds()
        delay = operation.next_poll_in(
            elapsed, minimum=settings.ZT_BATCH_POLL_MIN_SECONDS, maximum=settings.ZT_BATCH_POLL_MAX_SECONDS
        )
        _update_chunk(
            chunk, progress=progress, due_at=timezone.now() + timedelta(seconds=delay), last_error=""
        )
        return PollResult(done=False, next_poll_in=delay)
    _apply_operation(chunk, operation)
    return PollResult(done=True, next_poll_in=None)


def _apply_operation(chunk: BatchChunk, operation: zerotouch.Operation) -> None:
    items = _chunk_items(chunk)
    results = list(operation.results)
    job = chunk.job
    verdicts = [
        verdict_of_result(_intent(job, item), results[index] if index < len(results) else None)
        for index, item in enumerate(items)
    ]
    _record_outcomes(chunk, items, verdicts, expect=BatchChunk.State.SUBMITTED)


def _record_outcomes(
    chunk: BatchChunk,
    items: list[BatchItem],
    verdicts: list[Verdict],
    *,
    expect: str | None = None,
    resend: list[BatchItem] = (),
) -> bool:
    """Store a chunk's verdicts: items, the devices' cache and history, the job's counts, in one
    transaction that holds the chunk, so that outcomes are recorded once however often they arrive.
    Items in ``resend`` go back to waiting in a new chunk."""
    job = chunk.job
    with transaction.atomic():
        locked = BatchChunk.objects.select_for_update().get(pk=chunk.pk)
        if expect is not None and locked.state != expect:
            return False
        if locked.state in (BatchChunk.State.DONE, BatchChunk.State.CANCELLED):
            return False
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
            changes=[(_intent(job, item), verdict) for item, verdict in zip(items, verdicts, strict=True)],
            actor=job.created_by,
            batch_id=job.pk,
            reseller_id=int(settings.ZT_PARTNER_ID),
        )
        succeeded = sum(1 for verdict in verdicts if verdict.succeeded)
        BatchJob.objects.filter(pk=job.pk).update(
            succeeded=F("succeeded") + succeeded, failed=F("failed") + len(verdicts) - succeeded
        )
        if resend:
            BatchItem.objects.filter(id__in=[item.id for item in resend]).update(chunk=None)
            _cut_into_chunks(job, item_ids=[item.id for item in resend])
        _update_chunk(
            locked, state=BatchChunk.State.DONE, progress=100, finished_at=timezone.now(), due_at=None
        )
        _finish_if_done(job.pk)
    return True


def _finish_if_done(job_id: int) -> None:
    """A job whose chunks have all ended is finished (cancelled, if any were cancelled)."""
    if BatchChunk.objects.filter(job_id=job_id, state__in=ACTIVE_CHUNKS).exists():
        return
    job = BatchJob.objects.get(pk=job_id)
    if job.state in (BatchJob.State.QUEUED, BatchJob.State.RUNNING):
        job.state = BatchJob.State.CANCELLED if job.cancelled else BatchJob.State.DONE
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "finished_at"])


# --- A lost answer: reading the devices instead ---------------------------------------------------


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
                    client.devices_find_by_identifier(identifier=_intent(job, item).identifier, page_size=1)
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
    items = _chunk_items(chunk)
    client = client or _client()
    try:
        observed = {str(key): value for key, value in _read_devices(client, chunk.job, items).items()}
    except zerotouch.ZeroTouchError as exc:
        _update_chunk(chunk, due_at=timezone.now() + _backoff(3), last_error=str(exc))
        return False
    if observed != chunk.observed:
        _update_chunk(
            chunk,
            observed=observed,
            due_at=timezone.now() + timedelta(seconds=settle_seconds(len(items))),
        )
        return False
    decided, verdicts, resend = [], [], []
    for item in items:
        device = zerotouch.Device.from_json(observed[str(item.id)]) if observed[str(item.id)] else None
        verdict = verdict_of_state(_intent(chunk.job, item), device, partner_id=str(client.partner_id))
        if verdict.send_again:
            resend.append(item)
        else:
            decided.append(item)
            verdicts.append(verdict)
    return _record_outcomes(chunk, decided, verdicts, expect=BatchChunk.State.UNKNOWN, resend=resend)


# --- The sweeper: carrying on after crashes and lost messages ----------------------------------------


@dataclass
class Sweep:
    submit: list[int]  # job ids with chunks due to be sent
    poll: list[int]  # chunk ids whose poll is overdue
    reconcile: list[int]  # chunk ids due to be reconciled
    marked_unknown: int = 0


def batches_sweep(*, now: datetime | None = None) -> Sweep:
    """What needs doing that no task is on its way to do: chunks left ``submitting`` by a killed
    worker become ``unknown`` (to be reconciled); due sends, overdue polls and due reconciliations are
    listed for the caller to enqueue."""
    now = now or timezone.now()
    stuck_before = now - timedelta(seconds=settings.ZT_BATCH_DEADLINE + settings.ZT_BATCH_SETTLE_SECONDS)
    stuck = BatchChunk.objects.filter(state=BatchChunk.State.SUBMITTING, attempted_at__lt=stuck_before)
    marked = 0
    for chunk in stuck:
        marked += BatchChunk.objects.filter(pk=chunk.pk, state=BatchChunk.State.SUBMITTING).update(
            state=BatchChunk.State.UNKNOWN,
            due_at=chunk.attempted_at + timedelta(seconds=settle_seconds(chunk.size)),
            last_error="The worker stopped while sending this chunk.",
        )
    overdue = now - timedelta(seconds=settings.ZT_BATCH_POLL_MAX_SECONDS)
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
