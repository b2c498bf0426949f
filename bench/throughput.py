"""Search throughput (``python manage.py zt_bench throughput``, ``make bench-throughput``; issue 25):
how many device-search pages a second the production web process serves, what each costs in CPU,
and what the first request of a freshly started worker costs.

- the data: the devices already in the database (``zt_bench cache`` builds 1,000,000), or built here
  by the same builder when the database has none (``--devices 10000000`` for ten million);
- the server: gunicorn exactly as the Dockerfile's CMD starts it (``portal.wsgi``, 3 sync workers,
  60 s timeout), production settings (``DEBUG=0``, a secret key, collected static files, no
  development tools), over plain HTTP on this machine;
- the load (:func:`drive`): N clients, each a thread with one keep-alive connection (``http.client``:
  the leanest client the standard library has, so the load steals little of the server's CPU), sign
  in through the sign-in form, then loop with no think time over 16 cases of device search, whole
  pages and the HTMX results fragment, for a warm-up and then a measured window. Every answer is
  checked: 200, the device picked beforehand for its query shown, and a whole page or a fragment as
  asked; anything else is an error, printed (the cases, the check and the client: bench.search_cases);
- the CPU each process group used in the measured window (gunicorn, PostgreSQL's backends of the web
  process, PostgreSQL's shared processes, the load generator itself) from /proc, per page;
- cold starts (bench.cold_starts): gunicorn started afresh several times; the time from its start to
  its first answer, and each worker's first request (a search page, signed in already), from
  gunicorn's own access log.
"""

from __future__ import annotations

import http.client
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.cold_starts import ColdStart, cold_lines, cold_start
from bench.load import (
    ROOT,
    CpuUsage,
    CpuWatch,
    Figures,
    Processes,
    Sample,
    _database_pids,
    _in_threads,
    _named,
    _tree,
    _wait_for,
    local_target,
    make_staff,
    percentile,
)
from bench.search_cases import CASES, REQUEST_TIMEOUT, Browser, Query, answer_problem, pick_queries
from bench.subprocesses import database_url, free_port
from devices.models import Device

WEB_NAME = "zt-throughput-web"  # the web process's database connections (PostgreSQL's application_name)
POSTGRES_WEB = "PostgreSQL (web's backends)"
POSTGRES_SHARED = "PostgreSQL (shared processes)"

# The targets.
TARGET_PAGES_PER_SECOND = 300
TARGET_SERVER_CPU_MS = 5.0  # server CPU (gunicorn and PostgreSQL) per page
TARGET_P95_MS = 50.0  # under load
TARGET_COLD_P95_MS = 50.0  # a worker's first request
TARGET_BOOT_S = 3.0  # gunicorn started to its first answer


# -- the load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer(Sample):
    """One timed request (``kind`` is its case): whether it asked for the fragment, and its address."""

    fragment: bool = False
    target: str = ""


@dataclass
class Run:
    answers: list[Answer]  # the answers within the measured window
    seconds: float
    cpu: CpuUsage | None = None
    errors: list[Answer] = field(default_factory=list)  # every wrong answer, warm-up included

    @property
    def pages_per_second(self) -> float:
        return len(self.answers) / self.seconds if self.seconds else 0.0


def drive(
    browsers: list[Browser],
    queries: dict[str, list[Query]],
    *,
    warmup: float,
    duration: float,
    seed: int,
    watch: CpuWatch | None = None,
) -> Run:
    """Every browser loops over the cases (each picked as often as the others, a whole page or the
    fragment half the time each) with no pause, for ``warmup`` seconds and then ``duration``
    seconds, the measured window, over which ``watch`` reads the CPU. An answer counts when it was
    asked and answered within the window."""
    rng = random.Random(seed)
    started = time.monotonic()
    measured_from, stop_at = started + warmup, started + warmup + duration
    answers: list[list[Answer]] = [[] for _ in browsers]

    def work(browser: Browser, found: list[Answer], rng: random.Random) -> None:
        cases = list(queries)
        while (began := time.monotonic()) < stop_at:
            query = rng.choice(queries[rng.choice(cases)])
            fragment = query.has_fragment and rng.random() < 0.5
            try:
                status, body = browser.get(query, fragment=fragment)
                error = answer_problem(query, fragment=fragment, status=status, body=body)
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            ms = (time.monotonic() - began) * 1000
            found.append(Answer(query.case, began - started, ms, error, fragment, query.target()))
        browser.close()

    threads = [
        threading.Thread(target=work, args=(browser, found, random.Random(rng.random())), daemon=True)
        for browser, found in zip(browsers, answers, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measured_from - time.monotonic()))
    if watch is not None:
        watch.start()
    time.sleep(max(0.0, stop_at - time.monotonic()))
    cpu = watch.usage() if watch is not None else None
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
    everything = sorted((answer for found in answers for answer in found), key=lambda answer: answer.at)
    window = [a for a in everything if a.at >= warmup and a.at + a.ms / 1000 <= warmup + duration]
    return Run(window, duration, cpu, [answer for answer in everything if answer.error])


