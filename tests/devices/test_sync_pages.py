"""The sync as people see it, and what keeps the cache fresh between full passes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from core.roles import Role
from customers.models import Customer
from devices.models import Device, DeviceEvent, DeviceModel, SyncRun
from devices.selectors import manufacturer_models
from devices.sync import MORE, active_customers, sync_begin, sync_full, sync_step
from tests.devices.factories import make_imei

HTMX = {"HX-Request": "true"}


@pytest.mark.django_db
def test_the_sync_page_shows_the_run_under_way_with_its_progress_and_the_last_finished(emulator, client_as):
    emulator.seed(customers=25, vendors=0, devices=600, random_seed=91)
    sync_full()
    emulator.set_faults(error_rate=1.0, error_codes=[500], methods=["partners.vendors.list"])
    failed = sync_full()
    emulator.clear_faults()
    run = sync_begin(trigger="test")
    sync_step(run.pk, budget=0.0)  # customers read, one group of ten customers under way
    assert sync_step(run.pk, budget=0.0) == MORE

    page = client_as(Role.MANAGERS).get("/devices/sync/")
    fragment = client_as(Role.MANAGERS).get("/devices/sync/", headers={**HTMX, "HX-Target": "sync-current"})

    assert page.status_code == 200
    assert "Full sync</strong> running since" in page.text and 'hx-trigger="every 5s"' in page.text
    assert "of 25 customers" in page.text
    assert f"{failed.get_status_display().lower()}" in page.text and "Sync stopped" in page.text
    assert "<html" not in fragment.text and "of 25 customers" in fragment.text
    home = client_as(Role.SALES).get("/")
    assert "A full sync is running" in home.text and "Sync details" in home.text


@pytest.mark.django_db
def test_each_customer_records_when_its_devices_were_read(emulator):
    emulator.seed(customers=3, vendors=0, devices=40, random_seed=92)
    before = timezone.now()

    sync_full()

    assert not Customer.objects.filter(devices_synced_at__isnull=True).exists()
    assert not Customer.objects.filter(devices_synced_at__lt=before).exists()


@pytest.mark.django_db
def test_sales_can_ask_for_one_customers_devices_now(emulator, client_as, django_capture_on_commit_callbacks):
    emulator.seed(customers=2, vendors=0, devices=30, random_seed=93)
    sync_full()
    customer = Customer.objects.first()
    listing = client_as(Role.SALES).get("/devices/", {"customer": customer.pk})
    assert "Sync this customer now" in listing.text and "last read from zero-touch" in listing.text

    with django_capture_on_commit_callbacks() as callbacks:
        response = client_as(Role.SALES).post(f"/devices/sync/customer/{customer.pk}/", follow=True)

    assert "has started" in response.text
    assert len(callbacks) == 1  # the task is enqueued once the audit row is committed
    assert AuditEvent.objects.get(action="sync.customer").target_label == customer.name
    assert client_as(Role.MANAGERS).post(f"/devices/sync/customer/{customer.pk}/").status_code == 403
    assert (
        "Sync this customer now"
        not in client_as(Role.MANAGERS).get("/devices/", {"customer": customer.pk}).text
    )


@pytest.mark.django_db
def test_customers_with_recent_changes_are_the_active_ones(emulator, client_as):
    emulator.seed(customers=3, vendors=0, devices=30, random_seed=94)
    sync_full()
    device = Device.objects.filter(owner__isnull=False).first()
    busy = device.owner
    quiet = Customer.objects.exclude(pk=busy.pk).first()
    DeviceEvent.objects.create(device=device, kind="metadata_changed", source="ui", customer_id=busy.pk)
    DeviceEvent.objects.create(
        device=device,
        kind="claimed",
        source="ui",
        customer_id=quiet.pk,
        created_at=timezone.now() - timedelta(days=1),
    )

    assert active_customers(since=timezone.now() - timedelta(minutes=15)) == [busy.pk]


@pytest.mark.django_db
def test_the_filters_list_models_kept_by_the_writers_without_scanning_devices(emulator, client_as):
    emulator.seed(customers=2, vendors=0, devices=60, random_seed=95)
    sync_full()
    in_cache = set(Device.objects.values_list("manufacturer", "model").distinct())
    listed = manufacturer_models()
    # Every pair, a manufacturer in several spellings (the emulator's catalogue has some) listed once.
    assert {(make.casefold(), model) for make, model in listed} == {
        (make.casefold(), model) for make, model in in_cache
    }
    assert len({make for make, _ in listed}) == len({make.casefold() for make, _ in in_cache})

    with CaptureQueriesContext(connection) as queries:
        manufacturer_models()
    assert len(queries) == 1 and '"devices_device"' not in queries[0]["sql"]

    customer = Customer.objects.first()
    client_as(Role.SALES).post(
        "/devices/claim/",
        {
            "device_type": "android",
            "serial_number": "ZX81-0001",
            "manufacturer": "motorola",
            "model": "moto g54 5G",
            "customer": customer.pk,
        },
        headers=HTMX,
    )
    assert ("motorola", "moto g54 5G") in manufacturer_models()
    # A model no device has any more leaves the list at the end of the next full sync.
    DeviceModel.objects.create(manufacturer="Gone", model="Phone 1")
    assert sync_full().status == SyncRun.Status.SUCCEEDED
    assert ("Gone", "Phone 1") not in manufacturer_models()


@pytest.mark.django_db
def test_a_batch_claim_adds_its_new_models_too(emulator):
    import zerotouch
    from devices.changes import Action, Intent, Verdict
    from devices.recorder import devices_record_batch

    emulator.seed(customers=1, vendors=0, devices=0, random_seed=96)
    sync_full()
    customer = Customer.objects.get()
    devices_record_batch(
        changes=[
            (
                Intent(
                    action=Action.CLAIM,
                    identifier=zerotouch.DeviceIdentifier(
                        imei=make_imei(96001), manufacturer="Zebra", model="TC58"
                    ),
                    customer_id=customer.pk,
                ),
                Verdict(succeeded=True, device_id=123456789),
            )
        ],
        actor=None,
        batch_id=1,
        reseller_id=1000001,
    )

    assert ("Zebra", "TC58") in manufacturer_models()


@pytest.mark.django_db
def test_the_sync_runs_say_who_or_what_started_them_in_words(client_as):
    for trigger in ("beat", "command", "admin: Ada Admin"):
        SyncRun.objects.create(trigger=trigger, status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())

    page = client_as(Role.MANAGERS).get("/devices/sync/").text

    assert "<td>Schedule</td>" in page and "<td>Command line</td>" in page and "<td>Ada Admin</td>" in page
    assert ">beat<" not in page and "admin: " not in page
