"""batches.polling, a sent chunk asked after until its operation is done: every row's outcome recorded
(the item, the device's cache and history, the job's counts), each device sent once."""

from batches.jobs import job_confirm
from core.models import AuditEvent
from devices.models import Device, DeviceEvent
from tests.batches.factories import make_job, run_to_the_end
from tests.devices.factories import emulator_device, make_imei


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
