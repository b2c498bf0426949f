"""Moves to another customer (issue 24): each device unclaimed from its customer, then claimed for the
new one, against the real emulator. A row whose unclaim fails stays where it was; a row whose claim
fails after its unclaim is half done, said so on the job's page, which offers to claim it back or to
try the claim again; a lost answer in either half is settled from the devices' state, and a chunk left
between the halves is sent by the sweeper. Nothing reaches zero-touch twice. (The pre-flight's words:
test_preflight.py; the command: test_zt_batch.py; the page in a browser: tests/e2e/test_batches.py.)"""

import html
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from batches.jobs import BatchRefused, job_cancel, job_claim_back, job_confirm, job_retry_failed
from batches.models import BatchChunk, BatchJob
from batches.polling import chunk_poll
from batches.reconciliation import chunk_reconcile
from batches.submission import chunk_submit_next
from batches.sweep import batches_sweep
from core.api import zerotouch_client
from core.roles import Role
from devices.models import Device, DeviceEvent
from reports.forms import ReportFilters
from reports.selectors import customers_section
from tests.batches.factories import (
    acted_on,
    android_imeis,
    move_job,
    owner_in_emulator,
    run_to_the_end,
    settled,
)

UNCLAIMS, CLAIMS = "partners.devices.unclaimAsync", "partners.devices.claimAsync"


def sent_once(emulator) -> bool:
    """No device reached zero-touch twice in either half."""
    return all(n == 1 for method in (UNCLAIMS, CLAIMS) for n in acted_on(emulator, method).values())


def unclaim_half_done(job: BatchJob, emulator) -> BatchChunk:
    """Send the job's (one) chunk's unclaim half and record its results: the chunk waits to claim."""
    chunk = chunk_submit_next(job.pk)
    emulator.complete_operations()
    chunk_poll(chunk.pk)
    chunk.refresh_from_db()
    assert (chunk.phase, chunk.state) == ("claim", "pending")
    return chunk


def half_done_move(world, count: int = 2) -> tuple[BatchJob, list[str]]:
    """A move from Riverside to Pioneer whose claim half zero-touch refuses as a whole."""
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, count)
    job = job_confirm(job=move_job(imeis, to=pioneer), actor=None)
    unclaim_half_done(job, emulator)
    emulator.set_faults(error_rate=1.0, error_codes=[400], methods=[CLAIMS])
    chunk_submit_next(job.pk)
    emulator.clear_faults()
    job.refresh_from_db()
    return job, imeis


def test_a_move_unclaims_then_claims_each_device_and_its_history_shows_one_move(world, client_as):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, 3)
    job = move_job(imeis, to=pioneer)
    assert (job.ready, job.invalid, job.skipped) == (3, 0, 0)

    job = run_to_the_end(job_confirm(job=job, actor=None), emulator)

    assert (job.state, job.succeeded, job.failed, job.half_done) == ("done", 3, 0, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(pioneer.pk)] * 3
    assert [len(r["body"]["unclaims"]) for r in emulator.requests_log(method=UNCLAIMS)] == [3]
    assert [len(r["body"]["claims"]) for r in emulator.requests_log(method=CLAIMS)] == [3]
    assert (job.chunks.get().phase, job.chunks.get().state) == ("claim", "done")
    row = job.items.get(imei=imeis[0])
    assert (row.state, row.from_customer_id, row.customer_id) == ("succeeded", riverside.pk, pioneer.pk)
    assert row.message == f"Moved from {riverside.name} to {pioneer.name}."
    device = Device.objects.get(imei=imeis[0])
    assert device.owner_id == pioneer.pk
    events = device.events.filter(batch_id=job.pk)
    assert [(e.kind, e.outcome, e.customer_id, e.details["previous_owner"]) for e in events] == [
        ("moved", "succeeded", pioneer.pk, riverside.pk)
    ]
    page = client_as(Role.SALES).get(f"/devices/{device.device_id}/").content.decode()
    assert (
        html.escape(f"Moved from {riverside.name} ({riverside.pk}) to {pioneer.name} ({pioneer.pk})") in page
    )
    # The reports count a move once, as a claim for the customer the devices went to.
    today = timezone.localdate()
    table = customers_section(ReportFilters(start=today, end=today)).tables[0]
    assert [pioneer.name, 3, 0, 0] in table.rows
    assert all(row[0] != riverside.name for row in table.rows)


