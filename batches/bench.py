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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import connection, transaction
from django.test.utils import override_settings

from batches.models import BatchChunk, BatchItem, BatchJob
from batches.services import _cut_into_chunks, chunk_submit_next, job_confirm, job_from_input
from customers.models import Customer
from customers.services import customers_sync
from devices.identifiers import luhn_check_digit
from devices.models import Device
from portal.api import reset_zerotouch_client, zerotouch_client

ROOT = Path(__file__).resolve().parent.parent


def _fresh_imei(rng: random.Random) -> str:
    """An IMEI the cache and the emulator's seed never hold (their TAC begins 35; this one 86)."""
    body = "86" + "".join(rng.choices("0123456789", k=12))
    return body + str(luhn_check_digit(body))


def _database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    return f"postgres://{database['USER']}{password}@{host}/{database['NAME']}"


def _preflight_file(rng: random.Random, rows: int, customer: Customer) -> bytes:
    """Half new devices, the rest cached ones: unclaimed (ready), the customer's own (nothing to do),
    other customers' (errors), and 2% broken identifiers, in Google's reseller format."""
    ids = list(Device.objects.order_by("?").values_list("imei", "owner_id")[:rows])
    lines = ["modemtype,modemid,serial,model,manufacturer,profiletype,owner,ordernumber"]
    for number in range(rows):
        roll = rng.random()
        if roll < 0.5 or not ids:
            imei = _fresh_imei(rng)
        elif roll < 0.98:
            imei = ids[number % len(ids)][0] or _fresh_imei(rng)
        else:
            imei = _fresh_imei(rng)[:-1] + "x"
        lines.append(f"IMEI,{imei},,,,ZERO_TOUCH,{customer.pk},SO-{number:07d}")
    return "\n".join(lines).encode()


def bench_preflight(out, *, rows: int, seed: int, repeat: int = 3) -> None:
    rng = random.Random(seed)
    customer = Customer.objects.filter(vendor__isnull=True).order_by("pk").first()
    if customer is None or Device.objects.count() < 100_000:
        raise SystemExit(
            "Run `zt_bench cache` on this database first: the pre-flight is measured against its cache."
        )
    data = _preflight_file(rng, rows, customer)
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        job = job_from_input(
            action="claim",
            mode="file",
            customer=None,
            actor=None,
            upload=io.BytesIO(data),
            upload_name="bench.csv",
        )
        seconds.append(time.perf_counter() - started)
        summary = (
            f"{job.rows:,} rows: {job.ready:,} ready, {job.invalid:,} with errors, "
            f"{job.skipped:,} nothing to do"
        )
        with transaction.atomic():
            BatchItem.objects.filter(job=job).delete()
            job.delete()
    out.write(
        f"pre-flight of {rows:,} rows ({len(data) / 1_048_576:.1f} MB) against "
        f"{Device.objects.count():,} cached devices ({connection.vendor}): {summary}; "
        f"runs {', '.join(f'{s:.2f}' for s in seconds)} s, "
        f"median {statistics.median(seconds):.2f} s (target ≤ 3 s)"
    )


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
        _cut_into_chunks(job)
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
            "DATABASE_URL": _database_url(),
            "ZT_API_URL": emulator.url,
            "ZT_PARTNER_ID": str(emulator.partner_id),
            "ZT_QUOTA_REQUESTS": "10000000",
            "ZT_SYNC_ON_WORKER_START": "0",
            "ZT_SYNC_INTERVAL_SECONDS": "86400",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
        }
        command = [sys.executable, "-m", "celery", "-A", "portal"]
        with open(Path(scratch) / "worker.log", "w") as log:
            worker = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                [
                    *command,
                    "worker",
                    "--concurrency=2",
                    "-Q",
                    queue,
                    "--loglevel=WARNING",
                    "-n",
                    f"{queue}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            beat = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                [*command, "beat", "--loglevel=WARNING", "--schedule", str(Path(scratch) / "beat")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        from portal.celery import app

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
            for process in (worker, beat):
                process.terminate()
                process.wait(timeout=60)
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


def bench_batch(out, *, rows: int, seed: int) -> None:
    import logging

    from emulator.testing import EmulatorProcess

    logging.getLogger("zerotouch").setLevel(logging.WARNING)
    clean_up()
    bench_preflight(out, rows=rows, seed=seed)
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
