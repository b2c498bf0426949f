"""The batch benchmark (``python manage.py zt_bench batch``), on the scratch database of
``zt_bench cache`` (1,000,000 cached devices) and an emulator process of its own.

It prints four figures, each against its target:

1. the pre-flight of a CSV file of ``--rows`` rows (100,000), parse + checks + items stored;
2. the portal's own time to submit a 10,000-device job, beyond the time the API took to answer;
3. a 10,000-device job from upload to its last result, through a real Celery worker, with the
   emulator at its default operation rate;
4. the worker's peak memory through a ``--rows``-device job.
"""

import io
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.test.utils import override_settings

from batches.chunks import cut_into_chunks
from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from batches.parsing import Limits, parse_csv
from batches.preflight import Checker, checked_blocks, cycle_collector_paused, items_of
from batches.submission import chunk_submit_next
from bench.subprocesses import celery_worker_and_beat, database_url
from core.api import reset_zerotouch_client, zerotouch_client
from customers.models import Customer
from customers.services import customers_sync
from devices.identifiers import luhn_check_digit
from devices.models import Device


def _fresh_imei(rng: random.Random) -> str:
    """An IMEI the cache and the emulator's seed never hold (their TAC begins 35; this one 86)."""
    body = "86" + "".join(rng.choices("0123456789", k=12))
    return body + str(luhn_check_digit(body))


def _preflight_file(rng: random.Random, rows: int, customer: Customer) -> bytes:
    """Half new devices, the rest cached ones: unclaimed (ready), the customer's own (nothing to do:
    their rows carry the order number the cache holds, as an order system would export them), other
    customers' (errors), and 2% broken identifiers, in Google's reseller format. The same seed gives
    the same file on the same cache."""
    ids = Device.objects.order_by("device_id").values_list("device_id", flat=True)
    first, last = ids.first(), ids.last()
    picked = sorted(rng.sample(range(first, last + 1), min(rows, last - first + 1)))
    cached = []
    for start in range(0, len(picked), 5000):
        wanted = picked[start : start + 5000]
        devices = Device.objects.filter(device_id__in=wanted).exclude(imei="")
        cached += devices.order_by("device_id").values_list("imei", "metadata")
    rng.shuffle(cached)
    lines = ["modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber"]
    for number in range(rows):
        roll = rng.random()
        order = f"SO-{number:07d}"
        if roll < 0.5 or not cached:
            imei = _fresh_imei(rng)
        elif roll < 0.98:
            imei, metadata = cached[number % len(cached)]
            order = (metadata or {}).get("ordernumber", "")
        else:
            imei = _fresh_imei(rng)[:-1] + "x"
        lines.append(f"IMEI,{imei},,,,ZERO_TOUCH,{customer.pk},{order}")
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class Timing:
    """One measured run: elapsed seconds, this process's CPU seconds, and the database server's CPU
    seconds for this connection (None when it cannot be read: SQLite runs inside this process, and a
    PostgreSQL server on another machine or in a container is out of sight)."""

    wall: float
    cpu: float
    database: float | None

    def __sub__(self, other: "Timing") -> "Timing":
        database = None if self.database is None or other.database is None else self.database - other.database
        return Timing(self.wall - other.wall, self.cpu - other.cpu, database)

    def __str__(self) -> str:
        database = "" if self.database is None else f", database CPU {self.database:.2f} s"
        return f"{self.wall:.2f} s (this process's CPU {self.cpu:.2f} s{database})"


def _database_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, when it runs on this machine."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres"):
            return None  # another process of that number: the server runs elsewhere
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _timed(work) -> tuple[Timing, object]:
    database, cpu, wall = _database_cpu(), time.process_time(), time.perf_counter()
    result = work()
    elapsed, used, database_after = time.perf_counter() - wall, time.process_time() - cpu, _database_cpu()
    database_used = None if database is None or database_after is None else database_after - database
    return Timing(elapsed, used, database_used), result


def _load_average() -> str:
    """The machine's one-minute load average, as a reminder that other work shares the cores."""
    try:
        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def _median(timings: list[Timing]) -> Timing:
    databases = [timing.database for timing in timings]
    return Timing(
        statistics.median(timing.wall for timing in timings),
        statistics.median(timing.cpu for timing in timings),
        None if None in databases else statistics.median(databases),
    )


