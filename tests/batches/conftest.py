import pytest
from django.db.models import Count

from customers.models import Customer
from devices.sync import sync_full
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
