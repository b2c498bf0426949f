"""The quota benchmark (``python manage.py zt_bench quota``): the sync, a batch and a person sharing a
scaled-down quota, through a real Celery worker and beat.

It seeds an emulator whose own quota equals the portal's (a request over it is a 429), starts a
worker and beat with a short task time limit, and then, at once: a full sync of ``--devices`` devices
(needing several times the time limit), a 5,000-device batch claim, and an interactive look-up once a
second. It prints:

(a) whether the sync completed and the cache equals the emulator's claims;
(b) how long the interactive look-ups took (they wait for their token first), p50/p95/max;
(c) the share of the quota the emulator served over the run, and its 429s.
"""

import io
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from django.db import transaction
from django.test.utils import override_settings

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from bench.subprocesses import celery_worker_and_beat, database_url
from core.api import Lane, reset_zerotouch_client, zerotouch_client
from customers.models import Customer, Vendor
from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceEvent, DeviceModel, SearchKey, SyncRun


def _empty() -> None:
    with transaction.atomic():
        for model in (BatchItem, BatchChunk, BatchJob, DeviceEvent, SearchKey, Device, DeviceModel, SyncRun):
            model.objects.all().delete()
        Customer.objects.all().delete()
        Vendor.objects.all().delete()


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bench_quota(out, *, devices: int, per_minute: int, soft_limit: int, seed: int) -> None:
    from emulator.testing import EmulatorProcess

    logging.getLogger("zerotouch").setLevel(logging.WARNING)
    if Device.objects.filter(device_id__lt=100_000_000).exists():
        raise SystemExit("This database holds other devices: point DATABASE_URL at a scratch database.")
    _empty()
    rng = random.Random(seed)
    with EmulatorProcess(partner_id=1000001) as emulator, tempfile.TemporaryDirectory() as scratch:
        emulator.seed(
            customers=60,
            vendors=2,
            customers_per_vendor=2,
            devices=devices,
            unclaimed_fraction=0.0,
            random_seed=seed,
        )
        quota_file = Path(scratch) / "quota.json"
        queue = f"bench-quota-{seed}"
        variables = {
            "ZT_API_URL": emulator.url,
            "ZT_PARTNER_ID": str(emulator.partner_id),
            "ZT_QUOTA_REQUESTS": str(per_minute),
            "ZT_QUOTA_PERIOD_SECONDS": "60",
            "ZT_QUOTA_FILE": str(quota_file),
            "CELERY_TASK_SOFT_TIME_LIMIT": str(soft_limit),
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "ZT_SYNC_ON_WORKER_START": "0",
            "ZT_SYNC_INTERVAL_SECONDS": "86400",
            "ZT_BATCH_POLL_MIN_SECONDS": "2",
            "DATABASE_URL": database_url(),
        }
        env = {**os.environ, **variables}
        log_path = Path(scratch) / "processes.log"
        with celery_worker_and_beat(
            queue=queue, env=env, log_path=log_path, beat_schedule=Path(scratch) / "beat"
        ):
            from celery import current_app as app  # the project's (portal.celery)

            previous = app.conf.task_default_queue
            overrides = {name: value for name, value in variables.items() if name.startswith("ZT_")}
            overrides.update(
                ZT_QUOTA_REQUESTS=per_minute,
                ZT_QUOTA_PERIOD_SECONDS=60.0,
                ZT_QUOTA_FILE=quota_file,
                ZT_BATCH_POLL_MIN_SECONDS=2.0,
                ZT_SYNC_INTERVAL_SECONDS=86400.0,
                ZT_SYNC_ON_WORKER_START=False,
            )
            try:
                app.conf.task_default_queue = queue
                with override_settings(**overrides):
                    reset_zerotouch_client()
                    result = _run(out, emulator, rng, per_minute=per_minute, soft_limit=soft_limit)
            finally:
                app.conf.task_default_queue = previous
                reset_zerotouch_client()
        if not result:
            out.write(log_path.read_text()[-4000:])