def _steps(data: bytes) -> dict[str, Timing]:
    """The pre-flight's steps, each timed as a pass over the whole file that stops after it (the
    steps interleave block by block in the real thing): reading, the rules, the cache."""
    limits = Limits()

    def read() -> None:
        for _ in parse_csv(io.BytesIO(data), limits=limits):
            pass

    def rules() -> None:
        checker = Checker(action="claim", customer=None)
        for _ in checked_blocks(parse_csv(io.BytesIO(data), limits=limits), checker=checker):
            pass

    def cache() -> None:
        checker = Checker(action="claim", customer=None)
        for block in checked_blocks(parse_csv(io.BytesIO(data), limits=limits), checker=checker):
            items_of(checker, block, job_id=0)

    steps = {}
    for name, work in (("read", read), ("rules", rules), ("cache", cache)):
        with cycle_collector_paused():  # as the pre-flight runs
            steps[name] = _timed(work)[0]
    return steps


def bench_preflight(out, *, rows: int, seed: int, repeat: int = 5) -> None:
    """The pre-flight of a ``rows``-row file, ``repeat`` times, and where its time goes."""
    rng = random.Random(seed)
    customer = Customer.objects.filter(vendor__isnull=True).order_by("pk").first()
    if customer is None or Device.objects.count() < 100_000:
        raise SystemExit(
            "Run `zt_bench cache` on this database first: the pre-flight is measured against its cache."
        )
    data = _preflight_file(rng, rows, customer)
    load_before = _load_average()
    runs, steps = [], []
    for _ in range(repeat):
        timing, job = _timed(
            lambda: job_from_input(
                action="claim",
                mode="file",
                customer=None,
                actor=None,
                upload=io.BytesIO(data),
                upload_name="bench.csv",
            )
        )
        runs.append(timing)
        summary = (
            f"{job.rows:,} rows: {job.ready:,} ready, {job.invalid:,} with errors, "
            f"{job.skipped:,} nothing to do"
        )
        with transaction.atomic():
            BatchItem.objects.filter(job=job).delete()
            job.delete()
        steps.append(_steps(data))
    median = _median(runs)
    out.write(
        f"pre-flight of {rows:,} rows ({len(data) / 1_048_576:.1f} MB) against "
        f"{Device.objects.count():,} cached devices ({connection.vendor}): {summary}; "
        f"runs {', '.join(f'{run.wall:.2f}' for run in runs)} s, "
        f"median {median.wall:.2f} s (target ≤ 3 s)"
    )
    read, rules, cache = (_median([step[name] for step in steps]) for name in ("read", "rules", "cache"))
    out.write(f"  the whole pre-flight (median):   {median}")
    out.write(f"  reading the CSV file:            {read}")
    out.write(f"  the rules of each row:           {rules - read}")
    out.write(f"  cache look-ups and verdicts:     {cache - rules}")
    overlap = (
        " (what it adds: COPY overlaps the next rows' reading)" if connection.vendor == "postgresql" else ""
    )
    out.write(f"  storing the items (and commit):  {median - cache}{overlap}")
    out.write(f"  load average (1 min) before and after: {load_before} and {_load_average()}")


class _TimedClient:
    """The API client, with the time spent inside its async submissions added up."""

    def __init__(self, client):
        self.client, self.api_seconds = client, 0.0
        self.partner_id = client.partner_id

    def devices_claim_async(self, **kwargs):
        started = time.perf_counter()
        try:
            return self.client.devices_claim_async(**kwargs)
        finally:
            self.api_seconds += time.perf_counter() - started


def _job_for(emulator_customer: Customer, imeis: list[str]) -> BatchJob:
    text = "imei,ordernumber\n" + "\n".join(f"{imei},SO-{n}" for n, imei in enumerate(imeis))
    return job_from_input(
        action="claim",
        mode="file",
        customer=emulator_customer,
        actor=None,
        upload=io.BytesIO(text.encode()),
        upload_name="bench.csv",
    )


def bench_submission(out, *, emulator_customer: Customer, devices: int, seed: int) -> None:
    """Submit every chunk of a job in this process (no worker): the portal's time beyond the API's."""
    rng = random.Random(seed)
    job = _job_for(emulator_customer, [_fresh_imei(rng) for _ in range(devices)])
    with transaction.atomic():
        cut_into_chunks(job)
        BatchJob.objects.filter(pk=job.pk).update(state=BatchJob.State.QUEUED)
    client = _TimedClient(zerotouch_client())
    started = time.perf_counter()
    while chunk_submit_next(job.pk, client=client) is not None:
        pass
    total = time.perf_counter() - started
    overhead = total - client.api_seconds
    sent = BatchChunk.objects.filter(job=job, state=BatchChunk.State.SUBMITTED).count()
    out.write(
        f"submission of {devices:,} devices in {sent} chunks: {total:.2f} s in all, "
        f"{client.api_seconds:.2f} s waiting for the API, overhead {overhead:.2f} s = "
        f"{overhead * 10_000 / devices:.2f} s per 10,000 devices (target ≤ 1 s)"
    )


