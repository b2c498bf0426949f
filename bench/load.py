"""The load test (``python manage.py zt_bench load``): a team of staff using the portal at once.

Two halves:

- the load itself (:func:`run_load`): N staff, each a thread with its own HTTP session, sign in
  through the sign-in form and then loop, with think time, through a mix of what sales staff and
  managers do all day: device searches (exact IMEI, IMEI prefix, a customer's devices), device
  pages, one claim or unclaim through the HTMX forms (POST with the CSRF token), the customer list,
  its search and customer pages, and (managers) the reports. Every request is timed from sending it
  to the last byte of the answer, and anything but the expected answer is an error. It is bounded in
  time and in requests, and refuses any address but this machine's own;
- the production shape around it (:func:`bench_load`): gunicorn on the database of ``zt_bench
  cache`` (1,000,000 devices), a Celery worker and beat, Redis when the broker is Redis, an emulator
  process standing in for Google, and a 10,000-device batch claim started through
  ``batches.drafts`` just before the staff start.
"""

from __future__ import annotations

import io
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.subprocesses import database_url, free_port
from devices.identifiers import luhn_check_digit

ROOT = Path(__file__).resolve().parent.parent
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_DURATION = 3600  # seconds: a load run is a measurement, not a soak
MAX_STAFF = 500
REQUEST_TIMEOUT = 30  # seconds: a page slower than this is an error, and the run still ends on time
HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CLAIMED = re.compile(r"is device (\d+) in zero-touch")
UNCLAIMED = re.compile(r"Unclaimed\.")


class TargetRefused(ValueError):
    """The load test only ever runs against this machine."""


def local_target(url: str) -> str:
    """``url`` without a trailing slash, when it names this machine over HTTP(S); else refused, so a
    mistyped address can never turn the load test on someone else's server."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOCAL_HOSTS:
        raise TargetRefused(
            f"Refusing to load {url!r}: the load test runs only against 127.0.0.1 or localhost."
        )
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise TargetRefused(f"Refusing to load {url!r}: give only the scheme, host and port.")
    return f"{parts.scheme}://{parts.netloc}"


# -- what the staff work on -------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    username: str
    password: str
    role: str  # "sales" or "manager"


@dataclass(frozen=True)
class Catalogue:
    """What staff look for: cached devices (ids and IMEIs), customers (ids and name fragments), models,
    and the customers the API knows, for whom a claim can succeed."""

    device_ids: list[int]
    imeis: list[str]
    customer_ids: list[int]
    customer_queries: list[str]
    models: list[str]
    claim_customer_ids: list[int]


# The mix: how often each action is picked, per role. Sales staff search, open devices and claim;
# managers also read the reports (which answer 403 to sales staff).
MIX = {
    "sales": {
        "search IMEI": 18,
        "search prefix": 8,
        "search customer": 8,
        "devices page": 4,
        "device page": 14,
        "claim": 6,
        "unclaim": 4,
        "customers page": 5,
        "customer search": 5,
        "customer page": 8,
    },
    "manager": {
        "search IMEI": 10,
        "search customer": 6,
        "device page": 10,
        "customers page": 4,
        "customer search": 4,
        "customer page": 8,
        "reports": 8,
        "reports period": 6,
        "orders": 4,
    },
}


# -- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    kind: str
    at: float  # seconds since the staff started
    ms: float
    error: str = ""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Figures:
    label: str
    count: int
    p50: float
    p95: float
    max: float
    errors: int

    @classmethod
    def of(cls, label: str, samples: list[Sample]) -> Figures:
        times = [sample.ms for sample in samples] or [0.0]
        errors = sum(1 for sample in samples if sample.error)
        return cls(label, len(samples), statistics.median(times), percentile(times, 0.95), max(times), errors)

    def line(self, target_ms: float | None = None) -> str:
        over = "  over target" if target_ms is not None and self.p95 > target_ms else ""
        return (
            f"{self.label:<22} {self.count:>6} {self.p50:>8.0f} {self.p95:>8.0f} {self.max:>8.0f}"
            f" {self.errors:>6}{over}"
        )


@dataclass
class LoadResult:
    samples: list[Sample]
    seconds: float
    sign_in: list[Sample] = field(default_factory=list)

    @property
    def errors(self) -> list[Sample]:
        return [sample for sample in [*self.sign_in, *self.samples] if sample.error]

    def overall(self, samples: list[Sample] | None = None, label: str = "all pages") -> Figures:
        return Figures.of(label, self.samples if samples is None else samples)

    def by_kind(self) -> list[Figures]:
        kinds: dict[str, list[Sample]] = {}
        for sample in self.samples:
            kinds.setdefault(sample.kind, []).append(sample)
        return [Figures.of(kind, found) for kind, found in sorted(kinds.items())]

    def met(self, target_ms: float) -> bool:
        return bool(self.samples) and not self.errors and self.overall().p95 <= target_ms

    def report(self, target_ms: float) -> list[str]:
        header = f"{'page kind':<22} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}"
        lines = [header, *(figures.line(target_ms) for figures in self.by_kind())]
        lines.append(self.overall().line(target_ms))
        if self.sign_in:
            lines.append(f"(not in the figures) {Figures.of('sign-in', self.sign_in).line()}")
        rate = len(self.samples) / self.seconds if self.seconds else 0.0
        lines.append(f"{len(self.samples):,} requests in {self.seconds:.0f} s = {rate:.1f} requests/s")
        for sample in self.errors[:10]:
            lines.append(f"error: {sample.kind} at {sample.at:.1f} s: {sample.error}")
        if len(self.errors) > 10:
            lines.append(f"... and {len(self.errors) - 10} more errors")
        return lines


@dataclass(frozen=True)
class ClaimFigures:
    """The one-device claims (the claim form posted) that staff sent while a batch ran: what a
    salesperson notices when a colleague's batch is being recorded."""

    figures: Figures

    @classmethod
    def during(cls, samples: list[Sample], batch_running: Callable[[float], bool]) -> ClaimFigures:
        claims = [s for s in samples if s.kind == "claim" and batch_running(s.at)]
        return cls(Figures.of("claims during batch", claims))

    def met(self, target_ms: float, max_ms: float) -> bool:
        figures = self.figures
        return figures.count > 0 and not figures.errors and figures.p95 <= target_ms and figures.max <= max_ms

    def line(self, target_ms: float, max_ms: float) -> str:
        figures = self.figures
        if not figures.count:
            return "one-device claims while a batch ran: none was sent (nothing measured)"
        return (
            f"one-device claims while a batch ran: {figures.count}, p50 {figures.p50:.0f} ms, "
            f"p95 {figures.p95:.0f} ms, max {figures.max:.0f} ms, {figures.errors} errors "
            f"(target p95 <= {target_ms:.0f} ms, max <= {max_ms:.0f} ms)"
        )


