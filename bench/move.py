"""The move run (``python manage.py zt_bench move``): how long moving one order's devices from one
customer to another takes, against a claim of as many devices, with zero-touch answering some
requests 503.

A move is an unclaim and then a claim of every device (zero-touch claims no device another customer
holds), so it cannot take less than the two operations; the target is that it takes no more than
twice a claim, whatever the 503s cost, and that it is exact: every device ends with the new customer,
none is left unclaimed, and zero-touch acted on no device twice in either half.

The run starts the production shape as ``bench.recovery`` does (a private ``redis-server``, the
emulator, a prefork Celery worker and beat, the product's own batch timings and Google's quota of
1,000 requests per 100 s), with two new customers, A and B, made in the emulator and synced. Then, on
the same processes, with ``error_rate`` of every API call answered 503 (before zero-touch acts):

1. claim: ``devices`` new devices claimed for A, each row with the same order number, from a file as
   the batch page takes one; timed from confirmation to the job's end (the baseline);
2. move: that order's devices, pasted as the order page's "Start a batch with them" pastes them, moved
   to B from A ("from customer" A), timed the same way.

It prints both times and their ratio, the API calls by method, and the checks: every item of the move
succeeded and none is half done; zero-touch's listing of B holds every device and A's none; each device
was unclaimed once and claimed once by requests zero-touch acted on (its request log); the history
holds one "moved" event per device. A check failed or the ratio above ``TARGET_RATIO`` makes the
command fail.
"""

from __future__ import annotations

import io
import random
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.test.utils import override_settings

from batches.drafts import devices_rows_text, job_from_input
from batches.jobs import job_confirm
from batches.models import BatchItem, BatchJob
from bench.chaos import (
    PARTNER_ID,
    ChaosTimeout,
    ChaosUnavailable,
    _enqueueing_to,
    _fresh_imeis,
    _quiet,
    _redis_answers,
    _trouble,
    _wait_for,
    celery_services,
    portal_env,
    redis_service,
)
from bench.recovery import EMULATOR_QUOTA_PER_MINUTE, OPERATION_RATE, QUOTA
from bench.subprocesses import free_port
from core.api import reset_zerotouch_client, zerotouch_client
from customers.models import Customer
from customers.services import customers_sync
from devices.models import Device, DeviceEvent
from devices.selectors import DeviceFilters

ORDER = "SO-MOVE-24"
QUEUE = "move"
UNCLAIMS, CLAIMS = "partners.devices.unclaimAsync", "partners.devices.claimAsync"
TARGET_RATIO = 2.0  # the move against the claim


@dataclass
class MoveRun:
    """What the run measured."""

    devices: int
    error_rate: float
    claim_seconds: float = 0.0
    move_seconds: float = 0.0
    move_job: int | None = None
    claim_calls: dict[str, dict[str, int]] = field(default_factory=dict)  # by method, then status
    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # the move's
    checks: dict[str, bool] = field(default_factory=dict)
    timed_out: str = ""
    logs: str = ""

    @property
    def ratio(self) -> float:
        return self.move_seconds / self.claim_seconds if self.claim_seconds else float("inf")

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.ratio <= TARGET_RATIO and all(self.checks.values())

    def lines(self) -> list[str]:
        out = [
            f"{self.devices:,} devices of order {ORDER}, {self.error_rate:.0%} of API calls answered 503:",
            f"  claim for A: {self.claim_seconds:.1f} s (confirmation to the job's end)",
            f"  move A -> B: {self.move_seconds:.1f} s",
            f"  ratio: {self.ratio:.2f}x (target <= {TARGET_RATIO:g}x): "
            + ("met" if self.ratio <= TARGET_RATIO else "missed"),
            *_calls("the claim's API calls", self.claim_calls),
            *_calls("the move's API calls", self.calls),
            "checks:",
            *(f"  {name}: {str(holds).lower()}" for name, holds in self.checks.items()),
        ]
        if self.timed_out:
            out.append(f"timed out: {self.timed_out}")
        return out