def test_a_device_whose_unclaim_fails_is_left_where_it_was_and_its_move_failed(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    gone, moving = android_imeis(riverside, 2)
    job = job_confirm(job=move_job([gone, moving], to=pioneer), actor=None)
    # After the check, someone unclaims one device outside the portal; the cache does not know yet.
    status, answer = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:unclaim",
        {"deviceIdentifier": {"imei": gone}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, answer

    job = run_to_the_end(job, emulator)

    assert (job.state, job.succeeded, job.failed, job.half_done) == ("done", 1, 1, 0)
    failed = job.items.get(imei=gone)
    assert (failed.state, failed.failure_kind, failed.half_done) == ("failed", "not_claimed", False)
    assert failed.message.startswith(f"Not moved: the unclaim from {riverside.name} failed.")
    [claim] = emulator.requests_log(method=CLAIMS)
    assert [c["deviceIdentifier"]["imei"] for c in claim["body"]["claims"]] == [moving]  # not the other
    assert owner_in_emulator(emulator, gone) is None and owner_in_emulator(emulator, moving) == str(
        pioneer.pk
    )
    event = DeviceEvent.objects.get(batch_id=job.pk, identifier=gone)
    assert (event.kind, event.outcome, event.failure_kind, event.title) == (
        "moved",
        "failed",
        "not_claimed",
        "Move failed",
    )


def test_a_claim_that_fails_after_the_unclaim_is_half_done_and_the_page_says_so(world, client_as):
    pioneer, riverside = world["customer"], world["other"]

    job, imeis = half_done_move(world)

    assert (job.state, job.succeeded, job.failed, job.half_done) == ("done", 0, 2, 2)
    row = job.items.get(imei=imeis[0])
    assert row.half_done and row.progress_label == "Half done: unclaimed, claim failed"
    assert row.message == (
        f"Unclaimed from {riverside.name}, claim for {pioneer.name} failed: "
        "Zero-touch refused it: Injected fault (400)."
    )
    # The device IS unclaimed: zero-touch, the cache and the history all say so.
    assert owner_in_emulator(world["emulator"], imeis[0]) is None
    device = Device.objects.get(imei=imeis[0])
    assert device.owner_id is None
    [event] = device.events.filter(batch_id=job.pk)
    assert (event.kind, event.outcome, event.customer_id) == ("unclaimed", "succeeded", riverside.pk)
    assert event.details["move_to"] == pioneer.pk
    sales = client_as(Role.SALES)
    history = sales.get(f"/devices/{device.device_id}/").content.decode()
    assert html.escape(f"Part of a move to {pioneer.name} ({pioneer.pk}), whose claim failed") in history
    page = sales.get(f"/batches/{job.pk}/").content.decode()
    assert "Finished: 2 devices are half done" in page
    assert html.escape(row.message) in page
    assert html.escape(f"Claim back for {riverside.name}") in page
    assert html.escape(f"Retry the claim for {pioneer.name}") in page
    # "Retry failed rows" is not the way out for them: moving them again would be refused.
    with pytest.raises(BatchRefused):
        job_retry_failed(job=job, actor=None)


def test_claim_back_puts_half_done_devices_back_with_the_customer_they_left(world, client_as):
    emulator, riverside = world["emulator"], world["other"]
    job, imeis = half_done_move(world)

    response = client_as(Role.SALES).post(f"/batches/{job.pk}/claim-back/")

    back = BatchJob.objects.get(retry_of=job)
    assert response.status_code == 302 and response["Location"] == f"/batches/{back.pk}/"
    assert (back.action, back.state, back.ready, back.source) == ("claim", "draft", 2, "retry")
    assert set(back.items.values_list("customer_id", flat=True)) == {riverside.pk}
    back = run_to_the_end(job_confirm(job=back, actor=None), emulator)
    assert (back.succeeded, back.failed) == (2, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(riverside.pk)] * 2


def test_retry_the_claim_finishes_the_move_of_half_done_devices(world, client_as):
    emulator, pioneer = world["emulator"], world["customer"]
    job, imeis = half_done_move(world)

    client_as(Role.SALES).post(f"/batches/{job.pk}/retry-claims/")

    retry = BatchJob.objects.get(retry_of=job)
    assert (retry.action, retry.customer_id, retry.ready) == ("claim", pioneer.pk, 2)
    retry = run_to_the_end(job_confirm(job=retry, actor=None), emulator)
    assert (retry.succeeded, retry.failed) == (2, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(pioneer.pk)] * 2
    with pytest.raises(BatchRefused, match="half done"):  # the move itself has none to offer again
        job_claim_back(job=BatchJob.objects.get(pk=retry.pk), actor=None)


def test_a_lost_unclaim_answer_is_read_from_the_devices_then_the_claim_follows(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, 3)
    job = job_confirm(job=move_job(imeis, to=pioneer), actor=None)
    emulator.set_faults(drop_after_rate=1.0, methods=[UNCLAIMS])
    chunk = chunk_submit_next(job.pk)
    assert (chunk.phase, chunk.state) == ("unclaim", "unknown")
    emulator.clear_faults()
    emulator.complete_operations()
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    chunk.refresh_from_db()
    assert (chunk.phase, chunk.state, chunk.size, chunk.reconciled_at) == ("claim", "pending", 3, None)
    assert Device.objects.get(imei=imeis[0]).owner_id is None  # the cache knows they are unclaimed
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.failed) == ("done", 3, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(pioneer.pk)] * 3
    assert len(acted_on(emulator, UNCLAIMS)) == 3 and len(acted_on(emulator, CLAIMS)) == 3
    assert sent_once(emulator)


def test_a_lost_claim_answer_is_read_from_the_devices_and_never_sent_twice(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, 3)
    job = job_confirm(job=move_job(imeis, to=pioneer), actor=None)
    chunk = unclaim_half_done(job, emulator)
    emulator.set_faults(drop_after_rate=1.0, methods=[CLAIMS])
    assert chunk_submit_next(job.pk).state == "unknown"
    emulator.clear_faults()
    emulator.complete_operations()
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed, job.half_done) == ("done", 3, 0, 0)
    assert len(emulator.requests_log(method=CLAIMS)) == 1 and sent_once(emulator)
    assert [e.kind for e in DeviceEvent.objects.filter(batch_id=job.pk)] == ["moved"] * 3