# -- one member of staff ---------------------------------------------------------------------------


class Budget:
    """The run's bound in requests, shared by every member of staff."""

    def __init__(self, requests_left: int, deadline: float):
        self.left, self.deadline, self.lock = requests_left, deadline, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0 or time.monotonic() >= self.deadline:
                return False
            self.left -= 1
            return True


class StaffMember:
    """One person at the portal: a session of their own, the mix of their role, their own claims (a
    device they claimed is the one they may later unclaim)."""

    def __init__(
        self,
        staff: Staff,
        base_url: str,
        catalogue: Catalogue,
        rng: random.Random,
        mix: dict[str, dict[str, int]] = MIX,
    ):
        self.staff, self.base_url, self.catalogue, self.rng = staff, base_url, catalogue, rng
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "zt-portal-load/1"
        self.claimed: list[int] = []
        self.samples: list[Sample] = []
        self.started = 0.0
        self.signed_in = Sample("sign-in", 0.0, 0.0, "not signed in yet")
        kinds = mix[staff.role]
        self.kinds, self.weights = list(kinds), list(kinds.values())

    # requests, timed
    def _request(
        self, kind: str, method: str, path: str, *, expect: re.Pattern | None = None, **kwargs
    ) -> str | None:
        began = time.monotonic()
        error, text = "", None
        try:
            response = self.session.request(
                method, self.base_url + path, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
            )
            text = response.text
            if response.status_code != 200:
                error = f"HTTP {response.status_code} from {method} {path}"
            elif expect is not None and not expect.search(text):
                error = f"{method} {path} answered 200 without {expect.pattern!r}"
        except requests.RequestException as exc:
            error = f"{method} {path}: {type(exc).__name__}: {exc}"
        ms = (time.monotonic() - began) * 1000
        self.samples.append(Sample(kind, began - self.started, ms, error))
        return None if error else text

    def sign_in(self) -> None:
        began = time.monotonic()
        error = ""
        try:
            page = self.session.get(f"{self.base_url}/accounts/login/", timeout=120)
            token = CSRF_INPUT.search(page.text)
            answer = self.session.post(
                f"{self.base_url}/accounts/login/",
                data={
                    "username": self.staff.username,
                    "password": self.staff.password,
                    "csrfmiddlewaretoken": token.group(1) if token else "",
                },
                headers={"Referer": f"{self.base_url}/accounts/login/"},
                timeout=120,
                allow_redirects=False,
            )
            if answer.status_code != 302:
                error = f"sign-in of {self.staff.username} answered {answer.status_code}"
        except requests.RequestException as exc:
            error = f"sign-in of {self.staff.username}: {type(exc).__name__}: {exc}"
        self.signed_in = Sample("sign-in", 0.0, (time.monotonic() - began) * 1000, error)

    def run(self, budget: Budget, think: tuple[float, float], started: float) -> None:
        self.started = started
        time.sleep(self.rng.uniform(0, think[1]))  # staff do not all click at the same instant
        while budget.take():
            kind = self.rng.choices(self.kinds, self.weights)[0]
            getattr(self, "do_" + kind.replace(" ", "_").lower())()
            pause = self.rng.uniform(*think)
            if time.monotonic() + pause >= budget.deadline:
                break
            time.sleep(pause)
        self.session.close()

    # the actions of the mix
    def do_search_imei(self) -> None:
        imei = self.rng.choice(self.catalogue.imeis)
        self._request("search IMEI", "GET", "/devices/", params={"q": imei}, headers=HTMX_RESULTS)

    def do_search_prefix(self) -> None:
        prefix = self.rng.choice(self.catalogue.imeis)[: self.rng.choice((6, 8, 10))]
        self._request("search prefix", "GET", "/devices/", params={"q": prefix}, headers=HTMX_RESULTS)

    def do_search_customer(self) -> None:
        query = {"customer": self.rng.choice(self.catalogue.customer_ids)}
        if self.rng.random() < 0.5:
            query["model"] = self.rng.choice(self.catalogue.models)
        self._request("search customer", "GET", "/devices/", params=query, headers=HTMX_RESULTS)

    def do_devices_page(self) -> None:
        self._request("devices page", "GET", "/devices/")

    def do_device_page(self) -> None:
        device_id = self.rng.choice(self.catalogue.device_ids)
        self._request("device page", "GET", f"/devices/{device_id}/")

    def do_claim(self) -> None:
        """The claim page, then the form posted as htmx posts it: a new device for a customer the API
        knows (an IMEI of a TAC no cached device has, so it cannot be another customer's)."""
        page = self._request("claim form", "GET", "/devices/claim/")
        token = CSRF_INPUT.search(page or "")
        if token is None:
            return
        body = "87" + "".join(self.rng.choices("0123456789", k=12))
        form = {
            "device_type": "android",
            "imei": body + str(luhn_check_digit(body)),
            "customer": self.rng.choice(self.catalogue.claim_customer_ids),
            "order_number": f"LOAD-{self.rng.randrange(10**6):06d}",
        }
        headers = {
            "HX-Request": "true",
            "HX-Target": "claim-form",
            "X-CSRFToken": token.group(1),
            "Origin": self.base_url,
        }
        answer = self._request("claim", "POST", "/devices/claim/", data=form, headers=headers, expect=CLAIMED)
        if answer and (claimed := CLAIMED.search(answer)):
            self.claimed.append(int(claimed.group(1)))

    def do_unclaim(self) -> None:
        """The unclaim confirmation (a fragment of the device page), then its form posted: one of the
        devices this person claimed. Nobody else's claims are touched."""
        if not self.claimed:
            self.do_device_page()
            return
        device_id = self.claimed.pop(0)
        fragment = {"HX-Request": "true", "HX-Target": "claim"}
        confirm = self._request("unclaim form", "GET", f"/devices/{device_id}/unclaim/", headers=fragment)
        token = CSRF_INPUT.search(confirm or "")
        if token is None:
            return
        headers = {**fragment, "X-CSRFToken": token.group(1), "Origin": self.base_url}
        self._request(
            "unclaim", "POST", f"/devices/{device_id}/unclaim/", data={}, headers=headers, expect=UNCLAIMED
        )

    def do_customers_page(self) -> None:
        self._request("customers page", "GET", "/customers/")

    def do_customer_search(self) -> None:
        query = self.rng.choice(self.catalogue.customer_queries)
        self._request("customer search", "GET", "/customers/", params={"q": query}, headers=HTMX_RESULTS)

    def do_customer_page(self) -> None:
        customer_id = self.rng.choice(self.catalogue.customer_ids)
        self._request("customer page", "GET", f"/customers/{customer_id}/")

    def do_reports(self) -> None:
        self._request("reports", "GET", "/reports/")

    def do_reports_period(self) -> None:
        preset = self.rng.choice(("last_7_days", "last_30_days", "this_quarter", "last_12_months"))
        self._request(
            "reports period", "GET", "/reports/", params={"preset": preset}, headers={"HX-Request": "true"}
        )

    def do_orders(self) -> None:
        prefix = f"LOAD-{self.rng.randrange(100):02d}"
        self._request("orders", "GET", "/orders/", params={"q": prefix}, headers=HTMX_RESULTS)