def _rss_mb(pids: list[int]) -> dict[int, float]:
    sizes = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return sizes


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def bench_worker(out, *, emulator, emulator_customer: Customer, devices: int, seed: int, label: str) -> None:
    """A job through a real worker (as `make run` starts it: prefork, 2 processes) and beat: from the
    upload to the last result, and the worker processes' peak memory."""
    rng = random.Random(seed)
    imeis = [_fresh_imei(rng) for _ in range(devices)]
    with tempfile.TemporaryDirectory() as scratch:
        queue = f"bench-{seed}-{devices}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "ZT_API_URL": emulator.url,
            "ZT_PARTNER_ID": str(emulator.partner_id),
            "ZT_QUOTA_REQUESTS": "10000000",
            "ZT_SYNC_ON_WORKER_START": "0",
            "ZT_SYNC_INTERVAL_SECONDS": "86400",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
        }
        with celery_worker_and_beat(
            queue=queue, env=env, log_path=Path(scratch) / "worker.log", beat_schedule=Path(scratch) / "beat"
        ) as worker:
            from celery import current_app as app  # the project's (portal.celery)

            previous = app.conf.task_default_queue
            try:
                app.conf.task_default_queue = queue
                time.sleep(3)  # let the worker come up
                peak: dict[int, float] = {}
                started = time.perf_counter()
                job = job_confirm(job=_job_for(emulator_customer, imeis), actor=None)
                while not job.finished:
                    time.sleep(0.5)
                    for pid, size in _rss_mb([worker.pid, *_children(worker.pid)]).items():
                        peak[pid] = max(peak.get(pid, 0.0), size)
                    job.refresh_from_db()
                    if time.perf_counter() - started > 3600:
                        raise SystemExit("The job did not finish within an hour.")
                seconds = time.perf_counter() - started
            finally:
                app.conf.task_default_queue = previous
    out.write(
        f"{label}: {devices:,} devices from upload to the last result in {seconds:.1f} s "
        f"({job.succeeded:,} done, {job.failed:,} failed); worker processes' peak memory "
        f"{', '.join(f'{size:.0f}' for size in sorted(peak.values(), reverse=True))} MB"
    )


def clean_up() -> None:
    """Leave the scratch database as ``zt_bench cache`` built it: no jobs, and none of the devices the
    emulator registered for the jobs (its ids start at 100,000,000,000; the cache's at 10,000,001)."""
    from devices.models import DeviceEvent, SearchKey

    added = Device.objects.filter(device_id__gte=100_000_000_000)
    with transaction.atomic():
        DeviceEvent.objects.filter(device__in=added).delete()
        SearchKey.objects.filter(device_id__gte=100_000_000_000).delete()
        added.delete()
        BatchItem.objects.all().delete()
        BatchChunk.objects.all().delete()
        BatchJob.objects.all().delete()
        Customer.objects.filter(company_id__gt=10_000_000).delete()  # the emulator's, synced for the jobs


def bench_batch(out, *, rows: int, seed: int, preflight_only: bool = False) -> None:
    """Every batch figure, or only the pre-flight's (seconds rather than minutes)."""
    import logging

    from emulator.testing import EmulatorProcess

    logging.getLogger("zerotouch").setLevel(logging.WARNING)
    clean_up()
    bench_preflight(out, rows=rows, seed=seed)
    if preflight_only:
        return
    with EmulatorProcess(partner_id=1000001) as emulator:
        emulator.seed(customers=1, vendors=0, devices=0, random_seed=seed)
        with override_settings(
            ZT_API_URL=emulator.url, ZT_PARTNER_ID=str(emulator.partner_id), ZT_QUOTA_REQUESTS=10**7
        ):
            reset_zerotouch_client()
            customers_sync(client=zerotouch_client())
            emulator_customer = Customer.objects.get(pk=int(emulator.summary()["customerIds"][0]))
            bench_submission(out, emulator_customer=emulator_customer, devices=10_000, seed=seed + 1)
            bench_worker(
                out,
                emulator=emulator,
                emulator_customer=emulator_customer,
                devices=10_000,
                seed=seed + 2,
                label="a 10,000-device job, default operation rate (target ≤ 60 s)",
            )
            bench_worker(
                out,
                emulator=emulator,
                emulator_customer=emulator_customer,
                devices=rows,
                seed=seed + 3,
                label=f"a {rows:,}-device job (memory target ≤ 250 MB a worker process)",
            )
            reset_zerotouch_client()
    clean_up()