def _run(out, emulator, rng: random.Random, *, per_minute: int, soft_limit: int) -> bool:
    from devices.tasks import sync_full_task

    emulator.set_faults(quota_per_minute=per_minute)
    emulator.clear_stats()
    started = time.monotonic()
    time.sleep(3)  # the worker comes up
    sync_full_task.delay("benchmark")
    person = zerotouch_client(lane=Lane.INTERACTIVE)
    customer_id = emulator.seed_summary["customerIds"][0]
    waits: list[float] = []
    job = None
    while True:
        moment = time.monotonic()
        try:
            next(iter(person.devices_find_by_owner(customer_ids=[customer_id], page_size=1)), None)
            waits.append(time.monotonic() - moment)
        except Exception as exc:  # a failed look-up is what this measures
            out.write(f"an interactive look-up failed: {exc}")
            waits.append(float("inf"))
        if (
            job is None
            and time.monotonic() - started > 8
            and Customer.objects.filter(vendor__isnull=True).exists()
        ):
            job = _batch(rng)
        run = SyncRun.objects.order_by("-pk").first()
        sync_done = run is not None and run.status != SyncRun.Status.RUNNING
        batch_done = job is not None and BatchJob.objects.get(pk=job.pk).finished
        if sync_done and batch_done:
            break
        if time.monotonic() - started > 1800:
            out.write("gave up after 30 minutes")
            return False
        time.sleep(max(0.0, 1.0 - (time.monotonic() - moment)))
    elapsed = time.monotonic() - started
    stats = emulator.stats()["methods"]
    emulator.clear_faults()  # the ground truth is read past the quota
    run = SyncRun.objects.get(pk=run.pk)
    job = BatchJob.objects.get(pk=job.pk)
    cached = dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))
    truth = emulator.zero_touch_claims()
    claimed_by_batch = set(job.items.filter(state="succeeded").values_list("device_id", flat=True))
    equal = {k: v for k, v in cached.items() if k not in claimed_by_batch} == {
        k: v for k, v in truth.items() if k not in claimed_by_batch
    }
    runs = SyncRun.objects.filter(scope=SyncRun.Scope.FULL).count()
    steps_needed = (run.finished_at - SyncRun.objects.order_by("pk").first().started_at).total_seconds()
    served = sum(counts.get("200", 0) for counts in stats.values())
    too_many = sum(counts.get("429", 0) for counts in stats.values())
    share = served / (per_minute / 60 * elapsed)
    finite = [w for w in waits if w != float("inf")]
    out.write(
        f"(a) full sync of {run.devices_fetched:,} devices at {per_minute} requests/minute: "
        f"{run.get_status_display().lower()} in {steps_needed:.0f} s, {run.progress.get('steps', 0)} steps "
        f"of one task each ({runs} run(s); task soft time limit {soft_limit} s); "
        f"cache equals the emulator: {equal}"
    )
    out.write(
        f"    batch of {job.ready:,} devices alongside: {job.succeeded:,} done, {job.failed:,} failed, "
        f"{(job.finished_at - job.submitted_at).total_seconds():.0f} s"
    )
    out.write(
        f"(b) {len(waits)} interactive look-ups, one a second: "
        f"p50 {statistics.median(finite) * 1000:.0f} ms, "
        f"p95 {_percentile(finite, 0.95) * 1000:.0f} ms, max {max(finite) * 1000:.0f} ms "
        f"(targets: p95 ≤ 250 ms, max ≤ 1,000 ms); failed: {len(waits) - len(finite)}"
    )
    out.write(
        f"(c) {served:,} requests served in {elapsed:.0f} s = {share:.1%} of the quota "
        f"(target ≥ 90%); 429s: {too_many}"
    )
    return equal and run.status == SyncRun.Status.SUCCEEDED


def _batch(rng: random.Random) -> BatchJob:
    customer = Customer.objects.filter(vendor__isnull=True).order_by("pk").first()
    lines = ["imei"]
    for _ in range(5000):
        body = "86" + "".join(rng.choices("0123456789", k=12))
        lines.append(body + str(luhn_check_digit(body)))
    job = job_from_input(
        action="claim",
        mode="file",
        customer=customer,
        actor=None,
        upload=io.BytesIO("\n".join(lines).encode()),
        upload_name="bench.csv",
    )
    return job_confirm(job=job, actor=None)