def run_load(
    base_url: str,
    staff: list[Staff],
    catalogue: Catalogue,
    *,
    duration: float,
    max_requests: int,
    think: tuple[float, float] = (1.0, 5.0),
    seed: int = 0,
    on_start: Callable[[], None] | None = None,
    mix: dict[str, dict[str, int]] = MIX,
) -> LoadResult:
    """Sign every member of staff in (not timed with the pages), call ``on_start``, then let them work
    for ``duration`` seconds or ``max_requests`` requests in all, whichever ends first."""
    base_url = local_target(base_url)
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"The duration must be between 0 and {MAX_DURATION} seconds.")
    if not 0 < len(staff) <= MAX_STAFF:
        raise ValueError(f"Between 1 and {MAX_STAFF} staff.")
    if max_requests < 1 or not 0 <= think[0] <= think[1]:
        raise ValueError("At least one request, and a think time range from low to high.")
    rng = random.Random(seed)
    members = [StaffMember(person, base_url, catalogue, random.Random(rng.random()), mix) for person in staff]
    _in_threads([m.sign_in for m in members])
    working = [m for m in members if not m.signed_in.error]
    if on_start is not None:
        on_start()
    started = time.monotonic()
    budget = Budget(max_requests, started + duration)
    _in_threads([(lambda m=m: m.run(budget, think, started)) for m in working])
    seconds = min(time.monotonic(), budget.deadline) - started
    samples = sorted((s for m in members for s in m.samples), key=lambda s: s.at)
    return LoadResult(samples=samples, seconds=seconds, sign_in=[m.signed_in for m in members])


