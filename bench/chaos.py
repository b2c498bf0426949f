"""The chaos run (``python manage.py zt_bench chaos``): a batch claim and a sync carried through
crashes and API trouble, in the production shape, then the promises checked.

The run starts its own processes: a private ``redis-server`` (the broker, the quota limiter and the
cache of every portal process; private so that restarting it disturbs nobody else), a Celery worker
(prefork, as ``make run`` and docker-compose start it) and beat, the web process (gunicorn, or
``runserver`` without it) and the emulator. The database is the one the settings name: point
``DATABASE_URL`` at a scratch database. Then, at once:

- a full sync of the emulator's devices, started as beat would start it;
- a batch claim of ``devices`` new devices, made and confirmed as the batch page does it;
- the emulator fails ``error_rate`` of all calls with a 5xx, drops ``drop_after_rate`` of the answers
  after acting, and refuses calls over a per-minute quota that the portal's limiter is also given;
- the worker (its whole process group, as an out-of-memory kill of its container would) is
  SIGKILLed ``kills`` times at random moments and started again; once, the emulator is killed and
  stays away for ``outage_seconds``; once, Redis is restarted (without persistence: every queued
  message is lost); once, the web process is restarted.

Then it waits for the job to finish, lets the next full sync run, and checks four invariants:

1. every item of the job is terminal;
2. no device reached zero-touch twice for the job (the emulator's own request log);
3. after the next sync, the cache equals the emulator's claims;
4. every audit row and device-history event written by the run matches a real outcome: the job's
   one confirmation row carries its counts, and each history event says what the emulator holds.

Every random choice (devices, fault dice, the moments of the kills) comes from ``seed``; the
processes' timing still varies from run to run, so the figures do too, but the invariants must not.
"""

from __future__ import annotations

import io
import logging
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from django.db import close_old_connections
from django.test.utils import override_settings

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchItem, BatchJob
from bench.subprocesses import database_url, free_port
from core.api import reset_zerotouch_client, zerotouch_client
from core.models import AuditEvent
from customers.models import Customer
from customers.services import customers_sync
from devices.identifiers import luhn_check_digit
from devices.models import Device, DeviceEvent, SyncRun

ROOT = Path(__file__).resolve().parent.parent
PARTNER_ID = 1000001
SECRET_KEY = secrets.token_urlsafe(50)  # a throwaway for the run's DEBUG=0 processes


class ChaosUnavailable(Exception):
    """Something the run needs is missing (the redis-server binary, a free port)."""


@dataclass(frozen=True)
class ChaosPlan:
    """What to run and how hard to shake it. The defaults are the full run; :meth:`small` is the CI
    version."""

    devices: int = 10_000
    kills: int = 10
    outage_seconds: float = 30.0
    seed: int = 1
    sync_devices: int = 20_000
    customers: int = 30
    error_rate: float = 0.2
    drop_after_rate: float = 0.1
    quota_per_minute: int = 1_200
    chunk_size: int = 500
    operation_rate: float = 500.0  # devices per second an emulated operation advances
    kill_gap: tuple[float, float] = (4.0, 15.0)  # seconds between two kills, drawn uniformly
    deadline_seconds: float = 3_600.0  # the job and each sync must end within this
    # The portal's timings (environment variables of the worker, beat and web processes).
    variables: dict[str, str] = field(
        default_factory=lambda: {
            "ZT_BATCH_POLL_MIN_SECONDS": "2",
            "ZT_BATCH_POLL_MAX_SECONDS": "10",
            "ZT_BATCH_SETTLE_SECONDS": "5",
            "ZT_BATCH_SETTLE_SECONDS_PER_DEVICE": "0.005",
            "ZT_BATCH_SWEEP_SECONDS": "5",
            "ZT_BATCH_DEADLINE": "20",
            "ZT_SYNC_STEP_SECONDS": "15",
            "ZT_SYNC_STALE_SECONDS": "60",
            "ZT_SYNC_WATCHDOG_SECONDS": "10",
        }
    )

    @classmethod
    def small(cls, **changes) -> ChaosPlan:
        """The CI-sized run: 200 devices in chunks of 25, 3 kills, a 4-second outage, seconds-long
        settling and polling."""
        plan = cls(
            devices=200,
            kills=3,
            outage_seconds=4.0,
            sync_devices=2_000,
            customers=8,
            quota_per_minute=1_200,
            chunk_size=25,
            kill_gap=(1.0, 3.0),
            deadline_seconds=150.0,
            variables={
                "ZT_BATCH_POLL_MIN_SECONDS": "0.2",
                "ZT_BATCH_POLL_MAX_SECONDS": "1",
                "ZT_BATCH_SETTLE_SECONDS": "0.5",
                "ZT_BATCH_SETTLE_SECONDS_PER_DEVICE": "0.001",
                "ZT_BATCH_SWEEP_SECONDS": "1",
                "ZT_BATCH_DEADLINE": "10",
                "ZT_SYNC_STEP_SECONDS": "3",
                "ZT_SYNC_STALE_SECONDS": "15",
                "ZT_SYNC_WATCHDOG_SECONDS": "2",
            },
        )
        return replace(plan, **changes)


