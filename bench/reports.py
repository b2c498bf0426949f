"""The reports benchmark (``python manage.py reports_bench``): a million devices' worth of history,
then every report section timed as the page calls it.

It builds, on a scratch database (refusing one that holds other devices): 300 customers (a fifth of
them vendors' customers), 20 salespeople, 1,000,000 devices and 3,000,000 history events over the
last two years, written in blocks the way the portal writes them: a batch job's thousands of claims
for one customer by one person on one day, single claims through the page, metadata changes,
unclaims and claims again, failures with their kinds, "nothing to change" repeats and sync's drift.
The rollups are then made by ``rollups_rebuild`` (timed: the rebuild command's cost at that scale),
and the devices per customer counted as beat does every few minutes (timed too).
Search keys are not built: no report reads them.

Each section is then timed ``--repeat`` times for three filters (this month; the last twelve months;
the last twelve months for the biggest customer), plus the orders page's queries, and p50/p95 printed.
"""

import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.utils import timezone

from batches.models import BatchJob
from core.db import insert_rows
from customers.models import Customer, Vendor
from devices.models import Device, DeviceEvent, FailureKind
from reports.forms import ReportFilterForm, ReportFilters, default_grain, preset_range
from reports.orders import order_search, orders_with_pending
from reports.rollups import rollups_rebuild
from reports.selectors import SECTIONS
from reports.services import fleet_counts_take

