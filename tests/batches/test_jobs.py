"""batches.jobs, what a person does to a job once it runs: cancel the rows not sent yet, and retry, as a
new checked job, the failures a retry could change. Each step audited."""

import pytest

import zerotouch
from batches.jobs import BatchRefused, job_cancel, job_confirm, job_retry_failed
from batches.models import BatchJob
from batches.selectors import retry_plan
from batches.submission import chunk_submit_next
from core.models import AuditEvent
from devices.store import cache_store_devices
from tests.batches.factories import make_job, run_to_the_end
from tests.devices.factories import emulator_device, make_imei


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
    assert (audit.outcome, audit.details) == ("succeeded", {"items_cancelled": 35, "items_already_sent": 25})
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