def _in_threads(works: list[Callable[[], object]]) -> None:
    """Run every work in a thread of its own, and wait for them all."""
    threads = [threading.Thread(target=work, daemon=True) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- the production shape around the load ----------------------------------------------------------

LOAD_PREFIX = "load-"  # the staff this command creates: load-sales-01, load-manager-01...
EMULATOR_DEVICE_IDS = 100_000_000_000  # the emulator numbers new devices from here; the cache from 10,000,001


@dataclass
class Processes:
    """The processes this command starts, with their logs, stopped in reverse order."""

    scratch: Path
    started: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.scratch / f"{name}.log").open("w") as log:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.started.append((name, process))
        return process

    def stop(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def tail(self, name: str, characters: int = 3000) -> str:
        path = self.scratch / f"{name}.log"
        return path.read_text(errors="replace")[-characters:] if path.exists() else ""


def make_staff(*, sales: int, managers: int) -> list[Staff]:
    """Sales staff and managers in the bench database (made once, a new password each run). One
    password hash for all: the default hasher's cost is paid by the server at sign-in, not 50 times here."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from core.roles import Role, ensure_role_groups

    ensure_role_groups()
    password = secrets.token_urlsafe(16)
    hashed = make_password(password)
    groups = {
        "sales": Group.objects.get(name=Role.SALES.value),
        "manager": Group.objects.get(name=Role.MANAGERS.value),
    }
    staff = []
    for role, count in (("sales", sales), ("manager", managers)):
        for number in range(1, count + 1):
            username = f"{LOAD_PREFIX}{role}-{number:02d}"
            user, _ = get_user_model().objects.get_or_create(username=username)
            user.password, user.is_active = hashed, True
            user.save(update_fields=["password", "is_active"])
            user.groups.set([groups[role]])
            staff.append(Staff(username, password, role))
    return staff


def make_catalogue(rng: random.Random, *, claim_customer_ids: list[int], size: int = 2000) -> Catalogue:
    """Devices and customers picked at random from the cache ``zt_bench cache`` built."""
    from customers.models import Customer
    from devices.models import Device

    cached = Device.objects.filter(device_id__lt=EMULATOR_DEVICE_IDS)
    first = cached.order_by("device_id").values_list("device_id", flat=True).first()
    last = cached.order_by("-device_id").values_list("device_id", flat=True).first()
    wanted = [rng.randrange(first, last + 1) for _ in range(size)]
    rows = list(cached.filter(device_id__in=wanted).values_list("device_id", "imei", "model"))
    names = list(Customer.objects.order_by("company_id").values_list("company_id", "name"))
    return Catalogue(
        device_ids=[device_id for device_id, _, _ in rows],
        imeis=[imei for _, imei, _ in rows if imei],
        customer_ids=[company_id for company_id, _ in names],
        customer_queries=[
            name[: rng.choice((3, 5, 8, 12))] for _, name in rng.sample(names, min(200, len(names)))
        ],
        models=sorted({model for _, _, model in rows if model}),
        claim_customer_ids=claim_customer_ids,
    )


def _batch_job(rng: random.Random, *, customer, devices: int):
    """A checked (not yet sent) claim of ``devices`` new devices for ``customer``, as an upload makes it."""
    from batches.drafts import job_from_input

    lines = ["imei,ordernumber"]
    for number in range(devices):
        body = "86" + "".join(rng.choices("0123456789", k=12))
        lines.append(f"{body}{luhn_check_digit(body)},LOAD-BATCH-{number:05d}")
    return job_from_input(
        action="claim",
        mode="file",
        customer=customer,
        actor=None,
        upload=io.BytesIO("\n".join(lines).encode()),
        upload_name="load.csv",
    )


def _cpu_seconds(pid: int) -> float:
    """CPU seconds a process used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += _tree(int(child))
    except OSError:
        pass
    return found


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (every process, other people's included)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _database_pids(name: str) -> list[int]:
    """The PostgreSQL server processes serving database ``name`` on this machine (their process
    titles read "postgres: [cluster:] user database host(port) state")."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
            except OSError:
                continue
            if title[:1] == [b"postgres:"] and name.encode() in title[1:4]:
                found.append(int(entry.name))
    return found


LOCK_WAITS = """
SELECT w.application_name, w.query, l.locktype, l.relation::regclass::text, l.mode,
       b.application_name, b.state, b.query
FROM pg_stat_activity AS w
JOIN pg_locks AS l ON l.pid = w.pid AND NOT l.granted
LEFT JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid) ON true
LEFT JOIN pg_stat_activity AS b ON b.pid = blocker.pid
WHERE w.datname = current_database() AND w.pid <> pg_backend_pid()
"""
_STATEMENT = re.compile(r'^\s*(\w+)\b.*?"(\w+)"', re.DOTALL)


def statement_of(query: str) -> str:
    """A statement as a person reads it in a list of lock waits: its verb and first table."""
    found = _STATEMENT.match(query or "")
    return f"{found.group(1).upper()} {found.group(2)}" if found else (query or "").strip()[:40]


@dataclass(frozen=True)
class LockWait:
    at: float  # seconds since the sampling started
    waiter: str  # the application name of the process waiting: zt-load-web, zt-load-worker...
    statement: str
    lock: str  # the lock waited for: its type, mode and table
    blocker: str  # who holds it, and what it runs (or ran last, when idle in its transaction)


class LockWatch:
    """Which lock each database connection waits for, sampled every ``interval`` seconds from
    ``pg_locks`` and ``pg_stat_activity`` (PostgreSQL only), and who holds it: the evidence of what a
    slow claim waits for. The processes name themselves (``application_name``) through their
    DATABASE_URL."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.waits: list[LockWait] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _sample(self) -> None:
        from django.db import connection

        try:
            with connection.cursor() as cursor:
                while not self.stopped.wait(self.interval):
                    at = time.monotonic() - self.started
                    cursor.execute(LOCK_WAITS)
                    self.waits += [self._wait(at, *row) for row in cursor.fetchall()]
        finally:
            connection.close()

    @staticmethod
    def _wait(at, waiter, query, locktype, relation, mode, blocker, state, held_query) -> LockWait:
        held = statement_of(held_query)
        holder = f"{blocker or '?'} " + (
            f"idle in transaction after {held}" if state == "idle in transaction" else held
        )
        lock = f"{locktype} {mode}" + (f" on {relation}" if relation else "")
        return LockWait(at, waiter or "?", statement_of(query), lock, holder)

    def lines(
        self, *, when: Callable[[float], bool] | None = None, waiter: str = "zt-load-web", top: int = 6
    ) -> list[str]:
        """The waits of ``waiter``'s connections (at the moments ``when`` accepts), most often seen first."""
        waits = [w for w in self.waits if w.waiter == waiter and (when is None or when(w.at))]
        span = "while a batch ran" if when is not None else "during the run"
        if not waits:
            return [f"lock waits of {waiter} {span} (sampled every {self.interval * 1000:.0f} ms): none seen"]
        kinds: dict[tuple[str, str, str], int] = {}
        for wait in waits:
            key = (wait.statement, wait.lock, wait.blocker)
            kinds[key] = kinds.get(key, 0) + 1
        lines = [
            f"lock waits of {waiter} {span} (sampled every {self.interval * 1000:.0f} ms): "
            f"{len(waits)} samples, about {len(waits) * self.interval:.1f} s of waiting"
        ]
        for (statement, lock, blocker), seen in sorted(kinds.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"  {seen:>4} x {statement} waits for {lock}, held by {blocker}")
        return lines


class CpuWatch:
    """Where the machine's CPU went during the run, by process group, to say where the time goes.

    A thread reads the groups' processes every second, so a process that ends during the run (a
    database connection closed, a pool process replaced) still counts up to its last reading."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]):
        self.groups = groups
        self.before: dict[int, float] = {}
        self.latest: dict[str, dict[int, float]] = {name: {} for name in groups}
        self.machine = self.wall = 0.0
        self.stopped = threading.Event()

    def _read(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                used = _cpu_seconds(pid)
                if used:
                    self.latest[name][pid] = used

    def start(self) -> None:
        self.machine, self.wall = _machine_busy_seconds(), time.monotonic()
        self.before = {pid: _cpu_seconds(pid) for pids in self.groups.values() for pid in pids()}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.stopped.wait(1.0):
            self._read()

    def usage(self) -> CpuUsage:
        """Stop sampling and say what each group used since ``start``."""
        self.stopped.set()
        self._read()
        used = {
            name: sum(value - self.before.get(pid, 0.0) for pid, value in latest.items())
            for name, latest in self.latest.items()
        }
        return CpuUsage(time.monotonic() - self.wall, _machine_busy_seconds() - self.machine, used)

    def lines(self) -> list[str]:
        usage = self.usage()
        parts = ", ".join(f"{name} {value:.1f} s" for name, value in usage.groups.items())
        return [
            f"CPU over the {usage.seconds:.0f} s run: {usage.machine:.0f} s busy of {usage.capacity:.0f} s "
            f"({usage.cores} cores): {parts}; everything else on the machine {usage.others:.1f} s"
        ]


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds each process group used over ``seconds`` of wall time, and the whole machine's."""

    seconds: float
    machine: float  # CPU seconds the machine was busy, every process included
    groups: dict[str, float]
    cores: int = os.cpu_count() or 1

    @property
    def capacity(self) -> float:
        return self.seconds * self.cores

    @property
    def others(self) -> float:
        """What the rest of the machine used (other people's work included)."""
        return max(self.machine - sum(self.groups.values()), 0.0)


def server_times(access_log: Path) -> list[str]:
    """gunicorn's own time per request (from the request read to the answer sent: no wait for a free
    worker), so the gap to what staff saw is the queue in front of the web workers."""
    kinds: dict[str, list[float]] = {}
    for line in access_log.read_text(errors="replace").splitlines():
        try:
            method, path, _status, micros = line.split()
        except ValueError:
            continue
        if path.startswith(("/accounts/", "/healthz", "/static/")):
            continue
        if method == "POST":
            kind = "claim/unclaim POST"
        elif path.startswith("/reports/"):
            kind = "reports"
        else:
            kind = "other pages"
        kinds.setdefault(kind, []).append(int(micros) / 1000)
        kinds.setdefault("all", []).append(int(micros) / 1000)
    return [
        f"server time (gunicorn) {kind:<20} {len(times):>6} p50 {statistics.median(times):6.0f} ms"
        f"  p95 {percentile(times, 0.95):6.0f} ms  max {max(times):6.0f} ms"
        for kind, times in sorted(kinds.items())
    ]


def bench_load(
    out,
    *,
    sales: int,
    managers: int,
    duration: float,
    max_requests: int,
    think: tuple[float, float],
    batch_devices: int,
    target_ms: float,
    host: str,
    web_workers: int,
    seed: int,
    claim_max_ms: float = 1000.0,
    keep_batching: bool = False,
) -> bool:
    """The whole run: processes up, staff signed in, the batch sent, the load, figures, processes down.
    Returns whether the targets were met."""
    import logging

    from celery import current_app as app  # the project's (portal.celery)
    from django.conf import settings
    from django.db import connection
    from django.test.utils import override_settings

    from core.api import reset_zerotouch_client, zerotouch_client
    from customers.models import Customer
    from customers.services import customers_sync
    from devices.models import Device
    from emulator.testing import EmulatorProcess
    from reports.services import fleet_counts_take

    base_url = local_target(f"http://{host}")  # refused before anything starts
    if Device.objects.filter(device_id__lt=EMULATOR_DEVICE_IDS).count() < 100_000:
        raise SystemExit("Run `zt_bench cache` on this database first: the load runs on its devices.")
    for name in ("zerotouch", "zerotouch.client"):  # one line per API call would bury the figures
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = settings.CELERY_BROKER_URL
    out.write(
        f"shape: gunicorn ({web_workers} sync workers) + {connection.vendor} + broker "
        f"{broker.split('://')[0]} + a Celery worker (prefork, 2) and beat + the emulator; "
        f"{Device.objects.count():,} devices cached; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )
    rng = random.Random(seed)
    cleanup()
    with (
        tempfile.TemporaryDirectory(prefix="zt-load-") as scratch_dir,
        EmulatorProcess(partner_id=1000001) as emulator,
    ):
        scratch = Path(scratch_dir)
        processes = Processes(scratch)
        emulator.seed(customers=20, vendors=0, devices=0, random_seed=seed)
        with override_settings(ZT_API_URL=emulator.url, ZT_PARTNER_ID=str(emulator.partner_id)):
            reset_zerotouch_client()
            customers_sync(client=zerotouch_client())
        reset_zerotouch_client()
        api_customers = [int(c) for c in emulator.summary()["customerIds"]]
        # The devices-per-customer snapshot beat takes every few minutes in a running deployment
        # (without one, every reports page counts the whole cache itself, as on a new install).
        fleet_counts_take()
        staff = make_staff(sales=sales, managers=managers)
        catalogue = make_catalogue(rng, claim_customer_ids=api_customers)
        queue = f"load-{os.getpid()}"
        port = free_port(host)
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)},
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "ZT_API_URL": emulator.url,
            "ZT_PARTNER_ID": str(emulator.partner_id),
            "ZT_SYNC_ON_WORKER_START": "0",
            "ZT_SYNC_INTERVAL_SECONDS": "86400",
            "STATIC_ROOT": str(scratch / "static"),
            "VAR_DIR": str(scratch / "var"),
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run(  # production serves collected, hashed static files
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
        )
        celery = [sys.executable, "-m", "celery", "-A", "portal"]
        previous_queue = app.conf.task_default_queue
        try:
            web = processes.start(
                "gunicorn",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "portal.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(web_workers),
                    "--timeout",
                    "60",
                    "--access-logfile",
                    str(scratch / "access.log"),
                    "--access-logformat",
                    "%(m)s %(U)s %(s)s %(D)s",
                ],
                _named(env, "zt-load-web"),
            )
            worker = processes.start(
                "worker",
                [
                    *celery,
                    "worker",
                    "--concurrency=2",
                    "-Q",
                    queue,
                    "-n",
                    f"{queue}@%h",
                    "--loglevel=WARNING",
                    "--without-mingle",
                    "--without-gossip",
                ],
                _named(env, "zt-load-worker"),
            )
            processes.start(
                "beat",
                [*celery, "beat", "--loglevel=WARNING", "--schedule", str(scratch / "beat")],
                _named(env, "zt-load-beat"),
            )
            _wait_for(f"{base_url}:{port}/healthz", web, processes)
            customer = Customer.objects.get(pk=api_customers[0])
            started_at = time.perf_counter()
            batches = Batches(
                lambda: _batch_job(rng, customer=customer, devices=batch_devices), keep=keep_batching
            )
            checked = time.perf_counter() - started_at
            out.write(
                f"batch of {batches.next_job.ready:,} devices checked in {checked:.1f} s"
                + ("; another is sent each time one ends, until the load ends" if keep_batching else "")
            )
            app.conf.task_default_queue = queue
            watch = CpuWatch(
                {
                    "web (gunicorn)": lambda: _tree(web.pid),
                    "Celery worker": lambda: _tree(worker.pid),
                    "PostgreSQL (this database)": lambda: _database_pids(connection.settings_dict["NAME"]),
                    "emulator": lambda: (
                        _tree(emulator.process.pid) if getattr(emulator, "process", None) else []
                    ),
                    "load client (this process)": lambda: [os.getpid()],
                }
            )

            locks = LockWatch() if connection.vendor == "postgresql" else None

            def send_batch() -> None:
                watch.start()
                if locks is not None:
                    locks.start()
                batches.start()

            out.write(f"{len(staff)} staff signing in ({sales} sales, {managers} managers)...")
            result = run_load(
                f"{base_url}:{port}",
                staff,
                catalogue,
                duration=duration,
                max_requests=max_requests,
                think=think,
                seed=seed,
                on_start=send_batch,
            )
            batches.stop()
            cpu_lines = watch.lines()
            if locks is not None:
                locks.stop()
        finally:
            app.conf.task_default_queue = previous_queue
            processes.stop()
            cleanup()
        server_lines = server_times(scratch / "access.log")
        for name in ("gunicorn", "worker"):
            if "Traceback" in processes.tail(name, 10**6):
                out.write(f"--- {name} log (it holds a traceback):\n{processes.tail(name)}")
    out.write(
        f"{len(staff)} staff for {result.seconds:.0f} s (think time {think[0]:g}-{think[1]:g} s), "
        f"{len(catalogue.device_ids):,} cached devices and {len(catalogue.customer_ids)} "
        f"customers to pick from; load average now {os.getloadavg()[0]:.2f}"
    )
    for line in result.report(target_ms):
        out.write(line)
    during = [s for s in result.samples if batches.running(s.at)]
    after = [s for s in result.samples if not batches.running(s.at)]
    if after:
        for label, phase in (("while a batch ran", during), ("with no batch", after)):
            if phase:
                out.write(result.overall(phase, label).line(target_ms))
                kinds = LoadResult(phase, seconds=0).by_kind()
                out.write("  p95 by kind: " + ", ".join(f"{f.label} {f.p95:.0f}" for f in kinds))
    for line in batches.lines(result.seconds):
        out.write(line)
    claims = ClaimFigures.during(result.samples, batches.running)
    out.write(claims.line(target_ms, claim_max_ms))
    if locks is not None:
        for line in locks.lines(when=batches.running):
            out.write(line)
    for line in [*server_lines, *cpu_lines]:
        out.write(line)
    met = result.met(target_ms)
    out.write(
        f"target: p95 <= {target_ms:.0f} ms and 0 errors: overall p95 {result.overall().p95:.0f} ms, "
        f"{len(result.errors)} errors: {'MET' if met else 'MISSED'}"
    )
    claims_met = claims.met(target_ms, claim_max_ms)
    out.write(
        f"target: one-device claims while a batch ran p95 <= {target_ms:.0f} ms and max <= "
        f"{claim_max_ms:.0f} ms: {'MET' if claims_met else 'MISSED'}"
    )
    return met and claims_met