MODELS = [
    ("Google", "Pixel 8"),
    ("Google", "Pixel 8 Pro"),
    ("Google", "Pixel 7a"),
    ("samsung", "SM-S911B"),
    ("samsung", "SM-A546B"),
    ("samsung", "SM-G991B"),
    ("motorola", "moto g54 5G"),
    ("Nokia", "G42 5G"),
    ("Sony", "XQ-DQ54"),
    ("Zebra", "TC58"),
    ("Honeywell", "CT40"),
    ("Lenovo", "TB-X606F"),
]
FAILURES = [
    (FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER, 30),
    (FailureKind.INVALID_IDENTIFIER, 25),
    (FailureKind.CLAIMED_BY_ANOTHER_RESELLER, 15),
    (FailureKind.NOT_FOUND, 10),
    (FailureKind.TEMPORARY, 10),
    (FailureKind.OUTCOME_UNKNOWN, 5),
    (FailureKind.OTHER, 5),
]
BLOCK_SIZES = [1, 1, 1, 3, 10, 50, 200, 1000, 2000, 5000]
DAYS = 730
CUSTOMER_BASE, DEVICE_BASE = 70_000, 500_000_000
Kind, Outcome, Source = DeviceEvent.Kind, DeviceEvent.Outcome, DeviceEvent.Source


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class HistoryBuilder:
    """Writes the devices, batch jobs and events in blocks, as the portal would have."""

    def __init__(self, rng: random.Random, out, *, devices: int, events: int, customers: int) -> None:
        self.rng, self.out = rng, out
        self.devices, self.events_wanted, self.customers = devices, events, customers
        self.now = timezone.now()
        self.pending_events: list[dict] = []
        self.written = 0

    def build(self) -> None:
        rng = self.rng
        Vendor.objects.bulk_create(
            [Vendor(company_id=CUSTOMER_BASE - 1 - i, name=f"Vendor {i}") for i in range(3)]
        )
        Customer.objects.bulk_create(
            Customer(
                company_id=CUSTOMER_BASE + i,
                name=f"Customer {i:03d} Ltd",
                vendor_id=CUSTOMER_BASE - 1 - i % 3 if i % 5 == 4 else None,
            )
            for i in range(self.customers)
        )
        # A few customers hold most devices, as in life: weights fall off with the rank.
        self.owners = [CUSTOMER_BASE + i for i in range(self.customers)]
        self.weights = [1 / (1 + i) ** 0.8 for i in range(self.customers)]
        vendor_customers = set(Customer.objects.filter(vendor__isnull=False).values_list("pk", flat=True))
        people = get_user_model().objects.bulk_create(
            get_user_model()(username=f"bench-sales-{i:02d}", first_name=f"Seller {i:02d}") for i in range(20)
        )
        self.people = [person.pk for person in people]
        # Each device gets about events/devices events; the extras beyond its first claim are drawn
        # with these probabilities (scaled to reach the wanted total).
        extra = self.events_wanted / self.devices - 1
        self.p = {
            key: share * extra / 2.0
            for key, share in {
                "failed_first": 0.15,
                "metadata": 0.9,
                "unclaim": 0.3,
                "reclaim": 0.25,
                "noop": 0.1,
                "drift": 0.15,
                "first_seen": 0.15,
            }.items()
        }
        made = 0
        while made < self.devices:
            size = min(rng.choice(BLOCK_SIZES), self.devices - made)
            self.block(DEVICE_BASE + made, size, vendor_customers)
            made += size
            if self.written and self.written % 500_000 < 5000:
                self.out.write(f"  {made:,} devices, {self.written + len(self.pending_events):,} events")
        self.top_up()
        self.flush(force=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")

    def top_up(self) -> None:
        """Metadata changes in blocks of up to 500 devices until the history has the wanted size
        (the draws above fall a little short: no change is dated in the future)."""
        rng = self.rng
        while (missing := self.events_wanted - self.written - len(self.pending_events)) > 0:
            first = DEVICE_BASE + rng.randrange(self.devices)
            day = self.now - timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(86_400))
            person, customer = rng.choice(self.people), rng.choices(self.owners, self.weights)[0]
            make, model = rng.choice(MODELS)
            for device_id in range(first, min(first + min(500, missing), DEVICE_BASE + self.devices)):
                common = {
                    "device_id": device_id,
                    "identifier": str(350_000_000_000_000 + device_id),
                    "manufacturer": make,
                    "model": model,
                    "order_number": "",
                    "batch_id": None,
                    "sync_run_id": None,
                    "details": {},
                }
                self.event(common, day, Kind.METADATA_CHANGED, Outcome.SUCCEEDED, Source.UI, person, customer)
            self.flush()

    def block(self, first_id: int, size: int, vendor_customers: set[int]) -> None:
        """``size`` devices claimed together: one day, one person, one customer, one order."""
        rng = self.rng
        day = self.now - timedelta(days=rng.randrange(DAYS), seconds=rng.randrange(86_400))
        customer = rng.choices(self.owners, self.weights)[0]
        person = rng.choice(self.people)
        batch = None
        if size >= 10:
            failed = int(size * rng.choice([0, 0, 0.01, 0.03, 0.08]))
            job = BatchJob.objects.create(
                action="claim",
                state="done",
                created_by_id=person,
                customer_id=customer,
                created_at=day - timedelta(seconds=rng.randrange(60, 600)),
                submitted_at=day - timedelta(seconds=30),
                finished_at=day + timedelta(seconds=size * rng.uniform(0.02, 0.2)),
                rows=size,
                ready=size,
                succeeded=size - failed,
                failed=failed,
            )
            batch = job.pk
        source = Source.BATCH if batch else Source.UI
        numbered = rng.random() < 0.6  # the block's devices carry order numbers, a few dozen per order
        order, order_left = "", 0
        make, model = rng.choice(MODELS)
        # A block's later changes (its metadata set, devices returned) come on a few days of their own.
        follow_ups = [day + timedelta(days=rng.randrange(1, 60)) for _ in range(rng.randint(1, 3))]
        devices = []
        for device_id in range(first_id, first_id + size):
            identifier = str(350_000_000_000_000 + device_id)
            if numbered and order_left == 0:
                order, order_left = f"SO-{rng.randrange(10**7):07d}", rng.choice([1, 5, 20, 50, 200])
            order_left -= 1 if numbered else 0
            owner = customer
            common = {
                "device_id": device_id,
                "identifier": identifier,
                "manufacturer": make,
                "model": model,
                "order_number": order,
                "batch_id": batch,
                "sync_run_id": None,
                "details": {},
            }
            when = day + timedelta(seconds=rng.randrange(600))
            if rng.random() < self.p["first_seen"]:
                self.event(
                    common,
                    when - timedelta(days=1),
                    Kind.FIRST_SEEN,
                    Outcome.SUCCEEDED,
                    Source.SYNC,
                    None,
                    None,
                )
            if rng.random() < self.p["failed_first"]:
                kind = rng.choices([k for k, _ in FAILURES], [w for _, w in FAILURES])[0]
                self.event(common, when, Kind.CLAIMED, Outcome.FAILED, source, person, customer, kind)
            self.event(common, when, Kind.CLAIMED, Outcome.SUCCEEDED, source, person, customer)
            if rng.random() < self.p["noop"]:
                self.event(common, when, Kind.CLAIMED, Outcome.NO_OP, source, person, customer)
            later = rng.choice(follow_ups) + timedelta(seconds=rng.randrange(600))
            if rng.random() < self.p["metadata"] and later < self.now:
                self.event(
                    common, later, Kind.METADATA_CHANGED, Outcome.SUCCEEDED, Source.UI, person, customer
                )
            if rng.random() < self.p["unclaim"] and later < self.now:
                self.event(common, later, Kind.UNCLAIMED, Outcome.SUCCEEDED, Source.UI, person, customer)
                owner = None
                again = later + timedelta(days=7 * rng.randint(1, 4))
                if rng.random() < self.p["reclaim"] / max(self.p["unclaim"], 1e-9) and again < self.now:
                    owner = rng.choices(self.owners, self.weights)[0]
                    self.event(common, again, Kind.CLAIMED, Outcome.SUCCEEDED, Source.UI, person, owner)
            if rng.random() < self.p["drift"] and later < self.now:
                drift = Kind.DRIFT_UNCLAIMED if owner else Kind.DRIFT_CLAIMED
                owner = None if owner else rng.choice(self.owners)
                self.event(
                    common,
                    later + timedelta(hours=3),
                    drift,
                    Outcome.SUCCEEDED,
                    Source.SYNC,
                    None,
                    owner or customer,
                )
            devices.append(
                {
                    "device_id": device_id,
                    "imei": identifier,
                    "imei2": "",
                    "meid": "",
                    "meid2": "",
                    "serial_number": f"SN{device_id}",
                    "manufacturer": make,
                    "model": model,
                    "device_type": "DEVICE_TYPE_ANDROID",
                    "chrome_os_attested_device_id": "",
                    "owner_id": owner,
                    "sold_by_vendor": owner in vendor_customers,
                    "reseller_id": 1000001 if owner else None,
                    "section_type": "SECTION_TYPE_ZERO_TOUCH" if owner else "",
                    "vacation_mode_start_time": None,
                    "vacation_mode_expire_time": None,
                    "additional_service": "",
                    "google_workspace_customer_id": "",
                    "claims": [],
                    "metadata": {"ordernumber": order} if order else {},
                    "first_seen_at": day,
                    "last_synced_at": self.now,
                    "seen_in_sync": None,
                    "changed_at": None,
                }
            )
        with transaction.atomic():
            insert_rows(Device, devices)
        self.flush()

    def event(self, common, when, kind, outcome, source, person, customer, failure_kind="") -> None:
        self.pending_events.append(
            {
                **common,
                "created_at": when,
                "kind": kind,
                "outcome": outcome,
                "failure_kind": failure_kind,
                "source": source,
                "actor_id": person,
                "customer_id": customer,
                "batch_id": common["batch_id"] if source == Source.BATCH else None,
            }
        )

    def flush(self, force: bool = False) -> None:
        if len(self.pending_events) < 20_000 and not force:
            return
        with transaction.atomic():
            insert_rows(DeviceEvent, self.pending_events)
        self.written += len(self.pending_events)
        self.pending_events = []