def _calls(title: str, calls: dict[str, dict[str, int]]) -> list[str]:
    answered_503 = sum(answers.get("503", 0) for answers in calls.values())
    return [
        f"  {title} ({answered_503} answered 503):",
        *(
            f"    {method}: {', '.join(f'{status}: {n:,}' for status, n in sorted(answers.items()))}"
            for method, answers in sorted(calls.items())
        ),
    ]


def bench_move(out: TextIO, *, devices: int, error_rate: float, seed: int, deadline: float) -> bool:
    """Run the claim and the move (see the module's docstring), print the figures and the checks;
    True when every check holds and the ratio is within the target. Refuses a database that already
    holds devices or jobs."""
    if shutil.which("redis-server") is None:
        raise ChaosUnavailable("The move run needs the redis-server binary (its broker is private).")
    if Device.objects.exists() or BatchJob.objects.exists():
        raise ChaosUnavailable(
            "This database holds devices or batch jobs: point DATABASE_URL at an empty scratch database."
        )
    began = time.monotonic()

    def say(line: str) -> None:
        out.write(f"[{time.monotonic() - began:6.1f} s] {line}\n")
        out.flush()

    run = MoveRun(devices=devices, error_rate=error_rate)
    with _quiet("zerotouch", "zerotouch.client"):
        _run(run, imeis=_fresh_imeis(random.Random(seed), devices), seed=seed, deadline=deadline, say=say)
    out.write("\n".join(run.lines()) + "\n")
    if run.timed_out:
        out.write(f"the worker's error lines:\n{run.logs or '(none)'}\n")
    return run.ok


def _run(run: MoveRun, *, imeis: list[str], seed: int, deadline: float, say) -> None:
    from emulator.testing import EmulatorProcess

    with (
        tempfile.TemporaryDirectory(prefix="zt-move-") as scratch,
        EmulatorProcess(partner_id=PARTNER_ID, operation_rate=OPERATION_RATE) as emulator,
    ):
        logs, redis_port = Path(scratch), free_port()
        broker = f"redis://127.0.0.1:{redis_port}/0"
        env = portal_env(
            logs=logs, broker=broker, queue=QUEUE, emulator_url=emulator.url, quota=QUOTA, variables={}
        )
        redis_server = redis_service(redis_port, env=env, logs=logs)
        worker, beat = celery_services(QUEUE, env=env, logs=logs)
        try:
            with (
                override_settings(ZT_API_URL=emulator.url, ZT_PARTNER_ID=str(PARTNER_ID)),
                _enqueueing_to(broker, QUEUE),
            ):
                reset_zerotouch_client()
                source, target = (
                    _new_customer(emulator, name) for name in ("Move source A", "Move target B")
                )
                redis_server.start()
                _wait_for(lambda: _redis_answers(broker), timeout=30, what="redis-server")
                worker.start()
                beat.start()
                _wait_for(lambda: " ready." in worker.log_text(), timeout=120, what="the worker")
                say(f"redis-server :{redis_port}, worker (prefork, 2), beat, emulator {emulator.url}")
                emulator.set_faults(
                    quota_per_minute=EMULATOR_QUOTA_PER_MINUTE,
                    random_seed=seed,
                    error_rate=run.error_rate,
                    error_codes=[503],
                )
                emulator.clear_stats()
                claim = _claim_draft(source, imeis)
                run.claim_seconds = _timed(claim, deadline=deadline, say=say, what="claim")
                run.claim_calls = emulator.stats()["methods"]
                emulator.clear_stats()
                emulator.clear_requests_log()
                move = job_from_input(
                    action=BatchJob.Action.MOVE,
                    mode="paste",
                    text=devices_rows_text(
                        DeviceFilters(order_number=ORDER), limit=settings.ZT_BATCH_MAX_ROWS
                    ),
                    customer=target,
                    from_customer=source,
                    actor=None,
                )
                say(f"move: {move.ready:,} of {move.rows:,} rows ready")
                run.move_job = move.pk
                run.move_seconds = _timed(move, deadline=deadline, say=say, what="move")
                run.calls = emulator.stats()["methods"]
                run.checks = _checks(move, emulator, source=source, target=target, imeis=imeis)
        except ChaosTimeout as exc:
            run.timed_out = str(exc)
        finally:
            for service in (beat, worker, redis_server):
                service.stop()
            reset_zerotouch_client()
        if run.timed_out:
            run.logs = _trouble(worker.log_text())