@dataclass
class BatchRun:
    job: Any
    start: float  # seconds since the first batch was confirmed
    end: float | None = None  # when it finished; None: still running when the load ended


class Batches:
    """The batch claims sent during the load: one confirmed as the staff start and, with ``keep``,
    the next as soon as one has finished, until the load ends, so that every request of the run
    meets a batch being recorded (each checked beforehand, as a person checks an upload before
    confirming it). Times are seconds since the first confirmation, which is when the staff start."""

    def __init__(self, make_job: Callable[[], Any], *, keep: bool, poll: float = 0.2):
        self.make_job, self.keep, self.poll = make_job, keep, poll
        self.runs: list[BatchRun] = []
        self.next_job = make_job()
        self.began = 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._keep_going, daemon=True)

    def start(self) -> None:
        self.began = time.monotonic()
        self._confirm()
        if self.keep:
            self.thread.start()

    def _confirm(self) -> None:
        from batches.jobs import job_confirm

        job, self.next_job = self.next_job, None
        self.runs.append(BatchRun(job, time.monotonic() - self.began))
        job_confirm(job=job, actor=None)

    def _keep_going(self) -> None:
        from django.db import connection

        try:
            self.next_job = self.make_job()
            while not self.stopped.wait(self.poll):
                if self._ended(self.runs[-1]):
                    self._confirm()
                    self.next_job = self.make_job()
        finally:
            connection.close()

    def _ended(self, run: BatchRun) -> bool:
        run.job.refresh_from_db()
        if run.job.finished and run.job.finished_at and run.job.submitted_at:
            # the job's own clock: from its confirmation (submitted_at) to its end
            run.end = run.start + (run.job.finished_at - run.job.submitted_at).total_seconds()
        return run.end is not None

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=60)
        if self.runs and self.runs[-1].end is None:
            self._ended(self.runs[-1])

    def running(self, at: float) -> bool:
        """Whether a batch was running ``at`` seconds into the load."""
        return any(run.start <= at and (run.end is None or at <= run.end) for run in self.runs)

    def lines(self, seconds: float) -> list[str]:
        jobs = [run.job for run in self.runs]
        counts = (
            f"{sum(j.succeeded for j in jobs):,} succeeded, {sum(j.failed for j in jobs):,} failed "
            f"of {sum(j.ready for j in jobs):,}"
        )
        took = [run.end - run.start for run in self.runs if run.end is not None]
        covered = sum(
            max(0.0, min(run.end if run.end is not None else seconds, seconds) - run.start)
            for run in self.runs
        )
        lines = []
        if len(self.runs) == 1:
            run = self.runs[0]
            state = run.job.get_state_display().lower()
            lines.append(
                f"batch: {state} in {took[0]:.0f} s ({counts})"
                if took
                else f"batch: still {state} when the load ended ({counts})"
            )
        else:
            spread = f"{min(took):.1f}-{max(took):.1f} s" if took else "none finished"
            lines.append(
                f"batches: {len(self.runs)} of {self.runs[0].job.ready:,} devices one after another "
                f"({counts}); each from confirmation to its end in p50 "
                f"{statistics.median(took) if took else 0:.1f} s ({spread})"
            )
        ran = "the whole load" if covered >= seconds - 0.5 else f"{covered:.1f} s of the {seconds:.0f} s load"
        lines.append(
            f"a batch was running for {ran}"
            + ("" if len(self.runs) > 1 or not took else f" (its first {took[0]:.1f} s)")
        )
        return lines


