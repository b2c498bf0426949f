"""The benchmarks on a scratch database, one suite per make target (``make bench-cache``,
``make bench-sync``, ``make bench-batch``, ``make bench-quota``, ``make bench-customers``,
``make bench-chaos``, ``make bench-recovery``, ``make bench-move``, ``make bench-load``); each suite
lives in a module of ``bench``.

``zt_bench cache --devices 1000000``: builds its own data (refusing a database that holds other
devices), then times the search selectors the device pages use and prints p50/p95 per query kind
(bench.cache; ``zt_bench page`` times the devices page on that data).

``zt_bench chaos --devices 10000 --seed 1``: a batch claim and a sync through worker kills, API
faults, an outage and restarts of Redis and the web process, then the invariants (bench.chaos);
exits non-zero when one fails.

``zt_bench recovery --devices 5000 --seed 7``: a batch claim at Google's quota and the product's
timings, once without faults and once through API faults and three worker kills, the first as the
first claim reaches the API; prints both times, the API calls and what settling lost answers cost,
and exits non-zero when a target or an invariant fails (bench.recovery).

``zt_bench move --devices 1000 --error-rate 0.05``: one order's devices claimed for a customer, then
moved to another, with 5% of API calls answered 503; prints both times, their ratio and the checks
(all moved, none unclaimed, none sent twice), and exits non-zero when one fails (bench.move).

``zt_bench export``: the devices CSV export of the whole cache, a customer and a search, through the
view: rows a second and the process's memory (bench.export; on the data ``zt_bench cache`` built).

``zt_bench hostile``: hostile batch uploads (a row of 32,001 cells, a body over the limit, millions
of blank lines) through the whole request path: status, time and memory of each (bench.hostile).

``zt_bench throughput``: device-search pages a second on gunicorn as production starts it, 10 clients
signed in through the sign-in form looping over 16 search cases with every answer checked; p50/p95
per case, CPU per page of gunicorn, PostgreSQL and the load generator, and each worker's first
request after a fresh start (bench.throughput; on the devices in the database, or builds them).

``zt_bench sync --devices 200000``: seeds an emulator process, runs a full sync into an emptied
cache, and prints devices per second and the process's peak memory; ``--error-rate 0.2`` injects
server errors and checks the cache ends exactly equal to the emulator's claims (bench.sync).
"""

from django.core.management.base import BaseCommand, CommandError

from bench.cache import bench_cache, bench_page
from bench.load import add_load_arguments, load_command
from bench.throughput import add_throughput_arguments, throughput_command

SUITES = (
    "cache",
    "sync",
    "page",
    "batch",
    "quota",
    "customers",
    "chaos",
    "recovery",
    "move",
    "load",
    "hostile",
    "export",
    "throughput",
)


