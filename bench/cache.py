"""The device cache at scale, on a scratch database (``make bench-cache``).

``zt_bench cache --devices 1000000``: builds its own data (refusing a database that holds other
devices), then times the search selectors the device pages use and prints p50/p95 per query kind.

``zt_bench page``: server time of /devices/ through Django's whole request path, on the data
``zt_bench cache`` built.
"""

import random
import statistics
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from core.paging import encode_cursor
from core.roles import Role, ensure_role_groups
from customers.models import Customer, Vendor
from devices.identifiers import luhn_check_digit
from devices.models import Device, SearchKey
from devices.selectors import DeviceFilters, device_search
from devices.store import store_device_rows

MODELS = [
    ("Google", "Pixel 8"),
    ("Google", "Pixel 8 Pro"),
    ("Google", "Pixel 7a"),
    ("samsung", "SM-S911B"),
    ("samsung", "SM-A546B"),
    ("samsung", "SM-G991B"),
    ("motorola", "moto g54 5G"),
    ("motorola", "edge 40"),
    ("Nokia", "G42 5G"),
    ("OnePlus", "CPH2449"),
    ("Sony", "XQ-DQ54"),
    ("Zebra", "TC58"),
    ("HMD Global", "Pulse"),
    ("Xiaomi", "2201117TG"),
    ("Honeywell", "CT40"),
    ("Lenovo", "TB-X606F"),
]
BIG_CUSTOMER_DEVICES = 100_000
BATCH = 2_000


def imei(rng: random.Random) -> str:
    body = "35" + "".join(rng.choices("0123456789", k=12))
    return body + str(luhn_check_digit(body))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_cache(out, *, devices: int, customers: int, repeat: int, seed: int) -> None:
    """Build the devices once (or reuse the ones built before), then time the search selectors."""
    rng = random.Random(seed)
    existing = Device.objects.count()
    if existing not in (0, devices):
        raise CommandError(
            f"This database holds {existing} devices; point DATABASE_URL at a scratch database."
        )
    if existing == 0:
        started = time.perf_counter()
        build(out, rng, devices, customers)
        out.write(f"built {devices:,} devices in {time.perf_counter() - started:.0f} s")
    else:
        out.write(f"reusing {existing:,} devices already built")
    measure(out, rng, repeat)


# -- data ----------------------------------------------------------------------------------------
def build(
    out, rng: random.Random, total: int, customers: int, *, big_customer: int = BIG_CUSTOMER_DEVICES
) -> None:
    """``total`` devices for ``customers`` customers (a fifth of them a vendor's), the first
    ``big_customer`` devices all the first customer's, then 15% unclaimed."""
    now = timezone.now()
    Vendor.objects.bulk_create([Vendor(company_id=9_000_000 + i, name=f"Vendor {i}") for i in range(3)])
    Customer.objects.bulk_create(
        Customer(
            company_id=1_000 + i,
            name=f"Customer {i:04d} Ltd",
            vendor_id=(9_000_000 + i % 3) if i % 5 == 4 else None,
        )
        for i in range(customers)
    )
    owners = [1_000 + i for i in range(customers)]
    vendor_customers = set(Customer.objects.filter(vendor__isnull=False).values_list("pk", flat=True))
    device_id = 10_000_000
    made = 0
    while made < total:
        rows = []
        for _ in range(min(BATCH, total - made)):
            device_id += 1
            make, model = rng.choice(MODELS)
            if made < big_customer:
                owner = owners[0]
            elif rng.random() < 0.15:
                owner = None
            else:
                owner = rng.choice(owners)
            first = imei(rng) if rng.random() > 0.05 else ""
            metadata = {}
            if rng.random() < 0.5:
                metadata["ordernumber"] = f"SO-{rng.randrange(10**7):07d}"
            if rng.random() < 0.3:
                metadata["phonenumber"] = f"+4479{rng.randrange(10**8):08d}"
            rows.append(
                {
                    "device_id": device_id,
                    "imei": first,
                    "imei2": imei(rng) if first and rng.random() < 0.2 else "",
                    "meid": "" if first else "".join(rng.choices("0123456789ABCDEF", k=14)),
                    "meid2": "",
                    "serial_number": "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=11)),
                    "manufacturer": make,
                    "model": model,
                    "device_type": "DEVICE_TYPE_ANDROID",
                    "chrome_os_attested_device_id": "",
                    "owner_id": owner,
                    "sold_by_vendor": owner in vendor_customers,
                    "reseller_id": None,
                    "section_type": "SECTION_TYPE_ZERO_TOUCH" if owner else "",
                    "vacation_mode_start_time": None,
                    "vacation_mode_expire_time": None,
                    "additional_service": "",
                    "google_workspace_customer_id": "",
                    "claims": [],
                    "metadata": metadata,
                    "first_seen_at": now,
                    "last_synced_at": now,
                    "seen_in_sync": None,
                    "changed_at": None,
                }
            )
            made += 1
        with transaction.atomic():
            store_device_rows(rows)
        if made % 100_000 == 0:
            out.write(f"  {made:,} devices")
    with connection.cursor() as cursor:
        # Fresh statistics and visibility maps (index-only scans), as autovacuum keeps them in a
        # long-running database.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# -- timing --------------------------------------------------------------------------------------