# -- figures --------------------------------------------------------------------------------------

HEADER = f"{'case':<24} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}"


def figures_line(label: str, answers: list[Answer]) -> str:
    figures = Figures.of(label, answers)
    return (
        f"{label:<24} {figures.count:>6} {figures.p50:>8.1f} {figures.p95:>8.1f} {figures.max:>8.1f}"
        f" {figures.errors:>6}"
    )


def run_lines(run: Run, cases: Iterable[str]) -> list[str]:
    by_case: dict[str, list[Answer]] = {}
    for answer in run.answers:
        by_case.setdefault(answer.kind, []).append(answer)
    lines = [HEADER, *(figures_line(case, by_case[case]) for case in cases if case in by_case)]
    lines.append(figures_line("whole pages", [a for a in run.answers if not a.fragment]))
    lines.append(figures_line("HTMX fragments", [a for a in run.answers if a.fragment]))
    lines.append(figures_line("all pages", run.answers))
    lines.append(f"{len(run.answers):,} pages in {run.seconds:g} s = {run.pages_per_second:.1f} pages/s")
    for answer in run.errors[:20]:
        lines.append(f"error: {answer.kind} at {answer.at:.1f} s: GET {answer.target}: {answer.error}")
    if len(run.errors) > 20:
        lines.append(f"... and {len(run.errors) - 20} more errors")
    return lines


def cpu_lines(cpu: CpuUsage, pages: int) -> list[str]:
    per_page = ", ".join(
        f"{name} {seconds * 1000 / max(pages, 1):.2f} ms ({seconds:.1f} s)"
        for name, seconds in cpu.groups.items()
    )
    return [
        f"CPU per page over the {cpu.seconds:.1f} s measured: {per_page}",
        f"the machine: {cpu.machine:.1f} s busy of {cpu.capacity:.1f} s ({cpu.cores} cores, "
        f"{100 * cpu.machine / cpu.capacity:.0f}% busy); everything else on it {cpu.others:.1f} s",
    ]


# -- which processes are whose --------------------------------------------------------------------

_SHARED_POSTGRES = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "archiver",
    "stats collector",
)


