"""The recovery run (``python manage.py zt_bench recovery``): how long a batch claim takes when the
worker is killed while it sends, and what settling the answers it lost costs.

A worker killed between sending a ``claimAsync`` and storing its answer leaves a chunk whose outcome
only the devices' state can tell; the same happens when zero-touch acts and the answer is lost on
the way. Reading that state must not cost more than the claim itself, nor make the job crawl.

The run starts the production shape (a private ``redis-server``, the emulator, a prefork Celery
worker and beat; no web process: nothing here asks it) with the product's own batch timings (no
``ZT_BATCH_*`` variable is set) and Google's quota of 1,000 requests per 100 s, which the portal's
limiter is given and the emulator enforces (as 600 a minute, the same rate: it counts in 60-second
windows only). A new customer, with no device, is created in the emulator and synced into the cache;
then a claim of ``devices`` new devices for it is made and confirmed as the batch page does it.
Twice, each time on a fresh emulator, Redis, worker and beat, the previous run's rows gone:

1. baseline: no faults; an operation advances 100 devices a second;
2. fault run: the same, and 10% of all calls answered 503, 2% of answers dropped after acting; the
   worker (its whole process group) is SIGKILLed as the first ``claimAsync`` reaches the emulator,
   and 12 s and 25 s after that, and started again at once under the same node name, as a
   restarted container keeps its hostname.

Each run prints its time from confirmation to the job's end, its items by state and the API calls
the emulator counted by method; the fault run also the chunks settled from the devices' state
(``reconciled_at``), their devices and the calls spent reading them (``reconcile_calls``). Targets:
the fault run within 180 s and within twice the baseline, at most 0.1 reconcile calls per reconciled
device. Invariants, for both runs: every item terminal, every device succeeded, none accepted by
zero-touch twice. A target missed or an invariant broken makes the command fail.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import override_settings

from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from bench.chaos import (
    PARTNER_ID,
    ChaosTimeout,
    ChaosUnavailable,
    Service,
    _accepted,
    _enqueueing_to,
    _fresh_imeis,
    _quiet,
    _redis_answers,
    _trouble,
    _wait_for,
    celery_services,
    claim_draft,
    portal_env,
    redis_service,
)
from bench.subprocesses import free_port
from core.api import reset_zerotouch_client, zerotouch_client
from customers.models import Customer
from customers.services import customers_sync
from devices.models import Device, DeviceEvent

QUOTA = (1_000, 100.0)  # Google's: requests per period (seconds), for the portal's limiter
EMULATOR_QUOTA_PER_MINUTE = 600  # the same rate in the emulator's 60-second window
OPERATION_RATE = 100.0  # devices per second an emulated operation advances
FAULTS = {"error_rate": 0.1, "error_codes": [503], "drop_after_rate": 0.02}
CLAIM = "partners.devices.claimAsync"
KILLS_AFTER_FIRST = (12.0, 25.0)  # seconds after the first kill, which comes with the first claim
QUEUE = "recovery"  # the worker's node is recovery@<host>, after every restart too
TARGET_SECONDS = 180.0
TARGET_RATIO = 2.0  # the fault run against the baseline
TARGET_CALLS_PER_DEVICE = 0.1  # reconcile calls per reconciled device

Say = Callable[[str], None]


@dataclass
class RecoveryRun:
    """What one run measured."""

    name: str
    devices: int
    job_id: int | None = None
    customer_id: int | None = None
    seconds: float = 0.0  # from confirmation to the job's end
    items: Counter = field(default_factory=Counter)  # by state
    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # by method, then status or "dropped"
    kills: list[float] = field(default_factory=list)  # seconds after confirmation
    reconciled_chunks: int = 0
    reconciled_devices: int = 0
    reconcile_calls: int = 0
    accepted_twice: int = 0
    timed_out: str = ""  # what did not end in time
    logs: str = ""  # the worker's error lines, when something did not end in time

    def invariants(self) -> dict[str, bool]:
        return {
            "every item terminal": not self.timed_out and set(self.items) <= BatchItem.TERMINAL,
            "every device succeeded": self.items[BatchItem.State.SUCCEEDED] == self.devices,
            "no device accepted by zero-touch twice": self.accepted_twice == 0,
        }

    def lines(self) -> list[str]:
        calls = {method: sum(answers.values()) for method, answers in self.calls.items()}
        out = [
            f"{self.name}: {self.devices:,} devices, confirmation to the job's end {self.seconds:.1f} s"
            + (f" ({self.timed_out})" if self.timed_out else ""),
            "  items: " + ", ".join(f"{state} {n:,}" for state, n in self.items.most_common()),
            f"  API calls: {sum(calls.values()):,}",
            *(
                f"    {method}: {n:,} ({', '.join(f'{k}: {v:,}' for k, v in self.calls[method].items())})"
                for method, n in sorted(calls.items(), key=lambda pair: -pair[1])
            ),
        ]
        if self.kills:
            out.append(
                "  worker SIGKILLed " + ", ".join(f"{at:.1f} s" for at in self.kills) + " after confirmation"
            )
            out.append(
                f"  chunks reconciled: {self.reconciled_chunks} ({self.reconciled_devices:,} devices); "
                f"reconcile calls: {self.reconcile_calls:,}"
                + (f", {self.calls_per_device:.2f} per reconciled device" if self.reconciled_devices else "")
            )
        return out

    @property
    def calls_per_device(self) -> float:
        return self.reconcile_calls / self.reconciled_devices if self.reconciled_devices else 0.0


def bench_recovery(out: TextIO, *, devices: int, seed: int, deadline: float) -> bool:
    """Run the baseline and the fault run (see the module's docstring) and print their figures, the
    targets and the invariants; True when every target is met and every invariant holds. Refuses a
    database that already holds devices or jobs: the runs delete the rows they made."""
    if shutil.which("redis-server") is None:
        raise ChaosUnavailable("The recovery run needs the redis-server binary (its broker is private).")
    if Device.objects.exists() or BatchJob.objects.exists():
        raise ChaosUnavailable(
            "This database holds devices or batch jobs: point DATABASE_URL at an empty scratch database."
        )
    began = time.monotonic()

    def say(line: str) -> None:
        out.write(f"[{time.monotonic() - began:6.1f} s] {line}\n")
        out.flush()

    rng = random.Random(seed)
    runs: list[RecoveryRun] = []
    with _quiet("zerotouch", "zerotouch.client"):  # a line per API call would bury the figures
        for name, faulty in (("baseline", False), ("fault run", True)):
            if runs:
                _forget(runs[-1])
            run = _run(
                name, faulty=faulty, imeis=_fresh_imeis(rng, devices), seed=seed, deadline=deadline, say=say
            )
            runs.append(run)
            out.write("\n".join(run.lines()) + "\n")
            if run.timed_out:
                out.write(f"the worker's error lines:\n{run.logs or '(none)'}\n")
                return False
    return _verdict(*runs, out=out)


def _forget(run: RecoveryRun) -> None:
    """The next run's emulator numbers its customer and devices as this run's did: this run's rows
    go (the database held no device before the command)."""
    DeviceEvent.objects.filter(batch_id=run.job_id).delete()
    Device.objects.all().delete()
    BatchJob.objects.filter(pk=run.job_id).delete()
    Customer.objects.filter(pk=run.customer_id).delete()


def _run(name: str, *, faulty: bool, imeis: list[str], seed: int, deadline: float, say: Say) -> RecoveryRun:
    from emulator.testing import EmulatorProcess

    run = RecoveryRun(name, devices=len(imeis))
    with (
        tempfile.TemporaryDirectory(prefix="zt-recovery-") as scratch,
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
                customer = _new_customer(emulator, name)
                run.customer_id = customer.pk
                redis_server.start()
                _wait_for(lambda: _redis_answers(broker), timeout=30, what="redis-server")
                worker.start()
                beat.start()
                _wait_for(lambda: " ready." in worker.log_text(), timeout=120, what="the worker")
                say(f"{name}: redis-server :{redis_port}, worker (prefork, 2), beat, emulator {emulator.url}")
                emulator.set_faults(
                    quota_per_minute=EMULATOR_QUOTA_PER_MINUTE, random_seed=seed, **(FAULTS if faulty else {})
                )
                emulator.clear_stats()
                emulator.clear_requests_log()
                _claim(run, emulator, customer, imeis, worker, faulty=faulty, deadline=deadline, say=say)
        except ChaosTimeout as exc:
            run.timed_out = str(exc)
        finally:
            for service in (beat, worker, redis_server):
                service.stop()
            reset_zerotouch_client()
        if run.timed_out:
            run.logs = _trouble(worker.log_text())
    return run


def _new_customer(emulator, name: str) -> Customer:
    """A customer made in the emulator (as the customer page would) and synced into the cache."""
    status, company = emulator.api(
        "POST",
        f"/v1/partners/{PARTNER_ID}/customers",
        {"customer": {"companyName": f"Recovery {name}", "ownerEmails": ["owner@recovery.example.com"]}},
    )
    if status != 200:
        raise ChaosUnavailable(f"The emulator refused the new customer ({status}): {company}")
    customers_sync(client=zerotouch_client())
    return Customer.objects.get(pk=int(company["companyId"]))


def _claim(
    run, emulator, customer, imeis, worker: Service, *, faulty: bool, deadline: float, say: Say
) -> None:
    job = claim_draft(customer=customer, imeis=imeis, upload_name="recovery.csv")
    started = time.monotonic()
    job = job_confirm(job=job, actor=None)
    run.job_id = job.pk
    say(f"{run.name}: job {job.pk} confirmed, {job.ready:,} devices in {job.chunks.count()} chunks")
    killer = WorkerKiller(run, emulator, worker, started=started, say=say)
    if faulty:
        killer.start()
    try:
        _wait_for(
            lambda: BatchJob.objects.get(pk=job.pk).finished, timeout=deadline, what=f"job {job.pk} to finish"
        )
    except ChaosTimeout as exc:
        run.timed_out = str(exc)
    run.seconds = time.monotonic() - started
    killer.stopping.set()
    if faulty:
        killer.join()
    say(f"{run.name}: job {job.pk} {BatchJob.objects.get(pk=job.pk).state} after {run.seconds:.1f} s")

    run.items = Counter(BatchItem.objects.filter(job_id=job.pk).values_list("state", flat=True))
    run.calls = emulator.stats()["methods"]
    chunks = BatchChunk.objects.filter(job_id=job.pk)
    reconciled = chunks.filter(reconciled_at__isnull=False).aggregate(n=Count("pk"), devices=Sum("size"))
    run.reconciled_chunks, run.reconciled_devices = reconciled["n"], reconciled["devices"] or 0
    run.reconcile_calls = chunks.aggregate(calls=Sum("reconcile_calls"))["calls"] or 0
    run.accepted_twice = sum(1 for n in _accepted(emulator).values() if n > 1)


class WorkerKiller(threading.Thread):
    """SIGKILLs the worker's process group as the first claim reaches the emulator (its request log,
    read every 20 ms), then ``KILLS_AFTER_FIRST`` seconds after that, unless the job ended; each
    time a new worker starts at once."""

    def __init__(self, run: RecoveryRun, emulator, worker: Service, *, started: float, say: Say):
        super().__init__(name="recovery-worker-killer", daemon=True)
        self.run_, self.emulator, self.worker, self.started, self.say = run, emulator, worker, started, say
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._claim_arrived():
                if self.stopping.wait(0.02):
                    return
            first = time.monotonic()
            for delay in (0.0, *KILLS_AFTER_FIRST):
                if self.stopping.wait(max(0.0, first + delay - time.monotonic())):
                    return
                self.worker.kill()
                self.worker.start()
                self.run_.kills.append(time.monotonic() - self.started)
                chunks = BatchChunk.objects.filter(job_id=self.run_.job_id).values_list("state", flat=True)
                self.say(f"worker SIGKILLed and started again; chunks {dict(Counter(chunks))}")
        finally:
            connection.close()  # this thread's own

    def _claim_arrived(self) -> bool:
        """Whether the emulator's log holds a claim (asking for one entry: their bodies are large)."""
        try:
            status, answer = self.emulator.request("GET", f"/_emulator/requests?method={CLAIM}&limit=1")
        except OSError:
            return False
        return status == 200 and bool(answer["requests"])


