"""A salesperson's one claim while a batch's chunk is being recorded.

A chunk's recording (``devices.recorder.devices_record_batch`` in the chunk's transaction) adds to rows
that a one-device change adds to as well: today's rollup rows and the customer's device count. On
PostgreSQL's row locks, the chunk is stopped half-way by another writer of its order (a second
chunk naming the same order number holds it), with its own transaction open, and a claim must not
wait for it; and a person's change takes those rows in the order a chunk does."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import zerotouch
from core.roles import Role
from customers.models import Customer
from devices.changes import Action, Intent, Verdict
from devices.models import Device
from devices.recorder import devices_record_batch
from devices.sync import sync_full
from reports.models import DailyActivity, Order
from tests.devices.factories import make_imei

HTMX = {"HX-Request": "true"}
ORDER = "SO-BATCH-1"


def _backend_waits_for_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


class _InThread(threading.Thread):
    """Work on a connection of its own; what it raised is kept for the test to see."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.error, self.pid = work, None, None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.work()
        except BaseException as exc:  # handed to the test
            self.error = exc
        finally:
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_claim_completes_while_a_chunk_of_the_same_customer_is_still_being_recorded(emulator, client_as):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: no row locks to wait for")
    emulator.seed(customers=1, vendors=0, devices=0, random_seed=8)
    sync_full()
    customer = Customer.objects.get()
    salesperson = client_as(Role.SALES)
    Order.objects.create(number=ORDER, first_at=timezone.now(), last_at=timezone.now())
    chunk = [
        (
            Intent(
                action=Action.CLAIM,
                identifier=zerotouch.DeviceIdentifier(imei=make_imei(84000 + n)),
                customer_id=customer.pk,
                metadata={"ordernumber": ORDER},
            ),
            Verdict(succeeded=True, device_id=940_000 + n),
        )
        for n in range(20)
    ]
    other_writer_done = threading.Event()

    def hold_the_order() -> None:  # another chunk of the same order, being recorded
        with transaction.atomic():
            Order.objects.select_for_update().get(number=ORDER)
            other_writer_done.wait(30)

    def record_the_chunk() -> None:  # the chunk's transaction, as batches.chunks.record_outcomes opens it
        with transaction.atomic():
            devices_record_batch(changes=chunk, actor=None, batch_id=None, reseller_id=emulator.partner_id)

    holder = _InThread(hold_the_order)
    holder.start()
    while holder.pid is None and holder.is_alive():
        time.sleep(0.01)
    recorder = _InThread(record_the_chunk)
    recorder.start()
    deadline = time.monotonic() + 20
    while not (recorder.pid and _backend_waits_for_a_lock(recorder.pid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert recorder.is_alive() and _backend_waits_for_a_lock(recorder.pid)

    try:
        with connection.cursor() as cursor:
            # A claim that waits for a lock fails instead of waiting for the end of the chunk.
            cursor.execute("SET lock_timeout = '3s'")
        response = salesperson.post(
            "/devices/claim/",
            {"device_type": "android", "imei": make_imei(85001), "customer": customer.pk},
            headers=HTMX,
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        other_writer_done.set()
        holder.join(30)
        recorder.join(30)

    assert response.status_code == 200
    assert "in zero-touch" in response.text
    assert (holder.error, recorder.error) == (None, None)
    # Both writers' devices are counted, whichever recounted the customer last.
    assert Device.objects.filter(owner=customer).count() == 21
    assert Customer.objects.get(pk=customer.pk).device_count == 21
    claimed = DailyActivity.objects.filter(kind="claimed", outcome="succeeded")
    assert sum(claimed.values_list("count", flat=True)) == 21
    assert Order.objects.get(number=ORDER).claimed == 20


def test_a_persons_change_takes_the_shared_rows_in_the_order_a_chunk_takes_them(emulator, client_as):
    """Orders, then the customers' device counts, then today's rollup rows, as a chunk does
    (tests/reports/test_history.py): a person's unclaim and a batch's chunk of the same customer
    cannot each hold a row the other waits for."""
    emulator.seed(customers=1, vendors=0, devices=0, random_seed=8)
    sync_full()
    customer = Customer.objects.get()
    salesperson = client_as(Role.SALES)
    imei = make_imei(85002)
    salesperson.post(
        "/devices/claim/",
        {"device_type": "android", "imei": imei, "customer": customer.pk, "order_number": "SO-7"},
        headers=HTMX,
    )
    device = Device.objects.get(imei=imei)

    with CaptureQueriesContext(connection) as queries:
        response = salesperson.post(f"/devices/{device.device_id}/unclaim/", {}, headers=HTMX)

    assert "Unclaimed." in response.text
    statements = [query["sql"].lstrip() for query in queries.captured_queries]

    def first(table: str, verb: str) -> int:
        return next(i for i, sql in enumerate(statements) if sql.startswith(verb) and f'"{table}"' in sql)

    orders = first(Order._meta.db_table, "INSERT")
    today = first(DailyActivity._meta.db_table, "INSERT")
    customers = first(Customer._meta.db_table, "UPDATE")
    assert orders < customers < today, statements
    assert Customer.objects.get(pk=customer.pk).device_count == 0
    assert Order.objects.get(number="SO-7").unclaimed == 1
