"""batches.sweep, beat's safety net: a chunk a killed worker left half-sent is found and read, a
restarted worker takes back only its own node's earlier runs' chunks, and a sweep does not enqueue
again what is already on its way."""

from django.core.cache import cache
from django.utils import timezone

from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchJob
from batches.reconciliation import chunk_reconcile
from batches.sweep import batches_sweep, chunks_orphaned
from tests.batches.factories import make_job, run_to_the_end
from tests.devices.factories import make_imei


def test_a_lost_answer_before_anything_happened_sends_the_devices_once_more(world):
    emulator = world["emulator"]
    job = job_confirm(job=make_job(f"imei\n{make_imei(94100)}\n", customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    # A worker killed between marking the chunk and sending it: the sweeper finds it submitting.
    BatchChunk.objects.filter(pk=chunk.pk).update(
        state="submitting", attempted_at="2026-01-01T00:00:00Z", attempts=1
    )

    sweep = batches_sweep()

    assert sweep.marked_unknown == 1 and chunk.pk in sweep.reconcile
    assert chunk_reconcile(chunk.pk).settled is True  # long settled: one reading
    resent = job.chunks.get(state="pending")
    assert resent.number == 2 and list(resent.items.values_list("imei", flat=True)) == [make_imei(94100)]
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (1, 0)
    assert len(emulator.requests_log(method="partners.devices.claimAsync")) == 1


def test_only_the_same_nodes_earlier_runs_are_taken_back(world):
    job = job_confirm(job=make_job(f"imei\n{make_imei(95400)}\n", customer=world["customer"]), actor=None)
    sent = timezone.now()
    job.chunks.update(state="submitting", attempted_at=sent, holder="celery@host-a run-1")
    for number, holder in (
        (2, "celery@host-a run-2"),
        (3, "celery@host-b run-1"),
        (4, "celery@host-ab run-1"),
    ):
        BatchChunk.objects.create(
            job=job, number=number, size=1, state="submitting", attempted_at=sent, holder=holder
        )

    assert [chunk.number for chunk in chunks_orphaned(node="celery@host-a", instance="run-2")] == [1]

    # Only the earlier run's chunk: this run's own, another node's and a node whose name only begins
    # alike are left to their senders.
    states = dict(job.chunks.values_list("number", "state"))
    assert states == {1: "unknown", 2: "submitting", 3: "submitting", 4: "submitting"}


def test_a_sweep_does_not_enqueue_again_what_is_already_on_its_way(world):
    """Beat sweeps every few seconds; behind a slow or stopped worker each sweep used to add another
    copy of every due task, and a backlog of hundreds stalled a job for minutes."""
    import uuid

    from batches.tasks import batches_sweep_task
    from portal.celery import app

    queue = f"test-{uuid.uuid4().hex[:12]}"
    previous, app.conf.task_default_queue = app.conf.task_default_queue, queue
    try:
        job_confirm(job=make_job(f"imei\n{make_imei(95700)}\n", customer=world["customer"]), actor=None)
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            channel.queue_declare(queue, durable=True)

            def waiting() -> int:
                return channel.queue_declare(queue, passive=True).message_count

            for _ in range(3):
                batches_sweep_task()
            assert waiting() == 1  # one job_submit_task for the job's waiting chunk, not three
            cache.delete(f"batches:enqueued:submit:{BatchJob.objects.get().pk}")  # as the task does
            batches_sweep_task()
            assert waiting() == 2
            channel.queue_purge(queue)
    finally:
        app.conf.task_default_queue = previous
