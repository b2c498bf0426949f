"""The emails of a job that ended (``batches.notices`` decides who gets one): written and sent by the
worker, each at most once.

``job_email_send`` takes the email's row for sending (``pending`` to ``sending``, committed) before it
writes the message, so that a second task for the same email, a redelivered message or the sweeper
finds it taken and sends nothing. A send the mail server refuses or cannot take (down, timed out) is
not a sent email: the row goes back to ``pending``, due again after a wait that doubles, up to
``MAX_ATTEMPTS`` tries; then it is ``failed``. Either end is recorded in the audit log. A worker that
dies while sending leaves the row ``sending``: whether the message left is unknown, and the sweeper
marks it failed after ``STUCK_AFTER`` rather than send a possible second copy.

Nothing here touches the job: an email that cannot be sent never changes what the job did.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from batches.models import BatchItem, JobEmail
from batches.notices import job_end_sentence, job_link
from core.audit import audit_record
from core.csv import csv_lines
from core.outcomes import Outcome
from customers.selectors import customer_get
from devices.models import SectionType

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
FIRST_RETRY_SECONDS = 60.0  # then 2, 4 and 8 minutes: about a quarter of an hour in all
STUCK_AFTER = timedelta(minutes=15)  # far beyond a send's timeout, and beyond the task's time limit
LOST_AFTER = timedelta(minutes=2)  # a pending email this late has lost its task's message
ORDERS_LISTED = 20

CSV_HEADER = ["IMEI", "MEID", "serial number", "manufacturer", "model", "order number"]


@dataclass(frozen=True)
class Sending:
    """What one try did: sent, or to be tried again in ``retry_in`` seconds (both empty: nothing to do,
    or given up)."""

    sent: bool = False
    retry_in: float | None = None


def retry_seconds(attempts: int) -> float:
    return FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)


def job_email_send(email_id: int) -> Sending:
    """Send one email about a job that ended, unless it was sent, is being sent or was given up."""
    taken = JobEmail.objects.filter(pk=email_id, state=JobEmail.State.PENDING).update(
        state=JobEmail.State.SENDING,
        attempts=F("attempts") + 1,
        attempted_at=timezone.now(),
        due_at=None,
    )
    if not taken:
        return Sending()
    email = JobEmail.objects.select_related("job").get(pk=email_id)
    try:
        message, facts = _message(email)
        message.send()
    except (smtplib.SMTPException, OSError) as exc:  # the mail server down, refusing, too slow
        return _not_sent(email, exc, transient=True)
    except Exception as exc:  # the message could not be written: trying again would not help
        logger.exception("The email %s about batch %s could not be written.", email.pk, email.job_id)
        return _not_sent(email, exc, transient=False)
    JobEmail.objects.filter(pk=email.pk).update(state=JobEmail.State.SENT, sent_at=timezone.now())
    _audit(email, Outcome.SUCCEEDED, **facts)
    return Sending(sent=True)


def _not_sent(email: JobEmail, exc: Exception, *, transient: bool) -> Sending:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if transient and email.attempts < MAX_ATTEMPTS:
        wait = retry_seconds(email.attempts)
        JobEmail.objects.filter(pk=email.pk, state=JobEmail.State.SENDING).update(
            state=JobEmail.State.PENDING, last_error=error, due_at=timezone.now() + timedelta(seconds=wait)
        )
        logger.warning(
            "Email %s about batch %s not sent (try %s of %s), trying again in %.0f s: %s",
            email.pk,
            email.job_id,
            email.attempts,
            MAX_ATTEMPTS,
            wait,
            error,
        )
        return Sending(retry_in=wait)
    JobEmail.objects.filter(pk=email.pk).update(state=JobEmail.State.FAILED, last_error=error)
    logger.error(
        "Email %s about batch %s given up after %s tries: %s", email.pk, email.job_id, email.attempts, error
    )
    _audit(email, Outcome.FAILED, error=error)
    return Sending()


def _audit(email: JobEmail, outcome: Outcome, **details) -> None:
    audit_record(
        actor=None,  # the worker sends it; the job names who sent the job
        action=f"batch.email_{email.kind}",
        target=email.job,
        outcome=outcome,
        details={
            "email": email.pk,
            "to": email.recipients,
            **({"customer_id": email.customer_id} if email.customer_id is not None else {}),
            "attempts": email.attempts,
            **details,
        },
    )


def _message(email: JobEmail) -> tuple[EmailMessage, dict]:
    """The message, and the facts the audit log keeps of it."""
    if email.kind == JobEmail.Kind.CUSTOMER:
        return _customer_message(email)
    return _starter_message(email), {}


def _one_line(text: str) -> str:
    """A subject line: a name from zero-touch could hold a line break, which a header may not."""
    return " ".join(text.split())


def _url(path: str) -> str:
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}"


def _starter_message(email: JobEmail) -> EmailMessage:
    job = email.job
    sentence = job_end_sentence(job)
    context = {
        "job": job,
        "sentence": sentence,
        "url": _url(job_link(job)),
        "failed_url": _url(f"{job_link(job)}?state=failed"),
    }
    return EmailMessage(
        subject=_one_line(sentence),
        body=render_to_string("batches/email/job_ended.txt", context),
        to=email.recipients,
    )


def _customer_message(email: JobEmail) -> tuple[EmailMessage, dict]:
    """The devices the job claimed for the customer: how many, their order numbers, when, and their
    identifiers as an attached CSV file (formula-safe, ``core.csv``)."""
    job = email.job
    customer = customer_get(email.customer_id)
    name = customer.name if customer is not None else f"customer {email.customer_id}"
    rows, orders = [], set()
    claimed = (
        job.items.filter(
            state=BatchItem.State.SUCCEEDED,
            customer_id=email.customer_id,
            section_type=SectionType.ZERO_TOUCH,
        )
        .order_by("row_number", "id")
        .values_list("imei", "meid", "serial_number", "manufacturer", "model", "metadata")
    )
    for imei, meid, serial, manufacturer, model, metadata in claimed.iterator(chunk_size=2000):
        order = (metadata or {}).get("ordernumber", "")
        if order:
            orders.add(order)
        rows.append([imei, meid, serial, manufacturer, model, order])
    when: datetime = job.finished_at or timezone.now()
    order_numbers = sorted(orders)
    devices = f"{len(rows):,} device{'s' if len(rows) != 1 else ''}"
    context = {
        "reseller": settings.PORTAL_RESELLER_NAME,
        "customer_name": name,
        "devices": devices,
        "when": when,
        "orders": order_numbers[:ORDERS_LISTED],
        "more_orders": max(0, len(order_numbers) - ORDERS_LISTED),
    }
    message = EmailMessage(
        subject=_one_line(f"{devices} registered for zero-touch enrollment for {name}"),
        body=render_to_string("batches/email/devices_claimed.txt", context),
        to=email.recipients,
    )
    text = "\ufeff" + "".join(csv_lines(CSV_HEADER, rows))  # the BOM: Excel then reads it as UTF-8
    message.attach(f"zero-touch-devices-{job.pk}.csv", text, "text/csv")
    facts = {"devices": len(rows), "order_numbers": order_numbers[:ORDERS_LISTED], "when": when}
    return message, facts


def job_emails_sweep(*, now: datetime | None = None) -> list[int]:
    """Beat's safety net for the emails: those whose task was lost (pending, due a while ago), to
    queue again; and those a dead worker left ``sending``, failed (outcome unknown) and never sent
    again, so that no one gets a second copy."""
    now = now or timezone.now()
    for email in JobEmail.objects.select_related("job").filter(
        state=JobEmail.State.SENDING, attempted_at__lt=now - STUCK_AFTER
    ):
        error = "The worker stopped while sending it: not sent again, so that no one gets it twice."
        if JobEmail.objects.filter(pk=email.pk, state=JobEmail.State.SENDING).update(
            state=JobEmail.State.FAILED, last_error=error
        ):
            _audit(email, Outcome.UNKNOWN, error=error)
    return list(
        JobEmail.objects.filter(state=JobEmail.State.PENDING, due_at__lt=now - LOST_AFTER)
        .order_by("due_at")
        .values_list("id", flat=True)[:500]
    )
