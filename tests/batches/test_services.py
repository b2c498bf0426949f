"""Batch jobs through their services against the emulator: pre-flight, submission, results, the
chunk state machine, a lost answer reconciled, cancel and retry. (The real worker: test_worker.py.)"""

import io
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

import zerotouch
from batches.drafts import job_from_input
from batches.jobs import BatchRefused, job_cancel, job_confirm, job_retry_failed
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.parsing import FileRefused
from batches.polling import chunk_poll
from batches.reconciliation import chunk_reconcile
from batches.results import results_csv
from batches.selectors import retry_plan
from batches.submission import chunk_submit_next
from batches.sweep import batches_sweep
from core.models import AuditEvent
from devices.cache import cache_store_devices
from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceEvent
from tests.devices.factories import emulator_device, make_imei


def make_job(text: str, *, action="claim", customer=None, actor=None) -> BatchJob:
    return job_from_input(
        action=action,
        mode="file",
        customer=customer,
        actor=actor,
        upload=io.BytesIO(text.encode()),
        upload_name="devices.csv",
    )


def run_to_the_end(job: BatchJob, emulator, *, rounds: int = 60) -> BatchJob:
    """What the worker does, in this process: send every chunk, then poll until every one is done."""
    while chunk_submit_next(job.pk) is not None:
        pass
    for _ in range(rounds):
        emulator.complete_operations()
        for chunk in job.chunks.filter(state=BatchChunk.State.SUBMITTED):
            chunk_poll(chunk.pk)
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish: {job.state}")


def settled(chunk: BatchChunk) -> None:
    """The chunk's request was sent long enough ago for any operation it started to have ended."""
    BatchChunk.objects.filter(pk=chunk.pk).update(
        due_at=None, attempted_at=timezone.now() - timedelta(hours=1)
    )


def items(job: BatchJob) -> dict[int, BatchItem]:
    return {item.row_number: item for item in job.items.all()}


# --- Pre-flight ------------------------------------------------------------------------------------


