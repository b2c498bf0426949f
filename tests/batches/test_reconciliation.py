"""batches.reconciliation, a chunk whose answer was lost: read once, after its operation could have
ended, by the cheapest reads (the customer's listing, or each device, several at a time), never sent
twice, and read by one worker at a time; a restarted worker lets go of its killed run's readings.
(A restarted worker taking chunks back: test_tasks.py; the sweep: test_sweep.py.)"""

import threading
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone

from batches.chunks import intent_of
from batches.jobs import job_confirm
from batches.models import BatchChunk
from batches.polling import chunk_poll
from batches.reconciliation import (
    READERS,
    _Reading,
    chunk_reconcile,
    first_looks_brought_forward,
    reconcile_holds_release,
)
from batches.submission import chunk_submit_next
from core.api import zerotouch_client
from devices.models import Device
from tests.batches.factories import accepted_devices, make_job, run_to_the_end, settled
from tests.devices.factories import emulator_device, make_imei


def lose_the_answer(emulator, job) -> BatchChunk:
    """Send the job's chunk; zero-touch acts on it, but its answer never arrives."""
    emulator.set_faults(
        drop_after_rate=1.0,
        methods=["partners.devices.claimAsync", "partners.devices.unclaimAsync"],
    )
    chunk = chunk_submit_next(job.pk)
    assert chunk.state == "unknown"
    emulator.clear_faults()
    emulator.complete_operations()
    return chunk


def test_a_lost_unclaim_is_read_from_the_customers_listing_in_one_call(world):
    emulator, customer = world["emulator"], world["customer"]
    held = list(Device.objects.filter(owner=customer).exclude(imei="").order_by("device_id")[:5])
    job = job_confirm(
        job=make_job("imei\n" + "\n".join(d.imei for d in held), action="unclaim", customer=customer),
        actor=None,
    )
    chunk = lose_the_answer(emulator, job)
    settled(chunk)
    emulator.clear_stats()

    assert chunk_reconcile(chunk.pk).settled is True

    assert emulator.stats()["methods"] == {"partners.devices.findByOwner": {"200": 1}}
    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == ("done", 5, 0)
    assert len(emulator.requests_log(method="partners.devices.unclaimAsync")) == 1  # never sent again
    for device in held:
        assert emulator_device(emulator, device.imei).get("claims", []) == []


def test_a_lost_answer_is_reconciled_from_the_devices_without_sending_twice(world):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    fresh = [make_imei(94000 + n) for n in range(6)]
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": fresh[0]},
        },
    )
    job = job_confirm(job=make_job("imei\n" + "\n".join(fresh), customer=customer), actor=None)
    emulator.set_faults(drop_after_rate=1.0, methods=["partners.devices.claimAsync"])

    chunk = chunk_submit_next(job.pk)

    assert chunk.state == "unknown"
    emulator.clear_faults()
    emulator.complete_operations()
    settled(chunk)
    emulator.clear_stats()
    assert chunk_reconcile(chunk.pk).settled is True  # one reading decides
    # The customer's listing, one page, told which devices arrived: one call, not one per device.
    assert emulator.stats()["methods"] == {"partners.devices.findByOwner": {"200": 1}}
    chunk.refresh_from_db()
    assert (chunk.state, chunk.reconcile_calls) == ("done", 1) and chunk.reconciled_at is not None
    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == ("running", 5, 0)
    # The device another customer holds is not in the listing: it is sent again, alone, and the
    # answer says why it failed. No device reached zero-touch twice.
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.failed) == ("done", 5, 1)
    assert job.items.get(imei=fresh[0]).failure_kind == "other_customer"
    sent = emulator.requests_log(method="partners.devices.claimAsync")
    assert [len(request["body"]["claims"]) for request in sent] == [6, 1]


def test_a_chunk_is_not_read_before_its_operation_could_have_ended(world, settings):
    emulator = world["emulator"]
    settings.ZT_BATCH_SETTLE_SECONDS_PER_DEVICE = 300  # an operation of one device takes 5 minutes
    job = job_confirm(job=make_job(f"imei\n{make_imei(95001)}\n", customer=world["customer"]), actor=None)
    chunk = lose_the_answer(emulator, job)
    BatchChunk.objects.filter(pk=chunk.pk).update(due_at=None)  # as a sweeper in a hurry would see it
    emulator.clear_stats()

    result = chunk_reconcile(chunk.pk)

    assert result.settled is False and 290 < result.next_in <= 300
    assert emulator.stats()["total"] == 0
    chunk.refresh_from_db()
    assert chunk.state == "unknown" and chunk.due_at == chunk.attempted_at + timedelta(seconds=300)


