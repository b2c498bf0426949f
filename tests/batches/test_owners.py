"""A batch changes only the devices of the customer the person named: the pre-flight refuses another
customer's device in words, the last check before a chunk leaves skips a device that changed hands
since, "whichever customer holds each device" is an explicit choice that lists the owners, and a
Google-format file's rows say whom each is for. Checked in the emulator: exactly the devices meant."""

import io

import pytest
from django.core.management import call_command

import zerotouch
from batches.drafts import CustomerNeeded, job_from_input
from batches.jobs import job_confirm
from batches.models import BatchJob
from batches.selectors import job_customers
from devices.cache import cache_store_devices
from devices.models import Device
from tests.batches.test_services import items, run_to_the_end
from tests.devices.factories import emulator_device, make_imei


def unclaim_job(lines: list[str], **kwargs) -> BatchJob:
    return job_from_input(
        action="unclaim",
        mode="paste",
        actor=kwargs.pop("actor", None),
        text="\n".join(lines) + "\n",
        **kwargs,
    )


def android_imeis(customer, count: int) -> list[str]:
    return list(
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .order_by("device_id")
        .values_list("imei", flat=True)[:count]
    )


def owner_in_emulator(emulator, imei: str) -> str | None:
    claims = emulator_device(emulator, imei).get("claims", [])
    zero_touch = [c for c in claims if c["sectionType"] == "SECTION_TYPE_ZERO_TOUCH"]
    return zero_touch[0]["ownerCompanyId"] if zero_touch else None


def test_an_unclaim_for_one_customer_refuses_another_customers_device(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    ours = android_imeis(pioneer, 2)
    theirs = android_imeis(riverside, 1)[0]

    job = unclaim_job([ours[0], theirs, ours[1]], customer=pioneer, actor=admin_user)

    rows = items(job)
    assert (job.ready, job.invalid) == (2, 1)
    assert rows[2].imei == theirs and rows[2].state == "invalid"
    assert rows[2].message == f"Claimed by {riverside.name}, not by {pioneer.name}: left as it is."
    assert [c.name for c in job_customers(job)] == [pioneer.name]
    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    assert (job.succeeded, job.failed) == (2, 0)
    assert owner_in_emulator(emulator, theirs) == str(riverside.pk)  # untouched
    assert owner_in_emulator(emulator, ours[0]) is None and owner_in_emulator(emulator, ours[1]) is None
    sent = [
        unclaim["deviceId"]
        for request in emulator.requests_log(method="partners.devices.unclaimAsync")
        for unclaim in request["body"]["unclaims"]
    ]
    assert str(Device.objects.get(imei=theirs).device_id) not in sent


def test_an_unclaim_names_its_customer_or_chooses_any_owner_explicitly(world):
    imei = android_imeis(world["customer"], 1)[0]

    with pytest.raises(CustomerNeeded, match="Choose the customer the devices are unclaimed from"):
        unclaim_job([imei], customer=None)

    assert not BatchJob.objects.exists()


def test_unclaiming_from_whoever_holds_each_device_lists_the_owners(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    ours, theirs = android_imeis(pioneer, 2), android_imeis(riverside, 1)

    job = unclaim_job([*ours, *theirs], customer=None, any_owner=True, actor=admin_user)

    assert (job.any_owner, job.ready, job.customers) == (True, 3, 2)
    assert [(c.name, c.rows) for c in job_customers(job)] == [(pioneer.name, 2), (riverside.name, 1)]
    run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)
    assert [owner_in_emulator(emulator, imei) for imei in [*ours, *theirs]] == [None, None, None]


def test_a_device_that_changed_hands_after_the_check_is_skipped_before_sending(world, admin_user):
    emulator, pioneer, riverside = world["emulator"], world["customer"], world["other"]
    moving, staying = android_imeis(pioneer, 2)
    job = unclaim_job([moving, staying], customer=pioneer, actor=admin_user)
    assert job.ready == 2
    # Between the check and the send, the device moves to Riverside (a colleague, or a sync).
    for path, body in (
        ("devices:unclaim", {"deviceIdentifier": {"imei": moving}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"}),
        (
            "devices:claim",
            {
                "customerId": str(riverside.pk),
                "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                "deviceIdentifier": {"imei": moving},
            },
        ),
    ):
        status, answer = emulator.api("POST", f"/v1/partners/{emulator.partner_id}/{path}", body)
        assert status == 200, answer
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, moving))])

    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    moved = job.items.get(imei=moving)
    assert moved.state == "skipped"
    assert moved.message == (
        f"Claimed by {riverside.name} since the check, not by {pioneer.name}: left as it is."
    )
    assert (job.state, job.succeeded, job.failed, job.skipped, job.ready, job.pending) == (
        "done",
        1,
        0,
        1,
        1,
        0,
    )
    assert owner_in_emulator(emulator, moving) == str(riverside.pk)
    assert owner_in_emulator(emulator, staying) is None
    [request] = emulator.requests_log(method="partners.devices.unclaimAsync")
    assert len(request["body"]["unclaims"]) == 1


def test_zt_batch_unclaim_without_a_customer_unclaims_from_each_owner(world, tmp_path, capsys):
    pioneer, riverside = world["customer"], world["other"]
    ours, theirs = android_imeis(pioneer, 1)[0], android_imeis(riverside, 1)[0]
    path = tmp_path / "devices.csv"
    path.write_text(f"imei\n{ours}\n{theirs}\n")

    call_command("zt_batch", "unclaim", str(path))

    job = BatchJob.objects.get()
    assert (job.any_owner, job.ready) == (True, 2)
    out = capsys.readouterr().out
    assert "Unclaimed from whichever customer holds each device" in out
    assert (
        f"held by {pioneer.name} ({pioneer.pk})" in out
        and f"held by {riverside.name} ({riverside.pk})" in out
    )


def test_a_google_format_file_says_whom_each_row_is_for(world):
    pioneer, riverside = world["customer"], world["other"]
    text = "\n".join(
        [
            "modemtype,modemid,serial,model,manufacturer,profiletype,owner",
            f"IMEI,{make_imei(97001)},,,,ZERO_TOUCH,{pioneer.pk}",
            f"IMEI,{make_imei(97002)},,,,ZERO_TOUCH,{pioneer.pk}",
            f"IMEI,{make_imei(97003)},,,,ZERO_TOUCH,{riverside.pk}",
        ]
    )

    job = job_from_input(
        action="claim",
        mode="file",
        customer=None,
        actor=None,
        upload=io.BytesIO(text.encode()),
        upload_name="google.csv",
    )

    assert (job.customer_id, job.customers, job.ready) == (None, 2, 3)
    assert [(c.name, c.rows) for c in job_customers(job)] == [(pioneer.name, 2), (riverside.name, 1)]