def _timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    call()  # warm: the first call pays for the plan and the page cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), percentile(samples, 0.95)


def _rebuild(out) -> None:
    started = time.perf_counter()
    counts = rollups_rebuild()
    took = time.perf_counter() - started
    out.write(
        f"rollups rebuilt in {took:.0f} s: {counts.activity_rows:,} daily rows, "
        f"{counts.model_rows:,} model rows, {counts.orders:,} orders, {counts.order_lines:,} order lines"
    )


def bench_reports(
    out, *, devices: int, events: int, customers: int, repeat: int, seed: int, rebuild: bool = False
) -> None:
    existing = Device.objects.count()
    if existing not in (0, devices):
        raise SystemExit(
            f"This database holds {existing:,} devices: point DATABASE_URL at a scratch database."
        )
    if existing == 0:
        started = time.perf_counter()
        builder = HistoryBuilder(
            random.Random(seed), out, devices=devices, events=events, customers=customers
        )
        builder.build()
        took = time.perf_counter() - started
        out.write(f"built {devices:,} devices and {builder.written:,} events in {took:.0f} s")
        _rebuild(out)
    else:
        out.write(f"reusing {existing:,} devices and {DeviceEvent.objects.count():,} events already built")
        with connection.cursor() as cursor:  # fresh statistics, as after the build
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
        if rebuild:
            _rebuild(out)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    p50, p95 = _timed(fleet_counts_take, 3)  # what beat does every few minutes; the section reads it
    out.write(f"devices per customer counted for the snapshot in {p50:.0f} ms (p95 {p95:.0f} ms)")
    today = timezone.localdate()
    biggest = (
        Device.objects.exclude(owner=None)
        .values("owner_id")
        .order_by()
        .annotate(n=Count("pk"))
        .order_by("-n")[0]
    )["owner_id"]
    month = ReportFilters(*preset_range("this_month", today), grain="day")
    start, end = preset_range("last_12_months", today)
    year = ReportFilters(start, end, grain=default_grain(start, end))
    year_customer = ReportFilters(start, end, customer_id=biggest, grain="month")
    out.write(f"\n{connection.vendor}, {repeat} runs each, milliseconds p50 / p95")
    out.write(f"{'section':<22}{'this month':>20}{'last 12 months':>20}{'12 months, 1 customer':>26}")
    for name, build in SECTIONS.items():
        figures = [_timed(lambda f=f, b=build: b(f), repeat) for f in (month, year, year_customer)]
        out.write(f"{name:<22}" + "".join(f"{p50:>11.1f} / {p95:<7.1f}" for p50, p95 in figures))
    form = ReportFilterForm({"preset": "last_12_months"})
    form.is_valid()

    def whole_page():
        from reports.selectors import report_sections

        context = {
            "form": form.resolved(),
            "query": form.query(),
            "sections": report_sections(form.filters()),
        }
        return render_to_string("reports/index.html#report", context)

    p50, p95 = _timed(whole_page, max(5, repeat // 3))
    out.write(f"{'whole report rendered':<22}{'':>20}{p50:>11.1f} / {p95:<7.1f}")
    prefix = Device.objects.exclude(metadata={}).values_list("metadata__ordernumber", flat=True).first()[:6]
    for label, call in [
        ("orders, failures first", lambda: orders_with_pending(order_search(""))),
        (f"orders '{prefix}'", lambda: orders_with_pending(order_search(prefix))),
    ]:
        p50, p95 = _timed(call, repeat)
        out.write(f"{label:<22}{p50:>11.1f} / {p95:<7.1f}")