def test_a_claim_that_never_reached_zero_touch_is_sent_again_once(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, 2)
    job = job_confirm(job=move_job(imeis, to=pioneer), actor=None)
    chunk = unclaim_half_done(job, emulator)
    emulator.set_faults(drop_rate=1.0, methods=[CLAIMS])  # the connection fails before zero-touch acts
    assert chunk_submit_next(job.pk).state == "unknown"
    emulator.clear_faults()
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    resent = job.chunks.exclude(pk=chunk.pk).get()
    assert (resent.phase, resent.state, resent.size) == ("claim", "pending", 2)
    assert resent.unclaimed_at == BatchChunk.objects.get(pk=chunk.pk).unclaimed_at
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.failed) == ("done", 2, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(pioneer.pk)] * 2
    assert sent_once(emulator)


class WorkerKilled(BaseException):
    """The worker's process dying: nothing after it in the worker runs."""


def test_a_worker_stopped_between_the_halves_or_while_sending_the_claim_loses_nothing(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    imeis = android_imeis(riverside, 2)
    job = job_confirm(job=move_job(imeis, to=pioneer), actor=None)
    chunk = unclaim_half_done(job, emulator)
    # The worker that recorded the unclaims died before sending the claims: the sweeper finds them.
    assert job.pk in batches_sweep().submit

    class DiesAfterSending:
        """The worker's client: the claims leave, then the worker is killed before the answer is kept."""

        partner_id = emulator.partner_id

        def devices_claim_async(self, *, claims):
            zerotouch_client().devices_claim_async(claims=claims)
            raise WorkerKilled

    with pytest.raises(WorkerKilled):
        chunk_submit_next(job.pk, client=DiesAfterSending())
    chunk.refresh_from_db()
    assert (chunk.phase, chunk.state) == ("claim", "submitting")  # committed before the request left
    late = timedelta(seconds=settings.ZT_BATCH_DEADLINE + settings.ZT_BATCH_SETTLE_SECONDS + 1)
    assert chunk.pk in batches_sweep(now=timezone.now() + late).reconcile
    emulator.complete_operations()
    settled(chunk)

    assert chunk_reconcile(chunk.pk).settled is True

    job.refresh_from_db()
    assert (job.state, job.succeeded, job.failed) == ("done", 2, 0)
    assert [owner_in_emulator(emulator, imei) for imei in imeis] == [str(pioneer.pk)] * 2
    assert len(emulator.requests_log(method=CLAIMS)) == 1 and sent_once(emulator)


def test_cancelling_a_move_never_cancels_the_claim_of_devices_already_unclaimed(world):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    job = job_confirm(job=move_job(android_imeis(riverside, 2), to=pioneer), actor=None)
    unclaim_half_done(job, emulator)

    cancellation = job_cancel(job=job, actor=None)

    assert cancellation.cancelled == 0
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.cancelled) == ("done", 2, 0)
