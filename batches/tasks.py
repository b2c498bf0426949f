"""Celery tasks of batch jobs: ids in, one service call each, nothing but scheduling here.

Polls are countdown tasks (2-10 s apart by the operation's progress), never a sleep in a worker. The
sweeper, run by beat, re-enqueues whatever a lost message or a killed worker left undone; every task
is safe to run twice.
"""

import time

from celery import shared_task
from django.conf import settings

from batches import retention
from batches.chunks import job_with_waiting_chunks
from batches.polling import chunk_poll
from batches.reconciliation import chunk_reconcile
from batches.submission import chunk_submit_next
from batches.sweep import batches_sweep

# A submitting task hands over to a fresh one after this long, far under the task time limit.
SUBMIT_BUDGET_SECONDS = 20.0


@shared_task(ignore_result=True)
def submit_job(job_id: int) -> None:
    """Send the job's due chunks one after the other, then poll each sent one."""
    started = time.monotonic()
    while (chunk := chunk_submit_next(job_id)) is not None:
        if chunk.state == chunk.State.SUBMITTED:
            poll_chunk.apply_async((chunk.pk,), countdown=settings.ZT_BATCH_POLL_MIN_SECONDS)
        if time.monotonic() - started > SUBMIT_BUDGET_SECONDS:
            submit_job.delay(job_id)
            return


@shared_task(ignore_result=True)
def poll_chunk(chunk_id: int) -> None:
    result = chunk_poll(chunk_id)
    if result.next_poll_in is not None:
        poll_chunk.apply_async((chunk_id,), countdown=result.next_poll_in)
    elif result.done:
        _submit_resent(chunk_id)


@shared_task(ignore_result=True)
def reconcile_chunk(chunk_id: int) -> None:
    if chunk_reconcile(chunk_id):
        _submit_resent(chunk_id)


def _submit_resent(chunk_id: int) -> None:
    """Items a reconciliation sends again wait in a new chunk of the same job: send it now."""
    if (job_id := job_with_waiting_chunks(chunk_id)) is not None:
        submit_job.delay(job_id)


@shared_task(ignore_result=True)
def sweep() -> None:
    """Beat's safety net: enqueue what is due and that no task is on its way to do."""
    due = batches_sweep()
    for job_id in due.submit:
        submit_job.delay(job_id)
    for chunk_id in due.poll:
        poll_chunk.delay(chunk_id)
    for chunk_id in due.reconcile:
        reconcile_chunk.delay(chunk_id)


@shared_task(ignore_result=True)
def purge_drafts() -> None:
    """Beat's clean-up: drafts and discarded jobs past ZT_BATCH_DRAFT_RETENTION_DAYS go, with their rows."""
    retention.jobs_purge()