def test_preflight_explains_every_rejected_row_and_sends_nothing(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    theirs = Device.objects.filter(owner=other).first()
    ours = Device.objects.filter(owner=customer).first()
    good = make_imei(91001)
    typo = good[:-1] + str((int(good[-1]) + 3) % 10)
    body = "0135790246813"[:13].rjust(14, "0")  # an IMEI that begins with 0, as some TACs do
    lost_zero = body + str(luhn_check_digit(body))
    emulator.clear_requests_log()
    text = "\n".join(
        [
            "imei,meid,serial,manufacturer,model,ordernumber",
            f"{good},,,,,SO-1",  # 2 ready
            f"{typo},,,,,",  # 3 bad check digit
            "3.5064E+14,,,,,",  # 4 spreadsheet
            f"{lost_zero[1:]},,,,,",  # 5 lost leading zero
            ",A00000ZZZZ1234,,,,",  # 6 MEID not hex
            ",,R58N1234,,,",  # 7 serial without make and model
            ",,R58N5678,Google,pixel 8,",  # 8 wrong spelling of the model
            f"{theirs.imei},,,,,",  # 9 claimed by another customer
            f"{ours.imei},,,,,",  # 10 already this customer's: nothing to do
            f"{good},,,,,",  # 11 duplicate of row 2
        ]
    )

    job = make_job(text, customer=customer, actor=admin_user)

    rows = items(job)
    assert (job.state, job.rows, job.ready, job.invalid, job.skipped) == ("draft", 10, 1, 8, 1)
    assert rows[2].state == "pending" and rows[2].metadata == {"ordernumber": "SO-1"}
    assert "check digit is wrong" in rows[3].message and rows[3].suggestion == ""
    assert "scientific notation" in rows[4].message and "15 digits" not in rows[4].message
    assert "leading zero" in rows[5].message and rows[5].suggestion == lost_zero
    assert "A MEID is 14 hexadecimal characters" in rows[6].message
    assert "needs the manufacturer" in rows[7].message
    assert "'pixel 8' is spelt 'Pixel 8'" in rows[8].message and rows[8].suggestion == "Pixel 8"
    assert f"Claimed by another customer, {other.name}" in rows[9].message
    assert rows[10].state == "skipped" and "nothing to do" in rows[10].message
    assert "same device as row 2" in rows[11].message
    assert emulator.requests_log() == []  # nothing sent
    # The check itself is audited (issue: every step of a job is), nothing else happened.
    assert list(AuditEvent.objects.filter(action__startswith="batch.").values_list("action", flat=True)) == [
        "batch.create"
    ]


def test_google_format_names_the_customer_per_row(world):
    customer, vendor_customer = world["customer"], world["vendor_customer"]
    text = "\n".join(
        [
            "modemtype;modemid;serial;model;manufacturer;profiletype;owner;ordernumber",
            f"IMEI;{make_imei(91010)};;;;ZERO_TOUCH;{customer.pk};SO-7",
            f"IMEI;{make_imei(91011)};;;;ZERO_TOUCH;99999;",
            f"IMEI;{make_imei(91012)};;;;ZERO_TOUCH;{vendor_customer.pk};",
            f"IMEI;{make_imei(91013)};;;;SIM_LOCK;{customer.pk};",
        ]
    )

    job = make_job(text)

    rows = items(job)
    assert rows[2].state == "pending" and rows[2].customer_id == customer.pk
    assert "not known to the portal" in rows[3].message
    assert "only that vendor can claim" in rows[4].message
    assert "only ZERO_TOUCH" in rows[5].message


def test_a_file_that_cannot_be_read_keeps_nothing(world):
    with pytest.raises(FileRefused, match="not UTF-8"):
        job_from_input(
            action="claim",
            mode="file",
            customer=world["customer"],
            actor=None,
            upload=io.BytesIO("imei\n3576062\xe9\n".encode("latin-1")),
            upload_name="latin.csv",
        )
    assert not BatchJob.objects.exists() and not BatchItem.objects.exists()


def test_metadata_rows_are_checked_against_the_cache(world):
    customer = world["customer"]
    chrome = Device.objects.filter(device_type="DEVICE_TYPE_CHROME_OS").first()
    claimed = (
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .first()
    )
    lines = ["imei,serial,manufacturer,model,ordernumber,phonenumber", f"{claimed.imei},,,,SO-1,"]
    if chrome is not None:
        lines.append(f",{chrome.serial_number},{chrome.manufacturer},{chrome.model},SO-2,")
    lines.append(f"{claimed.imei},,,,,")

    job = make_job("\n".join(lines), action="metadata")

    rows = items(job)
    assert rows[2].state == "pending"
    if chrome is not None:
        assert "ChromeOS device" in rows[3].message
    assert "Give an order number or a phone number" in rows[len(lines)].message


# --- Submission and results ----------------------------------------------------------------------


def test_a_job_claims_its_ready_rows_and_records_every_outcome(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    fresh = [make_imei(92000 + n) for n in range(60)]
    # Claimed for another customer after the last sync: the cache does not know, zero-touch refuses.
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": fresh[0]},
        },
    )
    assert status == 200, body
    job = make_job(
        "imei,ordernumber\n" + "\n".join(f"{imei},SO-{n}" for n, imei in enumerate(fresh)),
        customer=customer,
        actor=admin_user,
    )
    assert job.ready == 60

    job = job_confirm(job=job, actor=admin_user)
    assert job.state == "queued" and job.chunks.count() == 3  # chunks of 25
    job = run_to_the_end(job, emulator)

    assert (job.state, job.succeeded, job.failed, job.pending) == ("done", 59, 1, 0)
    refused = job.items.get(imei=fresh[0])
    assert (refused.state, refused.failure_kind) == ("failed", "other_customer")
    assert "claimed for another customer" in refused.message
    assert emulator_device(emulator, fresh[7])["claims"][0]["ownerCompanyId"] == str(customer.pk)
    device = Device.objects.get(imei=fresh[7])
    assert (device.owner_id, device.order_number) == (customer.pk, "SO-7")
    event = device.events.get()
    assert (event.kind, event.source, event.batch_id, event.outcome) == (
        "claimed",
        "batch",
        job.pk,
        "succeeded",
    )
    assert not DeviceEvent.objects.filter(kind__startswith="drift").exists()
    sent = [
        claim["deviceIdentifier"]["imei"]
        for r in emulator.requests_log(method="partners.devices.claimAsync")
        for claim in r["body"]["claims"]
    ]
    assert sorted(sent) == sorted(fresh)  # each device sent once
    audit = AuditEvent.objects.get(action="batch.claim")
    assert (audit.actor_username, audit.details["ready"]) == ("admin", 60)


def test_a_chunk_is_marked_submitting_before_its_request_leaves(world):
    job = job_confirm(job=make_job(f"imei\n{make_imei(93001)}\n", customer=world["customer"]), actor=None)
    chunk = job.chunks.get()
    seen_states = []

    class Watching:
        """A client whose send first looks at the database, as the API's side would see it."""

        partner_id = world["emulator"].partner_id

        def devices_claim_async(self, *, claims):
            seen_states.append(BatchChunk.objects.get(pk=chunk.pk).state)
            from core.api import zerotouch_client

            return zerotouch_client().devices_claim_async(claims=claims)

    chunk_submit_next(job.pk, client=Watching())

    assert seen_states == ["submitting"]
    chunk.refresh_from_db()
    assert chunk.state == "submitted" and chunk.operation_name.startswith("operations/")


