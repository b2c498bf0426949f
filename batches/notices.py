"""What a job's end tells people: a notice on the pages of the person who made it, an email to whoever
asked for one when confirming it, and an email to each customer it claimed devices for that has
notification addresses.

All of it is written by ``job_ended`` in the transaction that marks the job ended
(``batches.chunks.finish_if_done``), so that it exists exactly when the ending does; the emails leave
from the worker once that transaction commits (``batches.emails``).
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from batches.models import BatchItem, BatchJob, JobEmail
from core.notices import notice_post
from customers.selectors import customer_get, customers_notification_emails
from devices.models import SectionType

# Jobs whose succeeded rows are devices now claimed for the row's customer (a move claims them for
# the customer it moves them to).
CLAIMING_ACTIONS = frozenset({"claim", "move"})

# How a job's end names what it did: its action as a noun, and what a device it changed became.
_ACTION_WORDS = {
    "claim": ("claim", "claimed"),
    "unclaim": ("unclaim", "unclaimed"),
    "metadata": ("metadata change", "changed"),
    "move": ("move", "moved"),
}


def job_end_sentence(job: BatchJob) -> str:
    """The job's end in one line: "Batch 123, claim of 1,000 devices for Pioneer Field AB, finished:
    998 claimed, 2 failed"."""
    noun, done = _ACTION_WORDS.get(job.action, (job.get_action_display().lower(), "done"))
    devices = f"{job.ready:,} device{'s' if job.ready != 1 else ''}"
    preposition = {"unclaim": "from", "move": "to"}.get(job.action, "for")
    customer = customer_get(job.customer_id)
    if customer is not None:
        whom = f" {preposition} {customer.name}"
    elif job.customers > 1:
        whom = f" {preposition} {job.customers:,} customers"
    else:
        whom = ""
    ended = "cancelled" if job.state == BatchJob.State.CANCELLED else "finished"
    outcome = [f"{job.succeeded:,} {done}"]
    if job.failed:
        outcome.append(f"{job.failed:,} failed")
    if job.cancelled:
        outcome.append(f"{job.cancelled:,} cancelled")
    return f"Batch {job.pk}, {noun} of {devices}{whom}, {ended}: {', '.join(outcome)}"


def job_link(job: BatchJob) -> str:
    return reverse("batches:detail", kwargs={"job_id": job.pk})


def job_email_expect(*, job: BatchJob, user: AbstractBaseUser) -> JobEmail | None:
    """Email ``user`` when the job ends ("Email me when it ends" on the confirmation). None when their
    account has no address to send to."""
    if not user.email:
        return None
    email, _ = JobEmail.objects.get_or_create(
        job=job,
        kind=JobEmail.Kind.STARTER,
        defaults={"recipients": [user.email], "state": JobEmail.State.WAITING},
    )
    return email


def job_ended(job: BatchJob) -> None:
    """Tell people that ``job`` ended, in the transaction that marks it ended (it has its final counts
    and state): the notice for the person who made it, the email they asked for, and the customers'
    emails of a claim. The emails are queued for the worker once the transaction commits. Running it
    twice for a job adds nothing (one notice per person and event, one email per recipient)."""
    if job.created_by_id is not None:
        notice_post(
            user_id=job.created_by_id,
            key=f"batches.job.{job.pk}.ended",
            text=job_end_sentence(job),
            link=job_link(job),
        )
    now = timezone.now()
    job.emails.filter(state=JobEmail.State.WAITING).update(state=JobEmail.State.PENDING, due_at=now)
    if job.action in CLAIMING_ACTIONS and job.succeeded:
        _customer_emails_add(job, now=now)
    pending = list(job.emails.filter(state=JobEmail.State.PENDING).values_list("id", flat=True))
    if pending:
        transaction.on_commit(lambda: _send(pending))


def _customer_emails_add(job: BatchJob, *, now) -> None:
    """One email for each customer the job claimed devices for that has notification addresses (in
    zero-touch: a SIM-lock claim enrols nothing for the customer)."""
    claimed = job.items.filter(
        state=BatchItem.State.SUCCEEDED, customer_id__isnull=False, section_type=SectionType.ZERO_TOUCH
    ).order_by()
    customer_ids = claimed.values_list("customer_id", flat=True)
    # A job of one customer (the usual) needs one row read, not a pass over all its rows.
    customer_ids = customer_ids[:1] if job.customers == 1 else customer_ids.distinct()
    addresses = customers_notification_emails(list(customer_ids))
    JobEmail.objects.bulk_create(
        [
            JobEmail(
                job=job,
                kind=JobEmail.Kind.CUSTOMER,
                customer_id=customer_id,
                recipients=recipients,
                state=JobEmail.State.PENDING,
                due_at=now,
            )
            for customer_id, recipients in sorted(addresses.items())
        ],
        ignore_conflicts=True,  # made already by an earlier run: kept as it is
    )


def _send(email_ids: list[int]) -> None:
    # Imported here: batches.tasks imports the modules that end jobs, and so this one.
    from batches.tasks import job_email_send_task

    for email_id in email_ids:
        job_email_send_task.delay(email_id)
