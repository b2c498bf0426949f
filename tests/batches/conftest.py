import pytest
from django.db.models import Count

from customers.models import Customer, Vendor
from devices.store import cache_store_devices
from devices.sync import sync_full
from tests.batches.factories import ACME, GLOBEX, INITECH
from tests.devices.factories import api_device, make_customer, make_imei
from tests.processes import portal_processes


@pytest.fixture
def fast_batches(settings):
    """Batch timings for tests: polls and settling in fractions of a second, small chunks."""
    settings.ZT_BATCH_POLL_MIN_SECONDS = 0.2
    settings.ZT_BATCH_POLL_MAX_SECONDS = 1.0
    settings.ZT_BATCH_SETTLE_SECONDS = 0.5
    settings.ZT_BATCH_SETTLE_SECONDS_PER_DEVICE = 0.001
    settings.ZT_BATCH_CHUNK_SIZE = 25
    return settings


FAST_BATCH_VARIABLES = {
    "ZT_BATCH_POLL_MIN_SECONDS": "0.2",
    "ZT_BATCH_POLL_MAX_SECONDS": "1",
    "ZT_BATCH_SETTLE_SECONDS": "0.5",
    "ZT_BATCH_SETTLE_SECONDS_PER_DEVICE": "0.001",
    "ZT_BATCH_SWEEP_SECONDS": "1",
    "ZT_BATCH_DEADLINE": "10",
}


@pytest.fixture
def world(emulator, fast_batches, db):
    """An emulator with customers and claimed devices, synced into the cache."""
    emulator.seed(customers=3, vendors=1, devices=60, random_seed=51, customers_per_vendor=1)
    sync_full()
    # Own customers holding cached devices, the one with most first.
    own = list(
        Customer.objects.filter(vendor__isnull=True)
        .annotate(held=Count("devices"))
        .filter(held__gt=0)
        .order_by("-held", "name")
    )
    assert len(own) >= 2, "the seed gives two own customers devices"
    return {
        "emulator": emulator,
        "customer": own[0],
        "other": own[1],
        "vendor_customer": Customer.objects.filter(vendor__isnull=False).first(),
    }


@pytest.fixture
def processes(transactional_db, emulator, fast_batches, tmp_path):
    """A real worker and beat on the test run's broker (started by the test), tasks routed to them."""
    from portal.celery import app

    with portal_processes(
        emulator_url=emulator.url,
        partner_id=str(emulator.partner_id),
        variables=FAST_BATCH_VARIABLES,
        tmp=tmp_path,
    ) as running:
        previous = app.conf.task_default_queue
        app.conf.task_default_queue = running.queue
        try:
            yield running
        finally:
            app.conf.task_default_queue = previous


@pytest.fixture
def fleet():
    """Three customers (one a vendor's) and five cached devices, as a sync would leave them."""
    vendor = Vendor.objects.create(company_id=77, name="Regional Phones")
    customers = {
        "acme": make_customer(ACME, "Acme Ltd"),
        "globex": make_customer(GLOBEX, "Globex"),
        "initech": make_customer(INITECH, "Initech", vendor=vendor),
    }
    cache_store_devices(
        [
            api_device(1, owner=ACME, serial="R58N1", metadata={"ordernumber": "SO-1001"}),
            api_device(2, owner=ACME, imei2=make_imei(900), serial="R58N2"),
            api_device(3, owner=GLOBEX, manufacturer="samsung", model="SM-S911B", serial="ab-12"),
            api_device(4, imei="", meid="A0000012345678", serial="ZX9"),
            api_device(5, serial="R58N5"),  # unclaimed
        ]
    )
    return customers


@pytest.fixture
def customers(emulator):
    """Two customers and ten devices in zero-touch, synced: for the tests with a real worker."""
    emulator.seed(customers=2, vendors=0, devices=10, random_seed=61)
    sync_full()
    return list(Customer.objects.order_by("name"))
