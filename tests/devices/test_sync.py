"""Sync against a real emulator process: the cache ends up equal to the API's state."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from bench.subprocesses import database_url
from customers.models import Customer, Vendor
from devices.models import Device, DeviceEvent, SearchKey, SyncRun
from devices.services import device_refresh
from devices.sync import SyncAlreadyRunning, prefetched, sync_customer_devices, sync_full, sync_workers

ROOT = Path(__file__).resolve().parents[2]


def cached_claims() -> dict[int, int]:
    return dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))


@pytest.mark.django_db
def test_a_full_sync_fills_an_empty_cache_with_exactly_the_api_state(emulator):
    emulator.seed(customers=5, vendors=2, customers_per_vendor=2, devices=700, random_seed=3)
    truth = emulator.zero_touch_claims()

    run = sync_full()

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert cached_claims() == truth
    assert run.devices_created == len(truth)
    assert (run.devices_fetched, run.devices_drifted) == (len(truth), 0)
    assert Customer.objects.count() == run.customers_fetched == 5 + 2 * 2
    assert Vendor.objects.count() == 2
    vendor_customers = set(Customer.objects.of_vendors().values_list("pk", flat=True))
    vendor_devices = {device for device, owner in truth.items() if owner in vendor_customers}
    assert vendor_devices, "the seed has devices sold through vendors"
    assert (
        set(Device.objects.filter(sold_by_vendor=True).values_list("device_id", flat=True)) == vendor_devices
    )


@pytest.mark.django_db
def test_a_second_sync_updates_and_finds_drift_made_behind_the_portals_back(emulator):
    emulator.seed(customers=3, vendors=0, devices=120, random_seed=4)
    sync_full()
    claims = emulator.zero_touch_claims()
    unclaimed, moved = sorted(claims)[:2]
    other_owner = next(owner for owner in set(claims.values()) if owner != claims[moved])
    partner = emulator.partner_id
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{partner}/devices:unclaim",
        {"deviceId": str(unclaimed), "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, body
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{partner}/devices:unclaim",
        {"deviceId": str(moved), "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, body
    device = Device.objects.get(device_id=moved)
    identifier = {"imei": device.imei} if device.imei else {"meid": device.meid}
    if not device.imei and not device.meid:
        identifier = {
            "serialNumber": device.serial_number,
            "manufacturer": device.manufacturer,
            "model": device.model,
        }
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{partner}/devices:claim",
        {
            "customerId": str(other_owner),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": identifier,
        },
    )
    assert status == 200, body

    run = sync_full()

    assert cached_claims() == emulator.zero_touch_claims()
    assert Device.objects.get(device_id=unclaimed).owner_id is None
    assert Device.objects.get(device_id=moved).owner_id == other_owner
    assert run.devices_created == 0
    assert run.devices_drifted == 2
    kinds = dict(DeviceEvent.objects.filter(sync_run=run).values_list("device_id", "kind"))
    assert kinds == {unclaimed: "drift_unclaimed", moved: "drift_claimed"}


@pytest.mark.django_db
def test_sync_under_injected_server_errors_still_ends_exact(emulator):
    emulator.seed(customers=4, vendors=1, customers_per_vendor=2, devices=1500, random_seed=5)
    truth = emulator.zero_touch_claims()
    emulator.set_faults(error_rate=0.2, error_codes=[500, 503], random_seed=11)

    run = sync_full()

    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert cached_claims() == truth
    assert (
        sum(
            emulator.stats()["methods"]["partners.devices.findByOwner"].get(code, 0)
            for code in ("500", "503")
        )
        > 0
    )


def fail_every_device_listing(emulator, settings) -> None:
    """findByOwner answers 500 every time, with no time left for retries: the error sticks."""
    from core.api import reset_zerotouch_client

    settings.ZT_BATCH_DEADLINE = 0.5
    reset_zerotouch_client()
    emulator.set_faults(error_rate=1.0, error_codes=[500], methods=["partners.devices.findByOwner"])


@pytest.mark.django_db
def test_errors_on_some_customers_are_recorded_and_the_others_synced(emulator, settings):
    emulator.seed(customers=3, vendors=0, devices=90, random_seed=6)
    truth = emulator.zero_touch_claims()
    fail_every_device_listing(emulator, settings)

    run = sync_full()

    assert run.status == SyncRun.Status.PARTIAL
    assert Customer.objects.count() == 3  # customers were still synced
    assert any("Devices of customers" in error for error in run.errors)
    assert cached_claims() == {}
    emulator.clear_faults()

    resumed = sync_full()

    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert cached_claims() == truth


@pytest.mark.django_db
def test_only_one_sync_runs_at_a_time_and_a_dead_one_is_taken_over(emulator, settings):
    emulator.seed(customers=2, vendors=0, devices=30, random_seed=7)
    SyncRun.objects.create(trigger="another worker")

    with pytest.raises(SyncAlreadyRunning):
        sync_full()

    settings.ZT_SYNC_STALE_SECONDS = 0
    run = sync_full()

    assert run.status == SyncRun.Status.SUCCEEDED
    dead = SyncRun.objects.get(trigger="another worker")
    assert dead.status == SyncRun.Status.INTERRUPTED
    assert cached_claims() == emulator.zero_touch_claims()


@pytest.mark.django_db(transaction=True)
def test_a_sync_killed_mid_way_leaves_a_consistent_cache_and_the_next_run_completes_it(emulator, settings):
    emulator.seed(customers=12, vendors=0, devices=3000, random_seed=8)
    truth = emulator.zero_touch_claims()
    emulator.set_faults(latency_ms=40, methods=["partners.devices.findByOwner"])
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url(),
        "ZT_API_URL": emulator.url,
        "ZT_PARTNER_ID": str(emulator.partner_id),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "ZT_QUOTA_REQUESTS": "1000000",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "zt_sync"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not SyncRun.objects.filter(progress__owners_done__0__isnull=False).exists():
            assert time.monotonic() < deadline, "the sync never finished a group of customers"
            assert worker.poll() is None, "the sync finished before it could be killed; slow it down"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed = SyncRun.objects.get()
    assert killed.status == SyncRun.Status.RUNNING
    partial = cached_claims()
    assert 0 < len(partial) < len(truth)
    assert all(truth[device] == owner for device, owner in partial.items())  # nothing half-written
    emulator.clear_faults()
    settings.ZT_SYNC_STALE_SECONDS = 0

    resumed = sync_full()

    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert resumed.progress["resumed_from"] == killed.pk
    assert cached_claims() == truth
    assert SyncRun.objects.get(pk=killed.pk).status == SyncRun.Status.INTERRUPTED


@pytest.mark.django_db
def test_refreshing_one_customer_or_one_device(emulator):
    emulator.seed(customers=2, vendors=0, devices=40, random_seed=9)
    sync_full()
    claims = emulator.zero_touch_claims()
    device_id, owner = next(iter(claims.items()))
    Device.objects.filter(device_id=device_id).update(model="stale")

    device = device_refresh(device=Device.objects.get(device_id=device_id))
    run = sync_customer_devices(customer_id=owner)

    assert device.model != "stale"
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.devices_fetched == sum(1 for o in claims.values() if o == owner)


@pytest.mark.django_db
def test_the_sync_command_prints_its_counts(emulator, capsys):
    emulator.seed(customers=2, vendors=1, customers_per_vendor=1, devices=50, random_seed=10)

    call_command("zt_sync")

    out = capsys.readouterr().out
    claims = len(emulator.zero_touch_claims())
    assert f"{claims} devices fetched, {claims} created, 0 updated, 0 drifted" in out
    assert "3 customers" in out


@pytest.fixture
def eager_tasks():
    from portal.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_a_worker_starting_on_a_cache_that_never_synced_starts_a_sync(emulator, eager_tasks):
    from devices.tasks import sync_when_never_synced

    emulator.seed(customers=2, vendors=0, devices=20, random_seed=12)

    sync_when_never_synced(sender=None)
    sync_when_never_synced(sender=None)  # a second worker coming up: the cache has synced now

    assert SyncRun.objects.count() == 1
    assert cached_claims() == emulator.zero_touch_claims()


def test_prefetching_hands_over_every_item_in_order():
    assert list(prefetched(iter(range(1234)), buffer=300, chunk=100)) == list(range(1234))


def test_a_prefetch_error_comes_after_the_items_that_preceded_it():
    def source():
        yield from range(150)
        raise RuntimeError("page 2 failed")

    received = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        for item in prefetched(source(), buffer=100, chunk=100):
            received.append(item)

    assert received == list(range(150))


def test_a_consumer_that_stops_early_stops_the_prefetch_thread():
    produced = []

    def source():
        for item in range(1_000_000):
            produced.append(item)
            yield item

    items = prefetched(source(), buffer=200, chunk=100)
    assert [next(items) for _ in range(5)] == [0, 1, 2, 3, 4]
    items.close()

    assert not any(thread.name == "sync-prefetch" for thread in threading.enumerate())
    assert len(produced) <= 200 + 2 * 100  # the buffer, the chunk being filled, the one being handed over


def _workers_or_skip(settings, workers: int) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("groups run one at a time on SQLite (a single writer); PostgreSQL runs several")
    settings.ZT_SYNC_WORKERS = workers


@pytest.mark.django_db(transaction=True)
def test_groups_synced_at_once_on_their_own_connections_give_exactly_the_api_state(emulator, settings):
    _workers_or_skip(settings, 3)
    emulator.seed(customers=45, vendors=2, customers_per_vendor=3, devices=3000, random_seed=8)
    truth = emulator.zero_touch_claims()
    emulator.set_faults(error_rate=0.2, error_codes=[500, 503], random_seed=12)

    run = sync_full()

    assert sync_workers() == 3
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert cached_claims() == truth
    assert (run.devices_fetched, run.devices_created) == (len(truth), len(truth))
    assert sorted(run.progress["owners_done"]) == sorted(Customer.objects.values_list("pk", flat=True))
    assert SearchKey.objects.filter(kind="imei").count() == Device.objects.exclude(imei="").count()


@pytest.mark.django_db(transaction=True)
def test_failing_groups_among_groups_synced_at_once_are_recorded_and_resumed(emulator, settings):
    _workers_or_skip(settings, 2)
    emulator.seed(customers=30, vendors=0, devices=600, random_seed=9)
    truth = emulator.zero_touch_claims()
    fail_every_device_listing(emulator, settings)

    run = sync_full()

    assert run.status == SyncRun.Status.PARTIAL
    assert len([error for error in run.errors if error.startswith("Devices of customers")]) == 3  # 3 groups
    assert run.progress.get("owners_done", []) == []
    assert cached_claims() == {}
    emulator.clear_faults()

    resumed = sync_full()

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.errors
    assert cached_claims() == truth
