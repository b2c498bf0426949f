"""A batch job's first step: the rows a person gave (a file, pasted lines, scans) checked, stored as a
draft with one item per row, and a scanned code checked on its own. Nothing is sent from here."""

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from batches.models import BatchItem, BatchJob
from batches.parsing import FileRefused, Limits, ParsedRow, ignored_columns, parse_csv, parse_pasted
from batches.preflight import (
    ITEM_COLUMNS,
    Checker,
    checked_blocks,
    cycle_collector_paused,
    items_of,
)
from core.audit import audit_record
from core.db import rows_writer
from customers.models import Customer
from devices.selectors import DeviceFilters, device_export


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
    from_customer: Customer | None = None,
) -> BatchJob:
    """Check every row and keep the job as a draft with one item per row, awaiting confirmation.

    Nothing is sent. ``rows`` may raise ``batches.parsing.FileRefused`` part way through: then nothing
    is kept and the refusal goes to the caller. A claim, a move or an unclaim whose rows name no
    customer needs one chosen (``CustomerNeeded``); an unclaim from whoever holds each device is the
    explicit ``any_owner``. A move goes to ``customer`` (or the rows' customer) from whoever holds each
    device, or only from ``from_customer`` when one is given.
    """
    unclaim = action == BatchJob.Action.UNCLAIM
    from_customer = from_customer if action == BatchJob.Action.MOVE else None
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
            from_customer=from_customer,
            retry_of=retry_of,
            chunk_size=settings.ZT_BATCH_CHUNK_SIZE,
            any_owner=any_owner and unclaim,
            vacation_mode_days=vacation_mode_days if unclaim else None,
            vacation_mode_until=vacation_mode_until if unclaim else None,
            ignored_columns=ignored_columns(first.raw, unread=_unread_columns(action))
            if first is not None
            else [],
        )
        checker = Checker(action=action, customer=customer, any_owner=any_owner, from_customer=from_customer)
        counts = Counter()
        customers = set()
        blocks = checked_blocks(rows, checker=checker)
        block = next(blocks, None)
        while block is not None:
            items = items_of(checker, block, job_id=job.pk)
            counts.update(item.state for item in items)
            customers.update(item.customer_id for item in items if item.state == BatchItem.State.PENDING)
            with rows_writer(BatchItem, ITEM_COLUMNS) as write:
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


def _unread_columns(action: str) -> tuple[str, ...]:
    """The portal's columns a job of ``action`` does not read: metadata belongs to the device, so a
    metadata job acts on it whatever section a row names (the preview lists those columns as ignored)."""
    if action == BatchJob.Action.METADATA:
        return ("section_type", "profiletype", "simlock_profile_id")
    return ()


class CustomerNeeded(FileRefused):
    """The rows name no customer and none was chosen: a refusal about the form's customer field."""


def _check_customer_named(
    first: ParsedRow | None, *, action: str, customer: Customer | None, any_owner: bool
) -> None:
    """Refuse, before any job exists, rows that need a customer nobody named: a claim (for whom?), a
    move (to whom?) or an unclaim (from whom?) whose file has no customer column (Google's ``owner``)."""
    if first is None:
        return
    needs = action in (BatchJob.Action.CLAIM, BatchJob.Action.MOVE) or (
        action == BatchJob.Action.UNCLAIM and not any_owner
    )
    if needs and customer is None and "customer_id" not in first.fields:
        if action == BatchJob.Action.CLAIM:
            raise CustomerNeeded("Choose the customer the devices are claimed for.")
        if action == BatchJob.Action.MOVE:
            raise CustomerNeeded("Choose the customer the devices move to.")
        raise CustomerNeeded(
            'Choose the customer the devices are unclaimed from, or tick "Unclaim from whichever '
            'customer holds each device".'
        )


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
    from_customer: Customer | None = None,
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
        from_customer=from_customer,
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
    from_customer: Customer | None = None,
) -> ScanCheck:
    """Check one scanned code at once, with the rules and against the cache, as the job's row will be.

    The code is read as the scan page submits it, an ``identifier`` cell classified by its shape. Only
    a serial number takes the ``manufacturer`` and ``model`` typed beside the scan box: zero-touch
    knows a serial number by all three, while an IMEI or a MEID names the device alone, and a make
    left filled in from the last box must not be sent with another maker's IMEI. The rules' sentences
    are given as a scanner's (``_SCAN_SENTENCES``); what uploads and pastes say does not change.
    """
    checker = Checker(action=action, customer=customer, any_owner=any_owner, from_customer=from_customer)
    fields = {"identifier": code}
    candidate = checker.check(ParsedRow(number=1, fields=fields, raw=fields))
    if candidate.serial_number and (manufacturer or model):
        # A serial number alone fails the rules, so this first check left nothing in the checker.
        fields = {"identifier": code, "manufacturer": manufacturer, "model": model}
        candidate = checker.check(ParsedRow(number=1, fields=fields, raw=fields))
    [item] = items_of(checker, [candidate], job_id=0)
    kept = {"manufacturer": candidate.manufacturer, "model": candidate.model}
    if item.state == BatchItem.State.INVALID:
        values = {"code": code, "imei": candidate.imei, "meid": candidate.meid}
        sentences = (
            next((said.format(**values) for phrase, said in _SCAN_SENTENCES if phrase in error), error)
            for error in candidate.errors
        )
        message = " ".join(dict.fromkeys(sentences))  # manufacturer and model missing: said once
        return ScanCheck("error", message, item.suggestion, **kept)
    if item.state == BatchItem.State.SKIPPED:
        return ScanCheck("skip", item.message, **kept)
    return ScanCheck("ready", "Ready.", **kept)


class TooManyDevices(Exception):
    """A search finds more devices than one batch takes."""


def devices_rows_text(filters: DeviceFilters, *, limit: int) -> str:
    """The devices ``filters`` find now (an order's, the ones a person ticked, a whole search), as
    pasted CSV lines a new batch starts from (identifier columns only: the person chooses the action
    and the customer, and the pre-flight checks every row as for any file). Raises
    ``TooManyDevices`` when more than ``limit`` devices match: a batch of some of them would leave
    the rest out in silence."""
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(["imei", "meid", "serial", "manufacturer", "model"])
    for count, row in enumerate(device_export(filters), start=1):
        if count > limit:
            raise TooManyDevices(
                f"More than {limit:,} devices match: one batch takes at most {limit:,}. Narrow the "
                "search (by customer, model or claim state) and start a batch for each part."
            )
        serial = "" if row.imei or row.meid else row.serial  # a serial only where nothing else names it
        writer.writerow([row.imei, row.meid, serial, row.manufacturer, row.model])
    return lines.getvalue()
