"""Celery tasks of batch jobs: ids in, one service call each, nothing but scheduling here. A task is
named after the service it calls, with ``_task`` added (``chunk_poll_task`` calls ``chunk_poll``);
``job_submit_task`` calls ``chunk_submit_next`` until the job has no chunk due.

Polls are countdown tasks (2-10 s apart by the operation's progress), never a sleep in a worker. The
sweeper, run by beat, re-enqueues whatever a lost message or a killed worker left undone; every task
is safe to run twice.
"""

import logging
import time
import uuid

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections

from batches import retention
from batches.chunks import job_with_waiting_chunks
from batches.emails import MAX_ATTEMPTS, job_email_send, job_emails_sweep
from batches.polling import chunk_poll
from batches.reconciliation import chunk_reconcile, first_looks_brought_forward, reconcile_holds_release
from batches.submission import chunk_submit_next
from batches.sweep import Sweep, batches_sweep, chunks_orphaned

logger = logging.getLogger(__name__)

# This run of the worker: made when the worker imports its tasks, before a prefork pool forks, so
# that every process of one run shares it and a restarted worker has a new one.
WORKER_RUN = uuid.uuid4().hex

# A submitting task hands over to a fresh one after this long, far under the task time limit.
SUBMIT_BUDGET_SECONDS = 20.0


@worker_ready.connect(dispatch_uid="batches.worker_restarted")
def take_over_after_restart(sender=None, **kwargs) -> None:
    """A worker that starts again carries on at once with what its killed predecessor (the same node)
    was doing, instead of waiting for the sweeper: chunks it left half-sent are read from the
    devices, readings it held are let go, and due sends and polls, whose tasks died with it, are
    enqueued again (a poll or a send twice is harmless)."""
    node = getattr(sender, "hostname", None)
    if not node:
        return
    try:
        orphaned = chunks_orphaned(node=node, instance=WORKER_RUN)
        reconcile_holds_release(node=node, instance=WORKER_RUN)
        due = batches_sweep(poll_late_seconds=0)
    except DatabaseError as exc:  # e.g. a worker started before the migrations ran
        logger.warning("Could not look for unfinished batch work (%s); the sweeper will find it.", exc)
        return
    finally:
        connections.close_all()  # the worker's main process keeps no connection of its own
    for chunk in orphaned:
        logger.warning(
            "chunk %s of batch %s was half-sent by a stopped run of %s", chunk.number, chunk.job_id, node
        )
        chunk_reconcile_task.apply_async((chunk.pk,), eta=chunk.due_at)
    _enqueue(due, again=True)


def _holder(task) -> str:
    """Who is doing a chunk's work: this worker's node and run (see ``take_over_after_restart``)."""
    return f"{task.request.hostname or 'unknown'} {WORKER_RUN}"


@shared_task(ignore_result=True, bind=True)
def job_submit_task(self, job_id: int) -> None:
    """Send the job's due chunks one after the other, then poll each sent one."""
    cache.delete(_on_its_way("submit", job_id))
    started = time.monotonic()
    while (chunk := chunk_submit_next(job_id, holder=_holder(self))) is not None:
        if chunk.state == chunk.State.SUBMITTED:
            chunk_poll_task.apply_async((chunk.pk,), countdown=settings.ZT_BATCH_POLL_MIN_SECONDS)
        elif chunk.state == chunk.State.UNKNOWN:
            chunk_reconcile_task.apply_async((chunk.pk,), eta=chunk.due_at)
        if time.monotonic() - started > SUBMIT_BUDGET_SECONDS:
            job_submit_task.delay(job_id)
            return


@shared_task(ignore_result=True)
def chunk_poll_task(chunk_id: int) -> None:
    cache.delete(_on_its_way("poll", chunk_id))
    result = chunk_poll(chunk_id)
    if result.next_poll_in is not None:
        chunk_poll_task.apply_async((chunk_id,), countdown=result.next_poll_in)
    elif result.done:
        _submit_resent(chunk_id)
        for lost, look_at in first_looks_brought_forward(chunk_id):
            chunk_reconcile_task.apply_async((lost,), eta=look_at)


@shared_task(ignore_result=True, bind=True)
def chunk_reconcile_task(self, chunk_id: int) -> None:
    cache.delete(_on_its_way("reconcile", chunk_id))
    result = chunk_reconcile(chunk_id, holder=_holder(self))
    if result.settled:
        _submit_resent(chunk_id)
    elif result.next_in is not None:
        chunk_reconcile_task.apply_async((chunk_id,), countdown=result.next_in)


def _submit_resent(chunk_id: int) -> None:
    """Items a reconciliation sends again wait in a new chunk of the same job: send it now."""
    if (job_id := job_with_waiting_chunks(chunk_id)) is not None:
        job_submit_task.delay(job_id)


@shared_task(ignore_result=True)
def batches_sweep_task() -> None:
    """Beat's safety net: enqueue what is due and that no task is on its way to do."""
    _enqueue(batches_sweep())


def _on_its_way(kind: str, ident: int) -> str:
    return f"batches:enqueued:{kind}:{ident}"


def _enqueue(due: Sweep, *, again: bool = False) -> None:
    """Enqueue what the sweep found due, each at most once while its message waits: a sweep every few
    seconds must not pile up copies behind a slow or stopped worker (a backlog of hundreds once
    stalled a job for minutes). The mark lasts three sweeps, in case the message is lost; ``again``
    (a restarted worker, whose predecessor's messages may be gone) enqueues regardless."""
    lasts = max(3.0, 3 * settings.ZT_BATCH_SWEEP_SECONDS)
    for task, kind, idents in (
        (job_submit_task, "submit", due.submit),
        (chunk_poll_task, "poll", due.poll),
        (chunk_reconcile_task, "reconcile", due.reconcile),
    ):
        for ident in idents:
            if again:
                cache.set(_on_its_way(kind, ident), True, timeout=lasts)
            elif not cache.add(_on_its_way(kind, ident), True, timeout=lasts):
                continue
            task.delay(ident)


@shared_task(ignore_result=True)
def jobs_purge_task() -> None:
    """Beat's clean-up: drafts and discarded jobs past ZT_BATCH_DRAFT_RETENTION_DAYS go, with their rows."""
    retention.jobs_purge()


@shared_task(ignore_result=True, bind=True)
def job_email_send_task(self, email_id: int) -> None:
    """One email about a job that ended (``job_email_send``), sent at most once; a send the mail server
    refused or could not take is tried again later, up to ``MAX_ATTEMPTS`` tries in all."""
    sending = job_email_send(email_id)
    if sending.retry_in is not None:
        raise self.retry(countdown=sending.retry_in, max_retries=MAX_ATTEMPTS)


@shared_task(ignore_result=True)
def job_emails_sweep_task() -> None:
    """Beat's safety net for the emails: queue again those whose task was lost (``job_emails_sweep``)."""
    for email_id in job_emails_sweep():
        job_email_send_task.delay(email_id)