def test_a_first_look_that_finds_every_device_arrived_settles_at_once(world, settings):
    """The usual lost answer: zero-touch did the work. The first look, once the operation would have
    ended, decides every device; nothing waits for the longer settle window."""
    emulator = world["emulator"]
    settings.ZT_BATCH_SETTLE_SECONDS = 3600
    fresh = [make_imei(95010 + n) for n in range(3)]
    job = job_confirm(job=make_job("imei\n" + "\n".join(fresh), customer=world["customer"]), actor=None)
    chunk = lose_the_answer(emulator, job)

    assert chunk_reconcile(chunk.pk).settled is True

    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("done", 3)


def test_devices_not_there_at_the_first_look_are_read_again_once_settled_then_sent(world, settings):
    """Zero-touch still busy at the first look (here: the request never reached it): the devices not
    in the wanted state wait for the settle window, are read again, and only then sent again."""
    emulator = world["emulator"]
    settings.ZT_BATCH_SETTLE_SECONDS = 3600
    fresh = [make_imei(95020 + n) for n in range(3)]
    job = job_confirm(job=make_job("imei\n" + "\n".join(fresh), customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    sent = timezone.now() - timedelta(seconds=1)  # past the first look (3 devices: 3 ms)
    BatchChunk.objects.filter(pk=chunk.pk).update(state="unknown", attempts=1, attempted_at=sent)

    early = chunk_reconcile(chunk.pk)

    assert early.settled is False and 3590 < early.next_in <= 3600
    chunk.refresh_from_db()
    assert chunk.state == "unknown" and not job.chunks.filter(state="pending").exists()  # nothing resent
    emulator.clear_stats()
    BatchChunk.objects.filter(pk=chunk.pk).update(attempted_at=timezone.now() - timedelta(seconds=3601))

    assert chunk_reconcile(chunk.pk).settled is True

    assert emulator.stats()["total"] == 1  # the second reading
    chunk.refresh_from_db()
    assert chunk.state == "done" and chunk.reconcile_calls == 2
    assert sorted(job.chunks.get(state="pending").items.values_list("imei", flat=True)) == sorted(fresh)


def test_a_claim_that_never_reached_zero_touch_is_sent_again_once(world):
    emulator = world["emulator"]
    fresh = [make_imei(95100 + n) for n in range(4)]
    job = job_confirm(job=make_job("imei\n" + "\n".join(fresh), customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    # A worker killed between marking the chunk and sending it: nothing reached zero-touch.
    BatchChunk.objects.filter(pk=chunk.pk).update(state="unknown", attempts=1, due_at=None)
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    resent = job.chunks.get(state="pending")
    assert sorted(resent.items.values_list("imei", flat=True)) == sorted(fresh)
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (4, 0)
    assert set(accepted_devices(emulator).values()) == {1}


def test_a_reading_fails_softly_and_comes_back_later(world):
    emulator = world["emulator"]
    job = job_confirm(job=make_job(f"imei\n{make_imei(95200)}\n", customer=world["customer"]), actor=None)
    chunk = lose_the_answer(emulator, job)
    settled(chunk)
    emulator.set_faults(  # zero-touch refuses the readings
        error_rate=1.0,
        error_codes=[403],
        methods=["partners.devices.findByIdentifier", "partners.devices.findByOwner", "partners.devices.get"],
    )

    assert chunk_reconcile(chunk.pk).settled is False

    chunk.refresh_from_db()
    assert chunk.state == "unknown" and chunk.due_at > timezone.now() and chunk.last_error
    assert chunk.reconcile_calls == 1
    emulator.clear_faults()
    settled(chunk)
    assert chunk_reconcile(chunk.pk).settled is True
    job.refresh_from_db()
    assert job.succeeded == 1


def test_single_device_reads_run_several_at_a_time(world):
    """When reading each device is the cheaper way, the reads overlap: each of the first two waits
    for the other at a barrier, which a one-by-one reading would never pass."""
    customer = world["customer"]
    held = list(Device.objects.filter(owner=customer).exclude(imei="").order_by("device_id")[: READERS + 2])
    job = job_confirm(
        job=make_job("imei\n" + "\n".join(d.imei for d in held), action="unclaim", customer=customer),
        actor=None,
    )
    intents = [intent_of(job, item) for item in job.items.order_by("row_number")]
    both_in_flight = threading.Barrier(2, timeout=30)
    real = zerotouch_client()

    class Overlapping:
        partner_id = real.partner_id

        def __init__(self):
            self.waited = 0
            self.lock = threading.Lock()

        def devices_get(self, **arguments):
            with self.lock:
                first_two, self.waited = self.waited < 2, self.waited + 1
            if first_two:
                both_in_flight.wait()  # BrokenBarrierError after 30 s if the reads were one by one
            return real.devices_get(**arguments)

    reading = _Reading(Overlapping())
    devices = reading._read_each(intents)

    assert [int(device.device_id) for device in devices] == [d.device_id for d in held]
    assert reading.calls == len(held)


def test_a_chunk_being_reconciled_is_left_to_that_reading(world):
    """The sweeper enqueues a due chunk's reconciliation every few seconds; a copy that arrives while
    another reading runs reads nothing (each reading costs a call per device)."""
    emulator = world["emulator"]
    job = job_confirm(job=make_job(f"imei\n{make_imei(94200)}\n", customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    BatchChunk.objects.filter(pk=chunk.pk).update(state="unknown", due_at=None)
    emulator.clear_stats()
    hold = f"batches:reconciling:{chunk.pk}"
    cache.add(hold, True, timeout=60)  # another worker's reading of this chunk

    assert chunk_reconcile(chunk.pk).settled is False
    assert emulator.stats()["total"] == 0
    assert BatchChunk.objects.get(pk=chunk.pk).reconcile_calls == 0

    cache.delete(hold)  # that reading ended
    assert chunk_reconcile(chunk.pk).settled is True  # a reading of its own
    assert emulator.stats()["total"] > 0
    assert cache.add(hold, True, timeout=1), "a reading lets go of the chunk when it ends"


def test_a_restarted_worker_lets_go_of_the_readings_its_killed_run_held(world):
    """A worker killed while reading a chunk's devices left its hold on the chunk; the same node's
    next run lets go of it (another node's reading is left alone), so the chunk is read again now
    rather than when the hold runs out."""
    job = job_confirm(
        job=make_job(
            "imei\n" + "\n".join(make_imei(95500 + n) for n in range(2)), customer=world["customer"]
        ),
        actor=None,
    )
    job.chunks.update(state="unknown")
    other = BatchChunk.objects.create(job=job, number=2, size=1, state="unknown")
    mine = job.chunks.get(number=1)
    cache.set(f"batches:reconciling:{mine.pk}", "celery@host-a run-1", timeout=600)
    cache.set(f"batches:reconciling:{other.pk}", "celery@host-b run-1", timeout=600)

    assert reconcile_holds_release(node="celery@host-a", instance="run-2") == 1

    assert cache.get(f"batches:reconciling:{mine.pk}") is None
    assert cache.get(f"batches:reconciling:{other.pk}") == "celery@host-b run-1"


def test_a_finished_chunk_brings_the_first_look_of_a_lost_one_forward(world, settings):
    """Zero-touch's pace, seen on a chunk of the same job that finished, says when a lost chunk's
    operation would have ended: it is read then, not at the slow default (here an hour); what is sent
    again still waits for the settle window."""
    emulator = world["emulator"]
    settings.ZT_BATCH_SETTLE_SECONDS_PER_DEVICE = 1200  # the default pace: 3 devices, an hour
    settings.ZT_BATCH_CHUNK_SIZE = 3
    fresh = [make_imei(95100 + n) for n in range(6)]
    job = job_confirm(job=make_job("imei\n" + "\n".join(fresh), customer=world["customer"]), actor=None)
    lost = lose_the_answer(emulator, job)
    assert lost.due_at == lost.attempted_at + timedelta(seconds=3600)
    finished = chunk_submit_next(job.pk)
    emulator.complete_operations()
    while chunk_poll(finished.pk).next_poll_in is not None:
        pass
    finished.refresh_from_db()
    assert finished.state == "done"

    moved = dict(first_looks_brought_forward(finished.pk))

    lost.refresh_from_db()
    assert list(moved) == [lost.pk] and moved[lost.pk] == lost.due_at
    assert lost.due_at <= timezone.now()  # it was sent first, so its operation is over at that pace
    assert chunk_reconcile(lost.pk).settled is True
    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("done", 6)
    assert len(emulator.requests_log(method="partners.devices.claimAsync")) == 2  # none sent twice


def test_a_chunk_already_read_keeps_its_moment(world, settings):
    emulator = world["emulator"]
    settings.ZT_BATCH_CHUNK_SIZE = 3
    settings.ZT_BATCH_SETTLE_SECONDS = 3600
    job = job_confirm(
        job=make_job(
            "imei\n" + "\n".join(make_imei(95200 + n) for n in range(6)), customer=world["customer"]
        ),
        actor=None,
    )
    lost = lose_the_answer(emulator, job)
    BatchChunk.objects.filter(pk=lost.pk).update(reconciled_at=timezone.now())
    finished = chunk_submit_next(job.pk)
    emulator.complete_operations()
    while chunk_poll(finished.pk).next_poll_in is not None:
        pass

    assert first_looks_brought_forward(finished.pk) == []
    assert first_looks_brought_forward(lost.pk) == []  # not a finished chunk: it says nothing