def timed(out, label: str, calls) -> float:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    out.write(
        f"{label:<44} p50 {statistics.median(samples):7.2f} ms   p95 {percentile(samples, 0.95):7.2f} ms"
        f"   ({len(samples)} queries)"
    )
    return percentile(samples, 0.95)


def measure(out, rng: random.Random, repeat: int) -> None:
    out.write(
        f"database: {connection.vendor}, {Device.objects.count():,} devices, "
        f"{SearchKey.objects.count():,} search keys"
    )
    # The devices this command built (ids from 10,000,001), not ones another benchmark added.
    max_id = (
        Device.objects.filter(device_id__lt=100_000_000)
        .order_by("-device_id")
        .values_list("device_id", flat=True)
        .first()
    )
    sample_ids = [rng.randrange(10_000_001, max_id + 1) for _ in range(repeat)]
    sample = list(
        Device.objects.filter(device_id__in=sample_ids).exclude(imei="").values_list("imei", "serial_number")
    )
    imeis = [i for i, _ in sample]
    serials = [s for _, s in sample]
    owners = list(Customer.objects.order_by("company_id").values_list("company_id", flat=True))
    models = [m for _, m in MODELS]

    def search(**kwargs):
        return lambda: device_search(DeviceFilters(**kwargs))

    timed(out, "exact IMEI", [search(text=i) for i in imeis])
    timed(out, "exact serial number", [search(text=s) for s in serials])
    timed(out, "IMEI prefix (8 digits)", [search(text=i[:8]) for i in imeis])
    timed(out, "IMEI prefix (4 digits, thousands match)", [search(text=i[:4]) for i in imeis])
    timed(out, "serial prefix (3 characters)", [search(text=s[:3]) for s in serials])
    timed(out, "order number prefix", [search(text=f"SO-{rng.randrange(10**4):04d}") for _ in range(repeat)])
    parts = [search(text=f"{rng.randrange(10**7):07d}") for _ in range(repeat)]
    timed(out, "order number part (7 digits)", parts)
    timed(
        out,
        "customer + model, first page",
        [search(customer_id=rng.choice(owners), model=rng.choice(models)) for _ in range(repeat)],
    )
    big = owners[0]
    timed(out, "customer's devices, page 1", [search(customer_id=big) for _ in range(repeat)])
    ids = list(
        Device.objects.filter(owner_id=big)
        .order_by("device_id")
        .values_list("device_id", flat=True)[49_900:49_950]
    )
    cursor = encode_cursor(ids[-1], ids[-1])
    timed(
        out,
        "customer's devices, page 1,000",
        [(lambda: device_search(DeviceFilters(customer_id=big), cursor=cursor)) for _ in range(repeat)],
    )
    timed(out, "unclaimed devices, first page", [search(claimed=False) for _ in range(repeat)])
    timed(out, "vendors' devices, first page", [search(vendor_devices=True) for _ in range(repeat)])


# -- the devices page, through Django's whole request path --------------------------------------
def bench_page(out, *, repeat: int, seed: int) -> None:
    """Server time of /devices/ (middleware, view, selector, template) on the data `cache` built."""
    rng = random.Random(seed)
    if not Device.objects.exists():
        raise CommandError("Run `zt_bench cache` on this database first: it builds the devices.")
    ensure_role_groups()
    user, _ = get_user_model().objects.get_or_create(username="benchmark-sales")
    user.groups.add(Group.objects.get(name=Role.SALES.value))
    imeis = list(Device.objects.exclude(imei="").order_by("?").values_list("imei", flat=True)[:repeat])
    owners = list(Customer.objects.values_list("company_id", flat=True))
    plain_static = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, STORAGES=plain_static):
        client = Client()
        client.force_login(user)
        fragment = {"HX-Request": "true", "HX-Target": "results"}
        timed(
            out,
            "page: exact IMEI (HTMX fragment)",
            [(lambda i=i: client.get("/devices/", {"q": i}, headers=fragment)) for i in imeis],
        )
        timed(
            out,
            "page: IMEI prefix, 6 digits (fragment)",
            [(lambda i=i: client.get("/devices/", {"q": i[:6]}, headers=fragment)) for i in imeis],
        )
        timed(
            out,
            "page: customer + model (fragment)",
            [
                (
                    lambda: client.get(
                        "/devices/", {"customer": rng.choice(owners), "model": "Pixel 8"}, headers=fragment
                    )
                )
                for _ in range(repeat)
            ],
        )
        timed(
            out,
            "page: whole page, IMEI search",
            [(lambda i=i: client.get("/devices/", {"q": i})) for i in imeis],
        )
        timed(out, "page: whole page, no search", [(lambda: client.get("/devices/")) for _ in range(repeat)])
