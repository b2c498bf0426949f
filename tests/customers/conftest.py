"""The customers' test worlds: an empty zero-touch, one with a few customers synced, a book of cached
customers (one a vendor's) for searches and pages, and a shelf of look-alike names for the picker."""

import pytest

from customers.models import Customer, Vendor
from devices.store import cache_store_devices
from devices.sync import sync_full
from tests.devices.factories import api_device, make_customer


@pytest.fixture
def world(emulator, db):
    """An empty zero-touch (the emulator's partner, no customer yet)."""
    return emulator


@pytest.fixture
def synced_world(emulator, db):
    """Two customers and ten devices in zero-touch, synced into the cache; a module whose tests need
    them overrides ``world`` with it."""
    emulator.seed(customers=2, vendors=0, devices=10, random_seed=101)
    sync_full()
    return emulator


@pytest.fixture
def book(db):
    vendor = Vendor.objects.create(company_id=77, name="Regional Phones")
    make_customer(501, "Müller & Söhne GmbH")
    make_customer(502, "Zenith Logistics Ltd")
    make_customer(503, "North Zenith Foods")
    Customer.objects.create(
        company_id=601, name="Initech", vendor=vendor, terms_status="TERMS_STATUS_NOT_ACCEPTED"
    )
    cache_store_devices([api_device(n, owner=502) for n in range(1, 6)] + [api_device(9, owner=501)])


@pytest.fixture
def maples(db):
    make_customer(701, "Maple Insurance SAS")
    make_customer(702, "Maple Services Corp")
    make_customer(703, "Old Maple Services")
    make_customer(704, "Maple")
    make_customer(705, "Twin Names Ltd")
    make_customer(706, "Twin Names Ltd")
    vendor = Vendor.objects.create(company_id=88, name="Coastal Devices")
    Customer.objects.create(company_id=801, name="Harbor Insurance AG", vendor=vendor)
    Customer.objects.filter(pk=702).update(terms_status=Customer.TermsStatus.NOT_ACCEPTED)
    Customer.objects.filter(pk=701).update(terms_status=Customer.TermsStatus.ACCEPTED)