def _new_customer(emulator, name: str) -> Customer:
    status, company = emulator.api(
        "POST",
        f"/v1/partners/{PARTNER_ID}/customers",
        {"customer": {"companyName": name, "ownerEmails": ["owner@move.example.com"]}},
    )
    if status != 200:
        raise ChaosUnavailable(f"The emulator refused the new customer ({status}): {company}")
    customers_sync(client=zerotouch_client())
    return Customer.objects.get(pk=int(company["companyId"]))


def _claim_draft(customer: Customer, imeis: list[str]) -> BatchJob:
    """The order's devices claimed for ``customer``, from a file, as the batch page takes one."""
    lines = ["imei,ordernumber", *(f"{imei},{ORDER}" for imei in imeis)]
    return job_from_input(
        action=BatchJob.Action.CLAIM,
        mode="file",
        customer=customer,
        actor=None,
        upload=io.BytesIO("\n".join(lines).encode()),
        upload_name="order.csv",
    )


def _timed(job: BatchJob, *, deadline: float, say, what: str) -> float:
    """Seconds from the job's confirmation to its end."""
    started = time.monotonic()
    job = job_confirm(job=job, actor=None)
    say(f"{what}: job {job.pk} confirmed, {job.ready:,} devices in {job.chunks.count()} chunk(s)")
    _wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).finished,
        timeout=deadline,
        what=f"the {what} (job {job.pk}) to finish",
        every=0.1,
    )
    seconds = time.monotonic() - started
    job.refresh_from_db()
    say(f"{what}: {job.state} after {seconds:.1f} s: {job.succeeded:,} done, {job.failed:,} failed")
    return seconds


def _listed(customer: Customer) -> set[str]:
    """The IMEIs zero-touch lists for the customer now."""
    pager = zerotouch_client().devices_find_by_owner(customer_ids=[customer.pk], page_size=100)
    return {device.identifier.imei for page in pager.pages() for device in page.items()}


def _checks(move: BatchJob, emulator, *, source: Customer, target: Customer, imeis: list[str]) -> dict:
    move.refresh_from_db()
    items = Counter(BatchItem.objects.filter(job_id=move.pk).values_list("state", flat=True))
    unclaimed, claimed = Counter(), Counter()
    for method, counts in ((UNCLAIMS, unclaimed), (CLAIMS, claimed)):
        for request in emulator.requests_log(method=method):
            if request["outcome"] in ("ok", "dropped_after_processing"):
                for entry in request["body"].get("unclaims") or request["body"].get("claims") or []:
                    counts[entry.get("deviceId") or entry["deviceIdentifier"].get("imei")] += 1
    wanted = set(imeis)
    moved = DeviceEvent.objects.filter(batch_id=move.pk, kind=DeviceEvent.Kind.MOVED, outcome="succeeded")
    return {
        "every row of the move succeeded, none half done": (
            move.state == BatchJob.State.DONE
            and items == Counter({BatchItem.State.SUCCEEDED: len(imeis)})
            and move.half_done == 0
        ),
        f"zero-touch lists all {len(imeis):,} for B": _listed(target) == wanted,
        "none left with A or unclaimed": not _listed(source) & wanted
        and Device.objects.filter(imei__in=wanted, owner_id=target.pk).count() == len(wanted),
        "each device unclaimed once (request log)": len(unclaimed) == len(imeis)
        and set(unclaimed.values()) == {1},
        "each device claimed once (request log)": set(claimed) == wanted and set(claimed.values()) == {1},
        "one moved event per device": moved.count() == len(imeis),
    }