def _title(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return []


def _parent(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def postgres_shared_pids(backend: int) -> list[int]:
    """PostgreSQL's processes that serve every database (the postmaster, checkpointer, writers,
    autovacuum launcher), found as the parent and siblings of ``backend`` on this machine."""
    postmaster = _parent(backend)
    if postmaster is None:
        return []
    found = [postmaster]
    for pid in _tree(postmaster)[1:]:
        words = _title(pid)[1:]  # "postgres:" [cluster:] what it does
        if words and words[0].endswith(":"):
            words = words[1:]
        if any(" ".join(words).startswith(name) for name in _SHARED_POSTGRES):
            found.append(pid)
    return found


class WebBackends:
    """The PostgreSQL backends serving the web process's connections (they name themselves
    ``WEB_NAME``), read from ``pg_stat_activity`` over a connection of its own (the CPU watch
    asks from its thread)."""

    def __init__(self):
        from django.db import connection

        self.connection = connection.get_new_connection(connection.get_connection_params())
        self.connection.autocommit = True
        self.lock = threading.Lock()

    def __call__(self) -> list[int]:
        with self.lock, self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                [WEB_NAME],
            )
            return [pid for (pid,) in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


def cpu_groups(web: subprocess.Popen, backends: WebBackends | None) -> dict[str, Callable[[], list[int]]]:
    groups: dict[str, Callable[[], list[int]]] = {"gunicorn": lambda: _tree(web.pid)}
    if backends is not None:
        from django.db import connection

        name = connection.settings_dict["NAME"]

        def shared() -> list[int]:
            ours = backends()
            return postgres_shared_pids(ours[0]) if ours else []

        groups[POSTGRES_WEB] = backends
        groups[POSTGRES_SHARED] = shared
        # Whoever else works on this database meanwhile (this command's own two idle connections too).
        groups[f"PostgreSQL (other sessions on {name})"] = lambda: sorted(
            set(_database_pids(name)) - set(backends())
        )
    groups["load generator"] = lambda: [os.getpid()]
    return groups


# -- the whole run --------------------------------------------------------------------------------


def production_env(scratch: Path) -> dict[str, str]:
    """The web process's environment as production sets it (DEBUG off, a secret key, collected and
    hashed static files, no development tools), over plain HTTP on this machine, its database
    connections named ``WEB_NAME``."""
    dropped = ("DJANGO_ALLOW_ASYNC_UNSAFE", "PORTAL_DEV_TOOLS", "DJANGO_SETTINGS_MODULE")
    env = {
        **{name: value for name, value in os.environ.items() if name not in dropped},
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "DATABASE_URL": database_url(),
        "STATIC_ROOT": str(scratch / "static"),
        "VAR_DIR": str(scratch / "var"),
    }
    return _named(env, WEB_NAME)


def gunicorn_command(workers: int) -> list[str]:
    """The Dockerfile's CMD (``gunicorn portal.wsgi --bind 0.0.0.0:8000 --workers 3 --timeout 60``),
    bound to this machine's address instead ("{bind}" stands for it)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi",
        "--bind",
        "{bind}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
    ]


def ensure_devices(out, rng: random.Random, *, devices: int | None, customers: int) -> int:
    """The devices to search: those in the database, or ``devices`` (1,000,000 unless given) built by
    ``zt_bench cache``'s builder into an empty one. A database holding another number than an
    explicit ``devices`` is refused: point DATABASE_URL at another database to build that many."""
    from django.core.management.base import CommandError

    from bench.cache import build

    existing = Device.objects.count()
    if existing and devices not in (None, existing):
        raise CommandError(
            f"This database holds {existing:,} devices, not {devices:,}: point DATABASE_URL at an empty "
            "database to build them (it keeps the ones it has otherwise)."
        )
    if existing:
        out.write(f"data: reusing the {existing:,} devices in the database")
        return existing
    wanted = devices or 1_000_000
    started = time.perf_counter()
    build(out, rng, wanted, customers)
    out.write(f"data: built {wanted:,} devices in {time.perf_counter() - started:.0f} s")
    return wanted


def bench_throughput(
    out,
    *,
    devices: int | None,
    customers: int,
    clients: int,
    warmup: float,
    duration: float,
    restarts: int,
    variants: int,
    host: str,
    workers: int,
    seed: int,
) -> bool:
    """The whole run; returns whether every answer was right (the targets are reported, not enforced)."""
    from django.db import connection

    local_target(f"http://{host}")  # refused before anything starts
    rng = random.Random(seed)
    load = os.getloadavg()
    out.write(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        f"at the start; database {connection.vendor} {connection.settings_dict['NAME']}"
    )
    ensure_devices(out, rng, devices=devices, customers=customers)
    started = time.perf_counter()
    queries = pick_queries(rng, variants=variants)
    out.write(
        f"cases: {len(queries)} of {len(CASES)}, {sum(map(len, queries.values()))} queries, each with the "
        f"device its answer must show (picked in {time.perf_counter() - started:.1f} s)"
        + "".join(f"; no query for {case}" for case in CASES if case not in queries)
    )
    staff = make_staff(sales=clients, managers=0)
    postgres = connection.vendor == "postgresql"
    with tempfile.TemporaryDirectory(prefix="zt-throughput-") as scratch_dir:
        scratch = Path(scratch_dir)
        processes = Processes(scratch)
        env = production_env(scratch)
        subprocess.run(  # production serves collected, hashed static files
            [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
        )
        command = gunicorn_command(workers)
        port = free_port(host)
        bound = [arg.replace("{bind}", f"{host}:{port}") for arg in command]
        out.write("server: " + " ".join(bound[2:]) + ", DEBUG=0, no development tools")
        backends = None
        try:
            web = processes.start("gunicorn", bound, env)
            _wait_for(f"http://{host}:{port}/healthz", web, processes)
            browsers = [Browser(host, port) for _ in staff]
            signed_in = time.perf_counter()
            problems: list[str] = []
            _in_threads(
                [
                    (lambda b=b, s=s: problems.append(b.sign_in(s.username, s.password)))
                    for b, s in zip(browsers, staff, strict=True)
                ]
            )
            if any(problems):
                raise SystemExit("Signing in failed: " + "; ".join(filter(None, problems)))
            out.write(
                f"{clients} clients signed in through the sign-in form in "
                f"{time.perf_counter() - signed_in:.1f} s; load: {warmup:g} s warm-up, then {duration:g} s "
                "measured, no pause between pages"
            )
            cookies = dict(browsers[0].cookies)
            backends = WebBackends() if postgres else None
            watch = CpuWatch(cpu_groups(web, backends))
            run = drive(browsers, queries, warmup=warmup, duration=duration, seed=seed, watch=watch)
            web.terminate()
            web.wait(timeout=60)
            cold_queries = [query for found in queries.values() for query in found[:2]]
            rng.shuffle(cold_queries)
            starts = [
                cold_start(
                    processes,
                    command,
                    env,
                    host=host,
                    cookies=cookies,
                    queries=cold_queries,
                    workers=workers,
                    index=index,
                )
                for index in range(1, restarts + 1)
            ]
        finally:
            if backends is not None:
                backends.close()
            processes.stop()
        if "Traceback" in processes.tail("gunicorn", 10**6):
            out.write(f"--- gunicorn log (it holds a traceback):\n{processes.tail('gunicorn')}")
    for line in run_lines(run, CASES):
        out.write(line)
    if run.cpu is not None:
        for line in cpu_lines(run.cpu, len(run.answers)):
            out.write(line)
    if starts:
        for line in cold_lines(starts, workers):
            out.write(line)
    for line in target_lines(run, starts):
        out.write(line)
    return not run.errors and not any(start.errors for start in starts)


def server_cpu_ms(run: Run) -> float | None:
    """gunicorn's and PostgreSQL's CPU (its shared processes included) per page."""
    if run.cpu is None or not run.answers:
        return None
    groups = run.cpu.groups
    server = sum(groups.get(name, 0.0) for name in ("gunicorn", POSTGRES_WEB, POSTGRES_SHARED))
    return server * 1000 / len(run.answers)


def target_lines(run: Run, starts: list[ColdStart]) -> list[str]:
    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    overall = Figures.of("all", run.answers)
    lines = [
        f"target pages/s >= {TARGET_PAGES_PER_SECOND}: {run.pages_per_second:.1f} "
        f"{verdict(run.pages_per_second >= TARGET_PAGES_PER_SECOND)}",
        f"target p95 <= {TARGET_P95_MS:g} ms under load: {overall.p95:.1f} ms "
        f"{verdict(overall.p95 <= TARGET_P95_MS)}",
    ]
    if (cpu_ms := server_cpu_ms(run)) is not None:
        lines.append(
            f"target server CPU (gunicorn + PostgreSQL) <= {TARGET_SERVER_CPU_MS:g} ms a page: "
            f"{cpu_ms:.2f} ms {verdict(cpu_ms <= TARGET_SERVER_CPU_MS)}"
        )
    first = [ms for start in starts for ms in start.first_server_ms]
    if first:
        cold = percentile(first, 0.95)
        lines.append(
            f"target a worker's first request p95 <= {TARGET_COLD_P95_MS:g} ms: {cold:.0f} ms "
            f"{verdict(cold <= TARGET_COLD_P95_MS)}"
        )
    if starts:
        boot = max(start.boot_s for start in starts)
        lines.append(
            f"target workers boot <= {TARGET_BOOT_S:g} s: max {boot:.2f} s {verdict(boot <= TARGET_BOOT_S)}"
        )
    errors = len(run.errors) + sum(len(start.errors) for start in starts)
    lines.append(f"wrong answers: {errors}")
    return lines


# -- the command line (``zt_bench throughput``) ---------------------------------------------------


def add_throughput_arguments(parser) -> None:
    group = parser.add_argument_group("throughput")
    group.add_argument("--clients", type=int, default=10, help="throughput: concurrent clients")
    group.add_argument("--warmup", type=float, default=3.0, help="throughput: seconds before measuring")
    group.add_argument(
        "--restarts", type=int, default=5, help="throughput: fresh gunicorn starts for the first requests"
    )
    group.add_argument("--variants", type=int, default=20, help="throughput: queries picked per case")


def throughput_command(out, *, devices: int | None, customers: int, seed: int, **options) -> bool:
    from django.core.management.base import CommandError

    if not 1 <= options["clients"] <= 200:
        raise CommandError("--clients between 1 and 200.")
    duration = options["duration"] or 20.0
    if not 0 < duration <= 3600 or not 0 <= options["warmup"] <= 600:
        raise CommandError("--duration between 0 and 3600 s, --warmup at most 600 s.")
    return bench_throughput(
        out,
        devices=devices,
        customers=customers,
        clients=options["clients"],
        warmup=options["warmup"],
        duration=duration,
        restarts=max(0, options["restarts"]),
        variants=max(1, options["variants"]),
        host=options["host"],
        workers=options["web_workers"],
        seed=seed,
    )