def test_a_request_that_never_left_waits_and_is_sent_later(world):
    emulator = world["emulator"]
    job = job_confirm(job=make_job(f"imei\n{make_imei(93010)}\n", customer=world["customer"]), actor=None)
    emulator.set_faults(error_rate=1.0, error_codes=[429], methods=["partners.devices.claimAsync"])

    chunk = chunk_submit_next(job.pk)

    assert chunk.state == "pending" and chunk.due_at is not None and "busy" in chunk.last_error
    assert chunk_submit_next(job.pk) is None  # not due yet
    emulator.clear_faults()
    BatchChunk.objects.filter(pk=chunk.pk).update(due_at=None)
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (1, 0)


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


# --- Cancel, retry, results file ------------------------------------------------------------------


def test_cancel_stops_the_chunks_not_sent(world, admin_user):
    emulator = world["emulator"]
    job = job_confirm(
        job=make_job(
            "imei\n" + "\n".join(make_imei(95000 + n) for n in range(60)), customer=world["customer"]
        ),
        actor=admin_user,
    )
    chunk_submit_next(job.pk)  # the first of three chunks is sent

    cancelled = job_cancel(job=job, actor=admin_user)

    assert (cancelled.cancelled, cancelled.already_sent) == (35, 25)
    assert cancelled.sentence == "Cancelled 35 rows not sent yet; 25 already sent finish."
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.cancelled) == ("cancelled", 25, 35)
    assert len(emulator.requests_log(method="partners.devices.claimAsync")) == 1
    audit = AuditEvent.objects.get(action="batch.cancel")
    assert (audit.outcome, audit.details) == ("success", {"items_cancelled": 35, "items_already_sent": 25})
    with pytest.raises(BatchRefused):
        job_cancel(job=job, actor=admin_user)


def test_retry_makes_a_new_checked_job_of_the_failures_a_retry_could_change(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    taken, fine = make_imei(96000), make_imei(96001)
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": taken},
        },
    )
    flaky = make_imei(96002)
    job = job_confirm(job=make_job(f"imei\n{taken}\n{fine}\n{flaky}\n", customer=customer), actor=admin_user)
    job = run_to_the_end(job, emulator)
    assert (job.succeeded, job.failed) == (2, 1)
    # A temporary problem at zero-touch for one device (what a per-device 5xx status is recorded as),
    # which a retry can change; the other customer's device stays theirs whatever is retried.
    job.items.filter(imei=flaky).update(
        state="failed", failure_kind="temporary", message="Zero-touch had a temporary problem."
    )
    BatchJob.objects.filter(pk=job.pk).update(succeeded=1, failed=2)
    job.refresh_from_db()
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:unclaim",
        {"deviceIdentifier": {"imei": flaky}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, flaky))])  # as a sync would
    assert retry_plan(job).left_out_sentence == (
        "1 failed row stays out, since a retry would meet the same refusal (claimed by another customer: 1)."
    )

    retry = job_retry_failed(job=job, actor=admin_user)

    assert (retry.state, retry.rows, retry.ready, retry.retry_of_id, retry.source) == (
        "draft",
        1,
        1,
        job.pk,
        "retry",
    )
    assert list(retry.items.values_list("imei", flat=True)) == [flaky]  # the refused device stays out
    retry = run_to_the_end(job_confirm(job=retry, actor=admin_user), emulator)
    assert (retry.succeeded, retry.failed) == (1, 0)
    assert emulator_device(emulator, flaky)["claims"][0]["ownerCompanyId"] == str(customer.pk)
    assert emulator_device(emulator, taken)["claims"][0]["ownerCompanyId"] == str(other.pk)
    assert AuditEvent.objects.get(action="batch.retry").details == {
        "new_job": retry.pk,
        "rows": 1,
        "left_out": 1,
    }
    with pytest.raises(BatchRefused):
        job_retry_failed(job=retry, actor=admin_user)


def test_the_results_file_neutralises_formulas(world):
    job = make_job('imei,ordernumber\n=HYPERLINK("http://x"),@SUM(1)\n', customer=world["customer"])

    text = "".join(results_csv(job))

    assert text.startswith("\ufeffimei,ordernumber,row,result")
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    assert "\n=" not in text and ",=" not in text and ",@" not in text


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
