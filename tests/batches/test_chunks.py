"""batches.chunks: what a chunk's verdicts write into the device history is true: a metadata change's
values before it (from the cache, as the one-device edit records them), the make and model of a device
named by its IMEI alone, and a model the cache learns later."""

import io

import zerotouch
from batches.drafts import job_from_input
from batches.jobs import job_confirm
from devices.history import events_fill_models
from devices.models import Device, DeviceEvent
from devices.selectors import device_history
from devices.store import cache_store_devices
from reports.models import DailyModelTotal
from tests.batches.factories import run_to_the_end
from tests.devices.factories import emulator_device, make_imei


def file_job(text: str, **kwargs):
    return job_from_input(mode="file", upload=io.BytesIO(text.encode()), upload_name="devices.csv", **kwargs)


def an_android_device(customer) -> Device:
    return (
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .exclude(model="")
        .order_by("device_id")
        .first()
    )


def test_a_metadata_batch_records_each_value_before_the_change(world, admin_user):
    emulator, customer = world["emulator"], world["customer"]
    device = an_android_device(customer)
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices/{device.device_id}/metadata",
        {"deviceMetadata": {"entries": {"phonenumber": "+316123403080"}}},
    )
    assert status == 200, body
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, device.imei))])

    job = file_job(
        f"imei,phonenumber\n{device.imei},+441111111111\n", action="metadata", customer=None, actor=admin_user
    )
    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    assert job.succeeded == 1
    event = device.events.get(kind=DeviceEvent.Kind.METADATA_CHANGED)
    assert event.details["before"] == {"phonenumber": "+316123403080"}
    assert event.details["after"] == {"phonenumber": "+441111111111"}
    [entry] = [e for e in device_history(device) if e.event.pk == event.pk]
    assert "Phone number: +316123403080 → +441111111111" in entry.lines


def test_a_claim_from_an_imei_alone_records_the_cached_make_and_model(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    device = an_android_device(other)
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:unclaim",
        {"deviceId": str(device.device_id), "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, body
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, device.imei))])

    job = file_job(f"imei\n{device.imei}\n", action="claim", customer=customer, actor=admin_user)
    job = run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)

    assert job.succeeded == 1
    event = DeviceEvent.objects.get(batch_id=job.pk)
    assert (event.manufacturer, event.model) == (device.manufacturer, device.model)
    assert event.model != ""


def test_a_device_the_cache_learns_later_gets_its_model_in_history_and_reports(world, admin_user):
    emulator, customer = world["emulator"], world["customer"]
    imei = make_imei(98001)
    # Registered at zero-touch with its model, unknown to the cache: claimed by its IMEI alone.
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(world["other"].pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": imei, "manufacturer": "Google", "model": "Pixel 9"},
        },
    )
    assert status == 200, body
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:unclaim",
        {"deviceIdentifier": {"imei": imei}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    job = file_job(f"imei\n{imei}\n", action="claim", customer=customer, actor=admin_user)
    run_to_the_end(job_confirm(job=job, actor=admin_user), emulator)
    event = DeviceEvent.objects.get(batch_id=job.pk)
    assert (event.manufacturer, event.model) == ("", "")
    cache_store_devices([zerotouch.Device.from_json(emulator_device(emulator, imei))])  # the next sync

    assert events_fill_models() == 1

    event.refresh_from_db()
    assert (event.manufacturer, event.model) == ("Google", "Pixel 9")
    totals = {(t.manufacturer, t.model): t.count for t in DailyModelTotal.objects.filter(kind="claimed")}
    assert totals.get(("Google", "Pixel 9")) == 1
    assert ("", "") not in totals
    assert events_fill_models() == 0