def _named(env: dict[str, str], name: str) -> dict[str, str]:
    """``env`` with the process's database connections named ``name`` (PostgreSQL's
    ``application_name``), so that the lock waits say who waits for whom."""
    url = env["DATABASE_URL"]
    if not url.startswith("postgres"):
        return env
    return {**env, "DATABASE_URL": f"{url}{'&' if '?' in url else '?'}application_name={name}"}


def _wait_for(url: str, web: subprocess.Popen, processes: Processes) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise SystemExit(f"gunicorn stopped:\n{processes.tail('gunicorn')}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer within 90 s:\n{processes.tail('gunicorn')}")


def cleanup() -> None:
    """Leave the database as ``zt_bench cache`` built it (plus the load's users and the emulator's
    customers, which the API never deletes): no jobs, none of the devices the claims and the batch
    registered (the emulator's ids), so ``zt_bench cache`` and the other benchmarks still accept it."""
    from django.db import transaction

    from batches.models import BatchChunk, BatchItem, BatchJob
    from devices.models import Device, DeviceEvent, SearchKey

    added = Device.objects.filter(device_id__gte=EMULATOR_DEVICE_IDS)
    with transaction.atomic():
        DeviceEvent.objects.filter(device__in=added).delete()
        SearchKey.objects.filter(device_id__gte=EMULATOR_DEVICE_IDS).delete()
        added.delete()
        BatchItem.objects.all().delete()
        BatchChunk.objects.all().delete()
        BatchJob.objects.all().delete()