@dataclass
class ChaosReport:
    figures: list[tuple[str, str]] = field(default_factory=list)
    invariants: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what a failed invariant saw, in words
    api_answers: Counter = field(default_factory=Counter)  # the emulator's, by HTTP status or "dropped"
    logs: str = ""  # the processes' log lines about errors, for a failed run

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(self.invariants.values())

    def figure(self, name: str, value) -> None:
        self.figures.append((name, str(value)))

    def lines(self) -> list[str]:
        width = max((len(name) for name, _ in self.figures), default=0)
        out = [f"{name:<{width}}  {value}" for name, value in self.figures]
        out += [f"invariant: {name}: {str(holds).lower()}" for name, holds in self.invariants.items()]
        out += [f"  problem: {problem}" for problem in self.problems]
        return out


# --- The processes ---------------------------------------------------------------------------------


class Service:
    """One process of the run, in a session of its own: ``kill()`` SIGKILLs its whole process group
    (a prefork worker's children die with it, as they do when a container is killed)."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], logs: Path):
        self.name, self.command, self.env, self.logs = name, command, env, logs
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.logs / f"{self.name}-{self.starts}.log").open("w") as output:
            self.process = subprocess.Popen(  # noqa: S603 - fixed commands of this run
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _signal(self, signum: int, wait: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signum)
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
        with _ignored(ProcessLookupError):  # children left behind by a graceful stop
            os.killpg(process.pid, signal.SIGKILL)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 30)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, 30)

    def log_text(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.logs.glob(f"{self.name}-*.log"))
        )


@contextmanager
def _ignored(*errors):
    try:
        yield
    except errors:
        pass


def _wait_for(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.3) -> float:
    """Seconds until ``condition()`` held; ChaosFailure past ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except Exception:  # a process being restarted: ask again
            close_old_connections()
        if time.monotonic() - started > timeout:
            raise ChaosTimeout(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


class ChaosTimeout(Exception):
    pass


def _redis_answers(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own 127.0.0.1 URL
            return response.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


class WebProbe(threading.Thread):
    """Asks the web process for ``/readyz`` twice a second, as a load balancer would, and counts the
    answers: 200 ready, 503 not ready (the broker or the database away), or no answer."""

    def __init__(self, url: str):
        super().__init__(name="chaos-web-probe", daemon=True)
        self.url, self.answers, self.stopping = url, Counter(), threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            try:
                self.answers[str(_http_status(self.url))] += 1
            except OSError:
                self.answers["no answer"] += 1


@contextmanager
def _enqueueing_to(broker_url: str, queue: str) -> Iterator[None]:
    """This process's tasks (the job's first submission, the syncs) go to the run's broker and queue.
    The pools are dropped as Celery drops them after a fork (``Celery._after_fork``), so that the next
    message opens a connection to the broker configured now."""
    from celery import current_app

    app = current_app._get_current_object()  # the project's (portal.celery), its attributes set below

    def drop_pools() -> None:
        app._pool = None
        with _ignored(AttributeError, KeyError):
            app.__dict__["amqp"]._producer_pool = None

    # Messages are sent through ``broker_write_url``, which Celery may have derived already from the
    # broker URL it was configured with, and the embedded default names a transport of its own
    # (portal.broker) with options of its own: all are replaced.
    names = ("broker_url", "broker_write_url", "broker_transport", "broker_transport_options")
    saved = {name: app.conf.get(name) for name in (*names, "task_default_queue")}
    app.conf.update(
        broker_url=broker_url,
        broker_write_url=broker_url,
        broker_transport=None,
        broker_transport_options={},
        task_default_queue=queue,
    )
    drop_pools()
    try:
        yield
    finally:
        app.conf.update(saved)
        drop_pools()


# --- The run ---------------------------------------------------------------------------------------


def _fresh_imeis(rng: random.Random, count: int) -> list[str]:
    """IMEIs new to the emulator (its seed's TACs begin 35; these 86), all different."""
    made: set[str] = set()
    while len(made) < count:
        body = "86" + "".join(rng.choices("0123456789", k=12))
        made.add(body + str(luhn_check_digit(body)))
    return sorted(made, key=lambda _: rng.random())


def _accepted(emulator) -> Counter:
    """How often zero-touch acted on a claim of each IMEI: claimAsync requests it processed, whether
    answered or dropped after acting (a refused request never ran)."""
    sent = Counter()
    for request in emulator.requests_log(method="partners.devices.claimAsync"):
        if request["outcome"] in ("ok", "dropped_after_processing"):
            sent.update(claim["deviceIdentifier"].get("imei", "") for claim in request["body"]["claims"])
    return sent


def run_chaos(plan: ChaosPlan, out: TextIO) -> ChaosReport:
    """Run the plan (see the module's docstring) and return its figures and invariants. Refuses a
    database that already holds devices or jobs."""

    if shutil.which("redis-server") is None:
        raise ChaosUnavailable("The chaos run needs the redis-server binary (its broker is private).")
    if Device.objects.exists() or BatchJob.objects.exists():
        raise ChaosUnavailable(
            "This database holds devices or batch jobs: point DATABASE_URL at an empty scratch database."
        )
    with _quiet("zerotouch", "zerotouch.client"):  # a line per API call would bury the figures
        return _run(plan, out)


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run(plan: ChaosPlan, out: TextIO) -> ChaosReport:
    from emulator.testing import EmulatorProcess

    report = ChaosReport()
    rng = random.Random(plan.seed)
    began = time.monotonic()

    def say(line: str) -> None:
        out.write(f"[{time.monotonic() - began:6.1f} s] {line}\n")
        out.flush()

    with tempfile.TemporaryDirectory(prefix="zt-chaos-") as scratch:
        logs = Path(scratch)
        emulator = EmulatorProcess(partner_id=PARTNER_ID, operation_rate=plan.operation_rate)
        with emulator:
            started = time.monotonic()
            emulator.seed(
                customers=plan.customers,
                vendors=2,
                customers_per_vendor=2,
                devices=plan.sync_devices,
                unclaimed_fraction=0.1,
                random_seed=plan.seed,
            )
            report.figure(
                "emulator seeded", f"{plan.sync_devices:,} devices in {time.monotonic() - started:.1f} s"
            )
            redis_port, web_port = free_port(), free_port()
            broker = f"redis://127.0.0.1:{redis_port}/0"
            queue = f"chaos-{plan.seed}-{uuid.uuid4().hex[:8]}"
            env = portal_env(
                logs=logs,
                broker=broker,
                queue=queue,
                emulator_url=emulator.url,
                quota=(plan.quota_per_minute, 60.0),
                variables=plan.variables,
            )
            redis_server = redis_service(redis_port, env=env, logs=logs)
            worker, beat = celery_services(queue, env=env, logs=logs)
            web_command = _web_command(web_port)
            web = Service("web", web_command, env=env, logs=logs)
            services = [redis_server, worker, beat, web]
            probe = WebProbe(f"http://127.0.0.1:{web_port}/readyz")
            overrides = {
                "ZT_API_URL": emulator.url,
                "ZT_PARTNER_ID": str(PARTNER_ID),
                "ZT_BATCH_CHUNK_SIZE": plan.chunk_size,
            }
            try:
                with override_settings(**overrides), _enqueueing_to(broker, queue):
                    reset_zerotouch_client()
                    customers_sync(
                        client=zerotouch_client()
                    )  # the customer picker's list, before the trouble
                    redis_server.start()
                    _wait_for(lambda: _redis_answers(broker), timeout=30, what="redis-server")
                    for service in (worker, beat, web):
                        service.start()
                    _wait_for(
                        lambda: _http_status(probe.url) == 200,
                        timeout=120,
                        what="the web process's readiness",
                    )
                    probe.start()
                    say(
                        f"processes up: redis-server :{redis_port}, worker (prefork, 2), beat, "
                        f"{web_command[2] if web_command[1] == '-m' else 'runserver'} :{web_port}, "
                        f"emulator {emulator.url}"
                    )
                    _chaos(plan, report, rng, emulator, worker, redis_server, web, broker, probe, say)
            except ChaosTimeout as exc:
                report.problems.append(str(exc))
                report.invariants.setdefault("the run ended within its deadlines", False)
            finally:
                probe.stopping.set()
                for service in reversed(services):
                    service.stop()
                reset_zerotouch_client()
            if not report.ok:
                report.logs = _trouble("\n".join(service.log_text() for service in services))
    report.figure("whole run", f"{time.monotonic() - began:.0f} s")
    return report


def portal_env(
    *,
    logs: Path,
    broker: str,
    queue: str,
    emulator_url: str,
    quota: tuple[int, float],
    variables: dict[str, str],
) -> dict[str, str]:
    """The environment of the run's worker, beat and web processes: the production settings (DEBUG
    off) on this database, with the run's broker, queue, emulator and quota (requests, period in
    seconds), ``variables`` on top. No sync starts of its own: a run starts the ones it wants."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "VAR_DIR": str(logs),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "ZT_API_URL": emulator_url,
        "ZT_PARTNER_ID": str(PARTNER_ID),
        "ZT_QUOTA_REQUESTS": str(quota[0]),
        "ZT_QUOTA_PERIOD_SECONDS": str(quota[1]),
        "ZT_SYNC_ON_WORKER_START": "0",
        "ZT_SYNC_INTERVAL_SECONDS": "86400",
        "ZT_SYNC_ACTIVE_SECONDS": "86400",
        "PYTHONUNBUFFERED": "1",
        **variables,
    }


def redis_service(port: int, *, env: dict[str, str], logs: Path) -> Service:
    """A private redis-server without persistence: a restart loses every queued message."""
    return Service(
        "redis",
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(logs)],
        env=env,
        logs=logs,
    )  # fmt: skip


def celery_services(queue: str, *, env: dict[str, str], logs: Path) -> tuple[Service, Service]:
    """The worker (prefork, 2 processes, as ``make run`` starts it) and beat. The worker's node name
    is fixed (``<queue>@%h``), so a restarted worker keeps it, as a restarted container keeps its
    hostname."""
    celery = [sys.executable, "-m", "celery", "-A", "portal"]
    worker = Service(
        "worker",
        [*celery, "worker", "--concurrency=2", "-Q", queue, "--without-mingle", "--without-gossip",
         "--loglevel=INFO", "-n", f"{queue}@%h"],
        env=env,
        logs=logs,
    )  # fmt: skip
    beat = Service(
        "beat", [*celery, "beat", "--loglevel=INFO", "--schedule", f"{logs}/beat"], env=env, logs=logs
    )
    return worker, beat


def claim_draft(*, customer: Customer, imeis: list[str], upload_name: str) -> BatchJob:
    """A checked claim of ``imeis`` for ``customer``, uploaded as a file with order numbers, as the
    batch page makes one (confirm it with ``job_confirm``)."""
    lines = ["imei,ordernumber", *(f"{imei},SO-{n:06d}" for n, imei in enumerate(imeis))]
    upload = io.BytesIO("\n".join(lines).encode())
    return job_from_input(
        action="claim", mode="file", customer=customer, actor=None, upload=upload, upload_name=upload_name
    )


def _web_command(port: int) -> list[str]:
    """gunicorn, as production runs the portal (it is a dependency); runserver if it is missing."""
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    return [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--timeout", "60",
    ]  # fmt: skip


def _trouble(log: str) -> str:
    lines = [
        line
        for line in log.splitlines()
        if any(word in line for word in ("ERROR", "CRITICAL", "Traceback", "Error:", "locked"))
    ]
    return "\n".join(lines[-80:])


def _chaos(plan, report, rng, emulator, worker, redis_server, web, broker, probe, say) -> None:
    from devices.tasks import sync_full_task

    faults = {
        "error_rate": plan.error_rate,
        "error_codes": [500, 502, 503],
        "drop_after_rate": plan.drop_after_rate,
        "quota_per_minute": plan.quota_per_minute,
        "random_seed": plan.seed,
    }
    customer = Customer.objects.get(pk=int(emulator.seed_summary["customerIds"][0]))
    imeis = _fresh_imeis(rng, plan.devices)
    audit_from = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    emulator.set_faults(**faults)
    emulator.clear_stats()
    sync_full_task.delay("chaos run")
    job = claim_draft(customer=customer, imeis=imeis, upload_name="chaos.csv")
    job_started = time.monotonic()
    job = job_confirm(job=job, actor=None)
    say(f"job {job.pk}: {job.ready:,} devices for customer {customer.pk} in chunks of {plan.chunk_size}")

    # The trouble: the kills at random moments; the outage, the Redis and the web restarts each after
    # one of them, chosen by the seed.
    outage_at, redis_at, web_at = (rng.randrange(plan.kills) for _ in range(3))
    before_outage = Counter()
    trouble_started = time.monotonic()
    for number in range(plan.kills):
        time.sleep(rng.uniform(*plan.kill_gap))
        worker.kill()
        worker.start()
        chunks = Counter(BatchChunk.objects.filter(job=job).values_list("state", flat=True))
        say(f"worker SIGKILLed and restarted ({number + 1}/{plan.kills}); chunks {dict(chunks)}")
        if number == redis_at:
            redis_server.stop()
            redis_server.start()
            _wait_for(lambda: _redis_answers(broker), timeout=30, what="redis-server after its restart")
            say("redis-server restarted (no persistence: queued messages lost)")
        if number == web_at:
            web.stop()
            web.start()
            down = _wait_for(lambda: _http_status(probe.url) == 200, timeout=120, what="the web process")
            say(f"web process restarted; ready again after {down:.1f} s")
        if number == outage_at:
            before_outage.update(_status_counts(emulator))  # its statistics live in its memory
            emulator.kill()
            say(f"emulator killed: {plan.outage_seconds:.0f} s outage")
            time.sleep(plan.outage_seconds)
            emulator.start()
            emulator.set_faults(**faults)
            say("emulator back")
    report.figure("trouble", f"{plan.kills} worker kills, a {plan.outage_seconds:.0f} s outage, a Redis and "
                  f"a web restart over {time.monotonic() - trouble_started:.0f} s")  # fmt: skip

    _wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).finished,
        timeout=plan.deadline_seconds,
        what=f"job {job.pk} to finish",
        every=1.0,
    )
    job.refresh_from_db()
    report.figure(
        "the job",
        f"{job.ready:,} devices from confirmation to its end in {time.monotonic() - job_started:.0f} s: "
        f"{job.succeeded:,} succeeded, {job.failed:,} failed",
    )
    say(f"job {job.pk} {job.state}: {job.succeeded:,} succeeded, {job.failed:,} failed")
    _wait_for(
        lambda: not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists(),
        timeout=plan.deadline_seconds,
        what="the running sync to end",
        every=1.0,
    )
    runs = list(SyncRun.objects.order_by("pk"))
    report.figure(
        "the sync during the trouble",
        f"{len(runs)} run(s) ({', '.join(f'{run.trigger}: {run.status}' for run in runs)}); "
        f"{runs[-1].devices_fetched:,} devices in the last"
        if runs
        else "none",
    )

    # The next sync, faults still on; then the truth, read without faults.
    last = runs[-1].pk if runs else 0
    sync_started = time.monotonic()
    sync_full_task.delay("chaos run: the next sync")
    _wait_for(
        lambda: SyncRun.objects.filter(pk__gt=last).exclude(status=SyncRun.Status.RUNNING).exists(),
        timeout=plan.deadline_seconds,
        what="the next sync",
        every=1.0,
    )
    following = SyncRun.objects.filter(pk__gt=last).order_by("pk").last()
    report.figure(
        "the next sync",
        f"{following.status} in {time.monotonic() - sync_started:.0f} s, "
        f"{following.devices_fetched:,} devices fetched",
    )
    codes = before_outage + _status_counts(emulator)
    emulator.clear_faults()
    _check(report, job, customer, emulator, codes, audit_from, probe)


def _status_counts(emulator) -> Counter:
    """The emulator's answers so far by HTTP status (or ``dropped``), every API method together."""
    codes = Counter()
    for counts in emulator.stats()["methods"].values():
        codes.update(counts)
    return codes


def _check(report, job, customer, emulator, codes, audit_from, probe) -> None:
    report.api_answers = codes
    report.figure(
        "API calls the emulator saw",
        ", ".join(f"{code}: {n:,}" for code, n in sorted(codes.items(), key=lambda pair: -pair[1])),
    )
    requests = emulator.requests_log(method="partners.devices.claimAsync")
    report.figure("claimAsync requests", dict(Counter(r["outcome"] for r in requests)))
    chunks = BatchChunk.objects.filter(job=job)
    reconciled = chunks.filter(reconciled_at__isnull=False).count()
    report.figure(
        "chunks",
        f"{chunks.count()} ({reconciled} reconciled from the devices' state, "
        f"{sum(chunks.values_list('attempts', flat=True))} requests sent for them)",
    )
    report.figure("web /readyz answers", dict(probe.answers))

    # 1. Every item terminal.
    states = Counter(job.items.values_list("state", flat=True))
    terminal = (
        job.finished
        and set(states) <= set(BatchItem.TERMINAL)
        and sum(states.values()) == job.rows
        and job.succeeded + job.failed == job.ready
    )
    report.invariants["100% of items terminal"] = terminal
    report.figure("items", dict(states))
    if not terminal:
        report.problems.append(f"job {job.state}, items {dict(states)}, pending {job.pending}")

    # 2. No device submitted twice for the job.
    accepted = _accepted(emulator)
    twice = sorted(imei for imei, n in accepted.items() if n > 1)
    report.invariants["0 devices submitted twice"] = not twice
    report.figure("devices zero-touch acted on", f"{len(accepted):,} ({len(twice)} more than once)")
    if twice:
        report.problems.append(f"submitted more than once: {twice[:10]}")

    # 3. The cache equals the emulator after the next sync.
    truth = emulator.zero_touch_claims()
    cached = dict(Device.objects.filter(owner__isnull=False).values_list("device_id", "owner_id"))
    differ = {k for k in truth.keys() | cached.keys() if truth.get(k) != cached.get(k)}
    report.invariants["the cache equals the emulator after the next sync"] = not differ
    report.figure("claimed devices", f"{len(truth):,} in the emulator, {len(cached):,} in the cache")
    if differ:
        sample = sorted(differ)[:5]
        report.problems.append(
            f"{len(differ)} devices differ, e.g. "
            + ", ".join(f"{k}: emulator {truth.get(k)}, cache {cached.get(k)}" for k in sample)
        )

    # 4. Every audit row and history event matches a real outcome.
    report.invariants["every audit row matches a real outcome"] = _audit_matches(
        report, job, customer, truth, accepted, audit_from
    )


def _audit_matches(report, job, customer, truth, accepted, audit_from) -> bool:
    problems = []
    rows = list(AuditEvent.objects.filter(pk__gt=audit_from))
    expected = {
        "rows": job.rows,
        "ready": job.ready,
        "invalid": job.invalid,
        "skipped": job.skipped,
    }
    confirmations = [
        row
        for row in rows
        if row.action == "batch.claim" and row.target_id == str(job.pk) and row.outcome == "succeeded"
    ]
    if len(confirmations) != 1 or {k: confirmations[0].details.get(k) for k in expected} != expected:
        problems.append(f"the job's confirmation rows: {[(r.action, r.details) for r in confirmations]}")
    # The check that made the job is audited too, once.
    creations = [row for row in rows if row.action == "batch.create" and row.target_id == str(job.pk)]
    if len(creations) != 1 or {k: creations[0].details.get(k) for k in expected} != expected:
        problems.append(f"the job's creation rows: {[(r.action, r.details) for r in creations]}")
    others = [row for row in rows if row not in confirmations and row not in creations]
    if others:
        problems.append(f"audit rows no one asked for: {[str(row) for row in others[:5]]}")

    items = {item.imei: item for item in job.items.filter(state__in=["succeeded", "failed"])}
    events = list(
        DeviceEvent.objects.filter(batch_id=job.pk).values_list("identifier", "outcome", "device_id")
    )
    per_device = Counter(identifier for identifier, _, _ in events)
    if set(per_device) != set(items) or any(n != 1 for n in per_device.values()):
        problems.append(
            f"{len(events):,} history events for {len(items):,} items with an outcome; "
            f"{sum(1 for n in per_device.values() if n > 1)} devices with more than one"
        )
    wrong = []
    for identifier, outcome, _ in events:
        item = items.get(identifier)
        held = item is not None and item.device_id is not None and truth.get(item.device_id) == customer.pk
        if item is None or outcome != item.state or (outcome == "succeeded") != held:
            wrong.append(
                f"{identifier}: event {outcome}, item {item.state if item else None}, emulator {held}"
            )
        elif outcome == "succeeded" and accepted.get(identifier) != 1:
            wrong.append(
                f"{identifier}: succeeded, but zero-touch acted on it {accepted.get(identifier, 0)} times"
            )
    if wrong:
        problems.append(f"{len(wrong)} history events that do not match the emulator, e.g. {wrong[:5]}")
    report.figure(
        "audit and history",
        f"{len(rows)} audit row(s), {len(events):,} history events of the job checked against the emulator",
    )
    report.problems.extend(problems)
    return not problems