class Command(BaseCommand):
    help = "Benchmark the device cache (search selectors at scale)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("suite", choices=SUITES)
        parser.add_argument("--kills", type=int, default=10, help="chaos: worker SIGKILLs")
        parser.add_argument("--outage", type=float, default=30.0, help="chaos: seconds the emulator is away")
        parser.add_argument("--per-minute", type=int, default=240, help="quota: the scaled-down quota")
        parser.add_argument(
            "--soft-limit", type=int, default=20, help="quota: the worker's task soft time limit"
        )
        parser.add_argument("--rows", type=int, default=100_000, help="batch: rows of the pre-flight file")
        parser.add_argument(
            "--devices",
            type=int,
            default=None,
            help="default 1,000,000 (chaos: 10,000; recovery: 5,000; move: 1,000)",
        )
        parser.add_argument(
            "--deadline", type=float, default=600.0, help="recovery, move: seconds each run's job may take"
        )
        parser.add_argument("--customers", type=int, default=300)
        parser.add_argument("--repeat", type=int, default=200, help="timed queries per kind")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--error-rate", type=float, default=None, help="sync: injected 5xx share (0); move: 503s (0.05)"
        )
        parser.add_argument("--runs", type=int, default=1, help="sync: full syncs into an emptied cache")
        parser.add_argument(
            "--resync", action="store_true", help="sync: then sync again into the filled cache"
        )
        add_load_arguments(parser)  # load: staff, duration, think time, target (bench.load)
        add_throughput_arguments(parser)  # throughput: clients, warm-up, restarts (bench.throughput)

    def handle(
        self, *args, suite: str, devices: int, customers: int, repeat: int, seed: int, **options
    ) -> None:
        if suite == "hostile":  # hostile batch uploads through the request path (bench.hostile)
            from bench.hostile import bench_hostile

            if not bench_hostile(self.stdout):
                raise CommandError("A hostile upload missed its target.")
            return
        if suite == "chaos":
            self.chaos(devices=devices or 10_000, seed=seed, kills=options["kills"], outage=options["outage"])
            return
        if suite == "recovery":
            self.recovery(devices=devices or 5_000, seed=seed, deadline=options["deadline"])
            return
        if suite == "move":
            rate = 0.05 if options["error_rate"] is None else options["error_rate"]
            self.move(devices=devices or 1_000, error_rate=rate, seed=seed, deadline=options["deadline"])
            return
        if suite == "throughput":  # search pages a second on gunicorn, and cold starts (bench.throughput)
            right = throughput_command(
                self.stdout, devices=devices, customers=customers, seed=seed, **options
            )
            if not right:
                raise CommandError("Some answers were wrong (see the errors above).")
            return
        devices = devices or 1_000_000
        if suite == "load":  # staff at the pages while a batch runs, on gunicorn (bench.load)
            if not load_command(self.stdout, seed=seed, **options):
                raise CommandError("The load targets were missed.")
            return
        if suite == "customers":
            from bench.customers import bench_customers  # the customers page at 10,000 customers

            bench_customers(self.stdout, customers=customers, repeat=repeat, seed=seed)
            return
        if suite == "quota":
            from bench.quota import bench_quota  # sync, batch and people sharing the quota

            bench_quota(
                self.stdout,
                devices=devices,
                per_minute=options["per_minute"],
                soft_limit=options["soft_limit"],
                seed=seed,
            )
            return
        if suite == "batch":
            from bench.batch import bench_batch  # pre-flight, submission and the worker's memory

            bench_batch(self.stdout, rows=options["rows"], seed=seed)
            return
        if suite == "sync":
            from bench.sync import bench_sync  # sync ingest from an emulator process

            bench_sync(
                self.stdout,
                devices=devices,
                customers=customers,
                seed=seed,
                error_rate=options["error_rate"] or 0.0,
                runs=options["runs"],
                resync=options["resync"],
            )
            return
        if suite == "page":
            bench_page(self.stdout, repeat=repeat, seed=seed)
            return
        if suite == "export":
            from bench.export import bench_export  # the devices CSV export at 1,000,000 devices

            bench_export(self.stdout)
            return
        bench_cache(self.stdout, devices=devices, customers=customers, repeat=repeat, seed=seed)

    def chaos(self, *, devices: int, seed: int, kills: int, outage: float) -> None:
        from bench.chaos import ChaosPlan, ChaosUnavailable, run_chaos

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

    def recovery(self, *, devices: int, seed: int, deadline: float) -> None:
        from bench.chaos import ChaosUnavailable
        from bench.recovery import bench_recovery

        self.stdout.write(f"recovery run: {devices:,} devices, seed {seed}, deadline {deadline:.0f} s a run")
        try:
            ok = bench_recovery(self.stdout, devices=devices, seed=seed, deadline=deadline)
        except ChaosUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if not ok:
            raise CommandError("The recovery run missed a target or broke an invariant.")

    def move(self, *, devices: int, error_rate: float, seed: int, deadline: float) -> None:
        from bench.chaos import ChaosUnavailable
        from bench.move import bench_move

        self.stdout.write(f"move run: {devices:,} devices, {error_rate:.0%} 503s, seed {seed}")
        try:
            ok = bench_move(self.stdout, devices=devices, error_rate=error_rate, seed=seed, deadline=deadline)
        except ChaosUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if not ok:
            raise CommandError("The move run missed its target or failed a check.")