# -- the command line (``zt_bench load``) -----------------------------------------------------------


def add_load_arguments(parser) -> None:
    group = parser.add_argument_group("load")
    group.add_argument("--users", type=int, default=50, help="load: staff at work at once")
    group.add_argument("--managers", type=int, default=10, help="load: how many of them are managers")
    group.add_argument(
        "--duration", type=float, default=None, help="load: seconds of load (120); throughput: measured (20)"
    )
    group.add_argument("--max-requests", type=int, default=100_000, help="load: requests in all, at most")
    group.add_argument("--think-min", type=float, default=1.0, help="load: shortest pause between pages")
    group.add_argument("--think-max", type=float, default=5.0, help="load: longest pause between pages")
    group.add_argument("--batch-devices", type=int, default=10_000, help="load: devices of the batch claim")
    group.add_argument(
        "--keep-batching",
        action="store_true",
        help="load: confirm another batch claim each time one ends, until the load ends",
    )
    group.add_argument("--target-ms", type=float, default=300.0, help="load: the p95 target")
    group.add_argument(
        "--claim-max-ms",
        type=float,
        default=1000.0,
        help="load: the longest a one-device claim may take while the batch runs",
    )
    group.add_argument("--host", default="127.0.0.1", help="load: where gunicorn listens (local only)")
    group.add_argument(
        "--web-workers", type=int, default=3, help="load: gunicorn workers (the Dockerfile's 3)"
    )


def load_command(out, *, seed: int, **options) -> bool:
    from django.core.management.base import CommandError

    if options["managers"] > options["users"]:
        raise CommandError("--managers counts some of --users.")
    try:
        local_target(f"http://{options['host']}")
    except TargetRefused as exc:
        raise CommandError(str(exc)) from exc
    return bench_load(
        out,
        sales=options["users"] - options["managers"],
        managers=options["managers"],
        duration=options["duration"] or 120.0,
        max_requests=options["max_requests"],
        think=(options["think_min"], options["think_max"]),
        batch_devices=options["batch_devices"],
        target_ms=options["target_ms"],
        claim_max_ms=options["claim_max_ms"],
        keep_batching=options["keep_batching"],
        host=options["host"],
        web_workers=options["web_workers"],
        seed=seed,
    )
