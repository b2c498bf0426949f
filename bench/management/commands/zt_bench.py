"""Benchmarks of the device cache, on a scratch database (``make bench-cache``, ``make bench-sync``).

``zt_bench cache --devices 1000000``: builds its own data (refusing a database that holds other
devices), then times the search selectors the device pages use and prints p50/p95 per query kind.

``zt_bench chaos --devices 10000 --seed 1``: a batch claim and a sync through worker kills, API
faults, an outage and restarts of Redis and the web process, then the invariants (batches.chaos);
exits non-zero when one fails.

``zt_bench sync --devices 200000``: seeds an emulator process, runs a full sync into an emptied
cache, and prints devices per second and the process's peak memory; ``--error-rate 0.2`` injects
server errors and checks the cache ends exactly equal to the emulator's claims.
"""

import logging
import random
import statistics
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer, Vendor
from devices.cache import store_device_rows
from devices.identifiers import luhn_check_digit
from devices.models import Device, SearchKey
from devices.selectors import DeviceFilters, device_search, encode_cursor
from portal.load import add_load_arguments, load_command

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


class Command(BaseCommand):
    help = "Benchmark the device cache (search selectors at scale)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "suite", choices=["cache", "sync", "page", "batch", "quota", "customers", "chaos", "load"]
        )
        parser.add_argument("--kills", type=int, default=10, help="chaos: worker SIGKILLs")
        parser.add_argument("--outage", type=float, default=30.0, help="chaos: seconds the emulator is away")
        parser.add_argument("--per-minute", type=int, default=240, help="quota: the scaled-down quota")
        parser.add_argument(
            "--soft-limit", type=int, default=20, help="quota: the worker's task soft time limit"
        )
        parser.add_argument("--rows", type=int, default=100_000, help="batch: rows of the pre-flight file")
        parser.add_argument("--devices", type=int, default=None, help="default 1,000,000 (chaos: 10,000)")
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--repeat", type=int, default=200, help="timed queries per kind")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--error-rate", type=float, default=0.0, help="sync: injected 5xx share")
        parser.add_argument("--runs", type=int, default=1, help="sync: full syncs into an emptied cache")
        parser.add_argument(
            "--resync", action="store_true", help="sync: then sync again into the filled cache"
        )
        add_load_arguments(parser)  # load: staff, duration, think time, target (portal.load)

    def handle(
        self, *args, suite: str, devices: int, customers: int, repeat: int, seed: int, **options
    ) -> None:
        if suite == "chaos":
            self.chaos(devices=devices or 10_000, seed=seed, kills=options["kills"], outage=options["outage"])
            return
        devices = devices or 1_000_000
        if suite == "load":  # staff at the pages while a batch runs, on gunicorn (portal.load)
            if not load_command(self.stdout, seed=seed, **options):
                raise CommandError("The load targets were missed.")
            return
        if suite == "customers":
            from customers.bench import bench_customers  # the customers page at 10,000 customers

            bench_customers(self.stdout, customers=customers, repeat=repeat, seed=seed)
            return
        if suite == "quota":
            from portal.benchmarks import bench_quota  # sync, batch and people sharing the quota

            bench_quota(
                self.stdout,
                devices=devices,
                per_minute=options["per_minute"],
                soft_limit=options["soft_limit"],
                seed=seed,
            )
            return
        if suite == "batch":
            from batches.bench import bench_batch  # the batches app's own benchmark

            bench_batch(self.stdout, rows=options["rows"], seed=seed)
            return
        if suite == "sync":
            self.bench_sync(
                devices=devices,
                customers=customers,
                seed=seed,
                error_rate=options["error_rate"],
                runs=options["runs"],
                resync=options["resync"],
            )
            return
        rng = random.Random(seed)
        if suite == "page":
            self.bench_page(rng, repeat)
            return
        existing = Device.objects.count()
        if existing not in (0, devices):
            raise CommandError(
                f"This database holds {existing} devices; point DATABASE_URL at a scratch database."
            )
        if existing == 0:
            started = time.perf_counter()
            self.build(rng, devices, customers)
            self.stdout.write(f"built {devices:,} devices in {time.perf_counter() - started:.0f} s")
        else:
            self.stdout.write(f"reusing {existing:,} devices already built")
        self.measure(rng, repeat)

    def chaos(self, *, devices: int, seed: int, kills: int, outage: float) -> None:
        from batches.chaos import ChaosPlan, ChaosUnavailable, run_chaos

        plan = ChaosPlan(devices=devices, seed=seed, kills=kills, outage_seconds=outage)
        self.stdout.write(f"chaos run: {plan}")
        try:
            report = run_chaos(plan, self.stdout)
        except ChaosUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            self.stdout.write(report.logs)
            raise CommandError("An invariant of the chaos run failed.")

    # -- data ------------------------------------------------------------------------------------
    def build(self, rng: random.Random, total: int, customers: int) -> None:
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
                if made < BIG_CUSTOMER_DEVICES:
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
                self.stdout.write(f"  {made:,} devices")
        with connection.cursor() as cursor:
            # Fresh statistics and visibility maps (index-only scans), as autovacuum keeps them in a
            # long-running database.
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")

    # -- timing ----------------------------------------------------------------------------------
    def timed(self, label: str, calls) -> None:
        samples = []
        for call in calls:
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        self.stdout.write(
            f"{label:<44} p50 {statistics.median(samples):7.2f} ms   p95 {percentile(samples, 0.95):7.2f} ms"
            f"   ({len(samples)} queries)"
        )
        return percentile(samples, 0.95)

    def measure(self, rng: random.Random, repeat: int) -> None:
        self.stdout.write(
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
            Device.objects.filter(device_id__in=sample_ids)
            .exclude(imei="")
            .values_list("imei", "serial_number")
        )
        imeis = [i for i, _ in sample]
        serials = [s for _, s in sample]
        owners = list(Customer.objects.order_by("company_id").values_list("company_id", flat=True))
        models = [m for _, m in MODELS]

        def search(**kwargs):
            return lambda: device_search(DeviceFilters(**kwargs))

        self.timed("exact IMEI", [search(text=i) for i in imeis])
        self.timed("exact serial number", [search(text=s) for s in serials])
        self.timed("IMEI prefix (8 digits)", [search(text=i[:8]) for i in imeis])
        self.timed("IMEI prefix (4 digits, thousands match)", [search(text=i[:4]) for i in imeis])
        self.timed("serial prefix (3 characters)", [search(text=s[:3]) for s in serials])
        self.timed(
            "order number prefix", [search(text=f"SO-{rng.randrange(10**4):04d}") for _ in range(repeat)]
        )
        self.timed(
            "customer + model, first page",
            [search(customer_id=rng.choice(owners), model=rng.choice(models)) for _ in range(repeat)],
        )
        big = owners[0]
        self.timed("customer's devices, page 1", [search(customer_id=big) for _ in range(repeat)])
        ids = list(
            Device.objects.filter(owner_id=big)
            .order_by("device_id")
            .values_list("device_id", flat=True)[49_900:49_950]
        )
        cursor = encode_cursor(ids[-1], ids[-1])
        self.timed(
            "customer's devices, page 1,000",
            [(lambda: device_search(DeviceFilters(customer_id=big), cursor=cursor)) for _ in range(repeat)],
        )
        self.timed("unclaimed devices, first page", [search(claimed=False) for _ in range(repeat)])
        self.timed("vendors' devices, first page", [search(vendor_devices=True) for _ in range(repeat)])

    # -- the devices page, through Django's whole request path ----------------------------------
    def bench_page(self, rng: random.Random, repeat: int) -> None:
        """Server time of /devices/ (middleware, view, selector, template) on the data `cache` built."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.test import Client
        from django.test.utils import override_settings

        from portal.roles import Role, ensure_role_groups

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
        with override_settings(
            ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, STORAGES=plain_static
        ):
            client = Client()
            client.force_login(user)
            fragment = {"HX-Request": "true", "HX-Target": "results"}
            self.timed(
                "page: exact IMEI (HTMX fragment)",
                [(lambda i=i: client.get("/devices/", {"q": i}, headers=fragment)) for i in imeis],
            )
            self.timed(
                "page: IMEI prefix, 6 digits (fragment)",
                [(lambda i=i: client.get("/devices/", {"q": i[:6]}, headers=fragment)) for i in imeis],
            )
            self.timed(
                "page: customer + model (fragment)",
                [
                    (
                        lambda: client.get(
                            "/devices/",
                            {"customer": rng.choice(owners), "model": "Pixel 8"},
                            headers=fragment,
                        )
                    )
                    for _ in range(repeat)
                ],
            )
            self.timed(
                "page: whole page, IMEI search",
                [(lambda i=i: client.get("/devices/", {"q": i})) for i in imeis],
            )
            self.timed(
                "page: whole page, no search", [(lambda: client.get("/devices/")) for _ in range(repeat)]
            )

    # -- sync ------------------------------------------------------------------------------------
    @staticmethod
    def empty_cache(models: list) -> None:
        """Empty the scratch cache. PostgreSQL: TRUNCATE, so every run starts from fresh files rather
        than from tables and indexes bloated by the previous run's deleted rows."""
        tables = [connection.ops.quote_name(model._meta.db_table) for model in models]  # children first
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {', '.join(tables)}")
            else:
                for table in tables:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608

    def bench_sync(
        self, *, devices: int, customers: int, seed: int, error_rate: float, runs: int, resync: bool
    ) -> None:
        import resource

        from django.test.utils import override_settings

        from devices.models import DeviceEvent, SyncRun
        from devices.sync import sync_full
        from emulator.testing import EmulatorProcess
        from portal.api import reset_zerotouch_client

        def timed_sync(label: str) -> float:
            with override_settings(
                ZT_API_URL=emulator.url,
                ZT_PARTNER_ID=str(emulator.partner_id),
                ZT_QUOTA_REQUESTS=10_000_000,
                ZT_BATCH_DEADLINE=120,
            ):
                reset_zerotouch_client()
                started = time.perf_counter()
                run = sync_full(trigger="benchmark")
                seconds = time.perf_counter() - started
                reset_zerotouch_client()
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = run.devices_fetched / seconds
            self.stdout.write(
                f"database: {connection.vendor}; {label} {run.status}: {run.devices_fetched:,} devices"
                f" ({run.devices_created:,} new) in {seconds:.1f} s = {rate:,.0f} devices/s;"
                f" peak memory {peak_mb:.0f} MB"
            )
            return rate

        # One line per API request would bury the figures; the level is all that changes.
        logging.getLogger("zerotouch").setLevel(logging.WARNING)
        with EmulatorProcess(partner_id=1000001) as emulator:
            started = time.perf_counter()
            emulator.seed(
                customers=customers,
                vendors=3,
                customers_per_vendor=5,
                devices=devices,
                random_seed=seed,
                unclaimed_fraction=0.0,
            )
            self.stdout.write(
                f"emulator seeded with {devices:,} devices in {time.perf_counter() - started:.1f} s"
            )
            if error_rate:
                emulator.set_faults(error_rate=error_rate, error_codes=[500, 503], random_seed=seed)
            rates = []
            for number in range(1, runs + 1):
                self.empty_cache([DeviceEvent, SearchKey, SyncRun, Device, Customer, Vendor])
                rates.append(timed_sync(f"full sync into an empty cache, run {number}/{runs},"))
            if runs > 1:
                self.stdout.write(
                    f"median of {runs} runs into an empty cache: {statistics.median(rates):,.0f} devices/s"
                )
            if resync:
                timed_sync("sync again into the filled cache (every device known),")
            if error_rate:
                stats = emulator.stats()["methods"]
                injected = sum(n for m in stats.values() for code, n in m.items() if code in ("500", "503"))
                emulator.clear_faults()
                truth = emulator.zero_touch_claims()
                cached = dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))
                self.stdout.write(
                    f"{injected:,} injected server errors; cache equals the emulator's claims: "
                    f"{cached == truth} ({len(cached):,} cached, {len(truth):,} in the emulator)"
                )
                if cached != truth:
                    raise CommandError("The cache does not equal the emulator's claims.")