def _verdict(baseline: RecoveryRun, faulted: RecoveryRun, *, out: TextIO) -> bool:
    """Print the targets and the invariants; True when all were met and hold."""
    if faulted.reconciled_devices:
        calls = (faulted.calls_per_device <= TARGET_CALLS_PER_DEVICE, f"{faulted.calls_per_device:.2f}")
    elif faulted.reconcile_calls:
        calls = (False, f"{faulted.reconcile_calls:,} calls, no chunk recorded as reconciled")
    else:
        calls = (None, "no chunk was reconciled")
    ratio = faulted.seconds / baseline.seconds if baseline.seconds else float("inf")
    targets = {
        f"fault run ≤ {TARGET_SECONDS:.0f} s": (
            faulted.seconds <= TARGET_SECONDS,
            f"{faulted.seconds:.1f} s",
        ),
        f"fault run ≤ {TARGET_RATIO:g}x baseline": (
            ratio <= TARGET_RATIO,
            f"{ratio:.2f}x ({faulted.seconds:.1f} s against {baseline.seconds:.1f} s)",
        ),
        f"reconcile calls ≤ {TARGET_CALLS_PER_DEVICE:g} per reconciled device": calls,
    }
    verdicts = {True: "met", False: "missed", None: "not measured"}
    out.write("targets:\n")
    for name, (met, value) in targets.items():
        out.write(f"  {name}: {value}: {verdicts[met]}\n")
    out.write("invariants:\n")
    invariants = {
        f"{run.name}: {name}": holds
        for run in (baseline, faulted)
        for name, holds in run.invariants().items()
    }
    for name, holds in invariants.items():
        out.write(f"  {name}: {str(holds).lower()}\n")
    return all(met is not False for met, _ in targets.values()) and all(invariants.values())
