"""What a person does to a job: confirm a draft (its rows are cut into chunks and the submission is
queued), discard it, cancel the rows not sent yet, retry the failures a retry can change. Each is
audited; a draft is its creator's (or an admin's) to confirm or discard."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from batches import tasks
from batches.chunks import (
    cut_into_chunks,
    finish_if_done,
)
from batches.drafts import job_create
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.notices import job_email_expect
from batches.parsing import ParsedRow
from batches.selectors import RETRY_MAY_CHANGE, retry_plan
from core.audit import audit_record
from core.models import AuditEvent
from core.roles import Role, user_roles


class BatchRefused(Exception):
    """The job cannot do what was asked (confirm a finished job, retry with nothing to retry...)."""


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
        outcome=AuditEvent.Outcome.FAILED,
        details={"refused": "not the creator's"},
    )
    raise BatchRefused(
        f"This check is {job.created_by_name}'s: only they (or an admin) can {doing} it. "
        "Start a new batch with the same file to send it yourself."
    )


def job_confirm(*, job: BatchJob, actor: AbstractBaseUser | None, email_when_done: bool = False) -> BatchJob:
    """Send a checked job: its ready items are cut into chunks and the submission is queued. With
    ``email_when_done`` the person confirming is emailed when it ends (``batches.notices``)."""

    _check_draft_owner(job, actor, "confirm")
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().filter(pk=job.pk).first()
        if job is None:
            raise BatchRefused("This check was purged after its retention: upload the file again.")
        if job.state != BatchJob.State.DRAFT:
            raise BatchRefused(f"This job is {job.get_state_display().lower()}; it cannot be sent again.")
        if not job.ready:
            raise BatchRefused("No row of this job is ready to send.")
        cut_into_chunks(job)
        job.state = BatchJob.State.QUEUED
        job.submitted_at = timezone.now()
        job.save(update_fields=["state", "submitted_at"])
        if email_when_done and actor is not None and actor.is_authenticated:
            job_email_expect(job=job, user=actor)
        audit_record(
            actor=actor,
            action=f"batch.{job.action}",
            target=job,
            details={"rows": job.rows, "ready": job.ready, "invalid": job.invalid, "skipped": job.skipped},
        )
        tasks.job_submit_task.delay_on_commit(job.pk)
    return job


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
    the answer say how many rows were cancelled, and that nothing was when every row had been sent.
    A move whose unclaim was sent is under way: the claim that ends it is not cancelled, or its
    devices would be left unclaimed."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job.pk)
        if job.state not in (BatchJob.State.QUEUED, BatchJob.State.RUNNING):
            raise BatchRefused(
                f"This job is {job.get_state_display().lower()}: only a job that is queued or running "
                "can be cancelled."
            )
        chunks = list(
            job.chunks.select_for_update()
            .filter(state=BatchChunk.State.PENDING)
            .exclude(phase=BatchChunk.Phase.CLAIM)
            .values_list("id", flat=True)
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
            outcome=AuditEvent.Outcome.SUCCEEDED if cancelled else AuditEvent.Outcome.NO_OP,
            details={"items_cancelled": cancelled, "items_already_sent": result.already_sent},
        )
        finish_if_done(job.pk)
    return result


def job_retry_failed(*, job: BatchJob, actor: AbstractBaseUser | None) -> BatchJob:
    """A new checked job from the items that failed for a reason a retry can change (a temporary
    problem, an outcome left open, a limit): checked again against today's cache, awaiting
    confirmation. Failures the same request would meet again (another customer's device, not the
    reseller's, an invalid identifier...) stay out: ``retry_plan`` says how many and why. So do a
    move's half-done rows, whose devices are unclaimed now: moving them again would be refused, and
    ``job_claim_back`` and ``job_retry_claims`` are for them."""
    failed = job.items.filter(
        state=BatchItem.State.FAILED, failure_kind__in=RETRY_MAY_CHANGE, half_done=False
    ).order_by("row_number")
    if not failed.exists():
        plan = retry_plan(job)
        raise BatchRefused(
            f"Nothing to retry: {plan.left_out_sentence}" if plan.left_out else "No row of this job failed."
        )
    rows = (
        _row_again(item, customer_id=item.customer_id, metadata=item.metadata, section=_section_fields(item))
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
        from_customer=job.from_customer,
    )
    audit_record(
        actor=actor,
        action="batch.retry",
        target=job,
        details={"new_job": retry.pk, "rows": retry.rows, "left_out": retry_plan(job).left_out},
    )
    return retry


def _row_again(
    item: BatchItem, *, customer_id: int | None, metadata: dict, section: dict | None = None
) -> ParsedRow:
    """A job's row as a new job's pre-flight reads it: the device as the row named it, for
    ``customer_id``, with ``metadata`` (and the row's section, when given)."""
    return ParsedRow(
        number=item.row_number,
        fields={
            "imei": item.imei,
            "meid": item.meid,
            "serial_number": item.serial_number,
            "manufacturer": item.manufacturer,
            "model": item.model,
            "customer_id": str(customer_id or ""),
            **metadata,
            **(section or {}),
        },
        raw=item.raw,
    )


def _section_fields(item: BatchItem) -> dict[str, str]:
    """A row's section as the pre-flight reads it again (nothing for zero-touch, the default)."""
    if not item.sim_lock:
        return {}
    return {"section_type": item.section_type, "simlock_profile_id": item.simlock_profile_id}


# --- A move's half-done rows --------------------------------------------------------------------------


def job_claim_back(*, job: BatchJob, actor: AbstractBaseUser | None) -> BatchJob:
    """A new checked claim of the move's half-done rows, each for the customer its device was moved
    from: those devices are unclaimed, and this puts them back where they were. Awaiting
    confirmation, checked against today's cache like any claim (a device claimed again since is
    "nothing to do", or refused when it is another customer's). The row's metadata was for the new
    customer, so none is sent."""
    return _half_done_claim(job, actor, back=True)


def job_retry_claims(*, job: BatchJob, actor: AbstractBaseUser | None) -> BatchJob:
    """A new checked claim of the move's half-done rows, each for the customer it was moving to, with
    the row's metadata: the move's second half tried again (its first is done). Awaiting confirmation,
    checked against today's cache like any claim."""
    return _half_done_claim(job, actor, back=False)


def _half_done_claim(job: BatchJob, actor: AbstractBaseUser | None, *, back: bool) -> BatchJob:
    half_done = job.items.filter(state=BatchItem.State.FAILED, half_done=True).order_by("row_number")
    if not half_done.exists():
        raise BatchRefused("No row of this job is half done: there is nothing to claim.")
    rows = (
        _row_again(
            item,
            customer_id=item.from_customer_id if back else item.customer_id,
            metadata={} if back else item.metadata,
        )
        for item in half_done.iterator(chunk_size=2000)
    )
    claim = job_create(
        action=BatchJob.Action.CLAIM,
        rows=rows,
        actor=actor,
        customer=None if back else job.customer,
        source=BatchJob.Source.RETRY,
        source_name=job.source_name,
        retry_of=job,
    )
    audit_record(
        actor=actor,
        action="batch.claim_back" if back else "batch.retry_claims",
        target=job,
        details={"new_job": claim.pk, "rows": claim.rows},
    )
    return claim
