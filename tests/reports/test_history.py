"""Every change the portal attempts becomes history with real references, and is counted at once:
failed changes and devices the cache did not hold included."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import zerotouch
from batches.models import BatchJob
from core.roles import Role
from customers.models import Customer
from devices.changes import Action, Intent, Verdict
from devices.models import Device, DeviceEvent
from devices.recorder import devices_record_batch
from devices.sync import sync_full
from reports.forms import ReportFilters
from reports.models import DailyActivity, Order
from reports.selectors import drift_section
from tests.conftest import make_user
from tests.devices.factories import make_imei

HTMX = {"HX-Request": "true"}


@pytest.fixture
def portal(emulator, client_as, db):
    emulator.seed(customers=2, vendors=0, devices=10, random_seed=5)
    sync_full()
    return {
        "emulator": emulator,
        "client": client_as(Role.SALES),
        "customer": Customer.objects.order_by("name")[0],
    }


def claim(portal, imei: str, **extra):
    data = {"device_type": "android", "imei": imei, "customer": portal["customer"].company_id, **extra}
    return portal["client"].post("/devices/claim/", data, headers=HTMX)


def test_a_claim_is_history_with_its_customer_person_model_and_order_and_is_counted(portal):
    imei = make_imei(81001)

    claim(portal, imei, order_number="SO-77")

    event = DeviceEvent.objects.get(kind="claimed")
    device = Device.objects.get(imei=imei)
    assert (event.device, event.customer, event.actor.username) == (device, portal["customer"], "sales")
    assert (event.identifier, event.order_number, event.outcome) == (imei, "SO-77", "succeeded")
    rollup = DailyActivity.objects.get(kind="claimed")
    assert (rollup.customer_id, rollup.outcome, rollup.count) == (portal["customer"].pk, "succeeded", 1)
    assert Order.objects.get(number="SO-77").claimed == 1


def test_a_failed_claim_of_a_device_the_cache_never_held_is_recorded_by_its_identifier(portal):
    imei = make_imei(81002)
    portal["emulator"].set_faults(error_rate=1.0, error_codes=[503], methods=["partners.devices.claim"])

    claim(portal, imei, order_number="SO-78")

    event = DeviceEvent.objects.get(kind="claimed")
    assert (event.device, event.identifier, event.outcome, event.failure_kind) == (
        None,
        imei,
        "failed",
        "temporary",
    )
    assert DailyActivity.objects.get(kind="claimed").outcome == "failed"
    order = Order.objects.get(number="SO-78")
    assert (order.failed, order.has_failures) == (1, True)


def test_deleting_a_device_keeps_its_history(portal):
    imei = make_imei(81003)
    claim(portal, imei)

    Device.objects.get(imei=imei).delete()

    event = DeviceEvent.objects.get(kind="claimed")
    assert (event.device_id, event.identifier) == (None, imei)


def test_a_batchs_outcomes_are_history_of_their_job_failed_and_unknown_devices_included(db):
    acme = Customer.objects.create(company_id=501, name="Acme")
    sam = make_user(Role.SALES, "sam")
    job = BatchJob.objects.create(action="claim", state="running", created_by=sam, customer_id=acme.pk)
    claimed, refused = make_imei(82001), make_imei(82002)

    devices_record_batch(
        changes=[
            (
                Intent(
                    action=Action.CLAIM,
                    identifier=zerotouch.DeviceIdentifier(
                        imei=claimed, manufacturer="Google", model="Pixel 8"
                    ),
                    customer_id=acme.pk,
                    metadata={"ordernumber": "SO-5"},
                ),
                Verdict(succeeded=True, device_id=900_001),
            ),
            (
                Intent(
                    action=Action.CLAIM,
                    identifier=zerotouch.DeviceIdentifier(imei=refused, manufacturer="Zebra", model="TC58"),
                    customer_id=acme.pk,
                    metadata={"ordernumber": "SO-5"},
                ),
                Verdict(succeeded=False, device_id=None, kind="invalid_identifier"),
            ),
        ],
        actor=sam,
        batch_id=job.pk,
        reseller_id=1000001,
    )

    events = {e.identifier: e for e in DeviceEvent.objects.filter(batch=job)}
    assert set(events) == {claimed, refused}
    assert (events[claimed].device_id, events[claimed].outcome) == (900_001, "succeeded")
    failed = events[refused]
    assert (failed.device, failed.outcome, failed.model) == (None, "failed", "TC58")
    assert all(e.customer == acme and e.actor == sam and e.source == "batch" for e in events.values())
    counted = set(DailyActivity.objects.values_list("source", "outcome", "failure_kind", "count"))
    assert counted == {("batch", "succeeded", "", 1), ("batch", "failed", "invalid_identifier", 1)}
    order = Order.objects.get(number="SO-5")
    assert (order.claimed, order.failed, order.customer_id) == (1, 1, acme.pk)


def test_drift_a_sync_finds_is_counted_in_the_drift_section(emulator, db):
    emulator.seed(customers=2, vendors=0, devices=20, random_seed=6)
    sync_full()
    claims = emulator.zero_touch_claims()
    gone = min(claims)
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:unclaim",
        {"deviceId": str(gone), "sectionType": "SECTION_TYPE_ZERO_TOUCH"},
    )
    assert status == 200, body

    sync_full()

    event = DeviceEvent.objects.get(kind="drift_unclaimed")
    device = Device.objects.get(device_id=gone)
    assert (event.device, event.customer_id, event.source) == (device, claims[gone], "sync")
    assert event.identifier in {device.imei, device.meid, device.serial_number}
    today = timezone.localdate()
    drift = drift_section(ReportFilters(start=today, end=today)).tables[0]
    assert drift.rows == [[today.isoformat(), 0, 1]]


def test_a_chunk_adds_to_the_shared_counters_only_after_writing_its_devices_events_and_orders(db):
    """Customers' device counts and today's rollup rows are shared by every writer: a chunk updates
    them last, after its devices, events and orders, so that their row locks are not held while the
    chunk's thousand devices are written (a person's claim during a batch would wait behind them).
    Every writer takes them in one order, orders, then customers, then today's rows (which every
    writer of the day adds to): two writers cannot deadlock."""
    acme = Customer.objects.create(company_id=502, name="Acme")
    changes = [
        (
            Intent(
                action=Action.CLAIM,
                identifier=zerotouch.DeviceIdentifier(
                    imei=make_imei(83000 + n), manufacturer="Google", model="Pixel 8"
                ),
                customer_id=acme.pk,
                metadata={"ordernumber": f"SO-{n}"},
            ),
            Verdict(succeeded=True, device_id=910_000 + n),
        )
        for n in range(5)
    ]

    with CaptureQueriesContext(connection) as queries:
        devices_record_batch(changes=changes, actor=None, batch_id=None, reseller_id=1000001)

    statements = [query["sql"] for query in queries.captured_queries]

    def first(table: str, verb: str) -> int:
        return next(i for i, sql in enumerate(statements) if sql.lstrip().startswith(verb) and table in sql)

    events_written = first(DeviceEvent._meta.db_table, "INSERT")
    devices_written = first(Device._meta.db_table, "INSERT")
    orders = first(Order._meta.db_table, "INSERT")
    today = first(DailyActivity._meta.db_table, "INSERT")
    customers = first(Customer._meta.db_table, "UPDATE")
    assert max(events_written, devices_written) < orders < customers < today, statements
    assert Customer.objects.get(pk=acme.pk).device_count == 5
    assert DailyActivity.objects.get().count == 5
    assert Order.objects.filter(claimed=1).count() == 5
