"""Cold starts of the web process (``bench.throughput``): gunicorn started afresh, the time from its
start to its first answer, and the first request of each of its workers, as gunicorn's access log
times it and as the client sees it."""

from __future__ import annotations

import http.client
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from bench.load import Processes, _cpu_seconds, _tree, percentile
from bench.search_cases import Browser, Query, answer_problem
from bench.subprocesses import free_port


@dataclass(frozen=True)
class ColdStart:
    """One start of gunicorn: the time to its first answer, when every worker had booted, and each
    worker's first request (gunicorn's own time, and, after they had all booted, the client's)."""

    boot_s: float  # gunicorn started -> the first answer (a search page)
    settled_s: float | None  # gunicorn started -> every worker booted and idle (None: not seen)
    first_server_ms: list[float]  # each worker's first request, as gunicorn timed it
    first_client_ms: list[float]  # the same seen by the client, for the workers that booted idle
    later_server_ms: list[float]  # requests after a worker's first
    errors: list[str]


def cold_start(
    processes: Processes,
    command: list[str],
    env: dict[str, str],
    *,
    host: str,
    cookies: dict[str, str],
    queries: list[Query],
    workers: int,
    index: int,
) -> ColdStart:
    """Start gunicorn; send a search page as soon as it accepts connections (the first worker that
    has booted answers it); wait for the other workers to boot; then send ``workers`` search pages
    at once (a sync worker takes one request at a time, so each worker takes one), again until
    every worker has answered one. gunicorn's access log says which worker answered each request
    and its own time for it; every query is asked once, so its line is found by its address."""
    port = free_port(host)
    name = f"gunicorn-cold-{index}"
    access_log = processes.scratch / f"{name}-access.log"
    bound = [arg if arg != "{bind}" else f"{host}:{port}" for arg in command]
    logged = ["--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s %(D)s %(U)s?%(q)s"]
    errors: list[str] = []
    asked: dict[str, float] = {}  # address -> the client's milliseconds, once the workers had booted
    began = time.monotonic()
    web = processes.start(name, [*bound, *logged], env)
    try:
        _first_answer(Browser(host, port, cookies), queries[0], web, processes, name, errors)
        boot_s = time.monotonic() - began
        settled_s = _settled(web.pid, workers, began)
        rest = iter(queries[1:])
        for _ in range(5):
            served = _access_lines(access_log, 1 + len(asked))
            together = list(islice(rest, workers))
            if len({line.pid for line in served}) >= workers or not together:
                break
            threads = [
                threading.Thread(target=_ask, args=(Browser(host, port, cookies), query, asked, errors))
                for query in together
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        served = _access_lines(access_log, 1 + len(asked))
    finally:
        web.terminate()
        web.wait(timeout=60)
    firsts: dict[str, AccessLine] = {}
    for line in served:
        firsts.setdefault(line.pid, line)
    return ColdStart(
        boot_s=boot_s,
        settled_s=settled_s,
        first_server_ms=[line.ms for line in firsts.values()],
        first_client_ms=[asked[line.target] for line in firsts.values() if line.target in asked],
        later_server_ms=[line.ms for line in served if line not in firsts.values()],
        errors=errors,
    )


def _ask(browser: Browser, query: Query, asked: dict[str, float], errors: list[str]) -> None:
    sent = time.monotonic()
    try:
        status, body = browser.get(query)
        problem = answer_problem(query, fragment=False, status=status, body=body)
    except (OSError, http.client.HTTPException) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    finally:
        browser.close()
    asked[query.target()] = (time.monotonic() - sent) * 1000
    if problem:
        errors.append(f"GET {query.target()}: {problem}")


def _first_answer(
    browser: Browser,
    query: Query,
    web: subprocess.Popen,
    processes: Processes,
    name: str,
    errors: list[str],
) -> None:
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if web.poll() is not None:
                raise SystemExit(f"gunicorn stopped:\n{processes.tail(name)}")
            try:
                status, body = browser.get(query)
            except (ConnectionRefusedError, ConnectionResetError):
                time.sleep(0.005)  # not listening yet
                continue
            if problem := answer_problem(query, fragment=False, status=status, body=body):
                errors.append(f"GET {query.target()}: {problem}")
            return
    finally:
        browser.close()
    raise SystemExit(f"gunicorn did not answer within 90 s:\n{processes.tail(name)}")


def _settled(master: int, workers: int, began: float, timeout: float = 30.0) -> float | None:
    """Seconds from ``began`` until all ``workers`` of the gunicorn ``master`` exist and have used no
    CPU for two readings in a row (booted, waiting for requests); None if not within ``timeout``."""
    previous: dict[int, float] = {}
    still = 0
    while time.monotonic() - began < timeout:
        now = {pid: _cpu_seconds(pid) for pid in _tree(master)[1:]}
        still = still + 1 if len(now) >= workers and now == previous else 0
        if still >= 2:
            return time.monotonic() - began
        previous = now
        time.sleep(0.15)
    return None


@dataclass(frozen=True)
class AccessLine:
    pid: str  # the worker that answered
    status: int
    ms: float  # gunicorn's own time: from the request read to the answer sent
    target: str  # the address asked (path?query)


def _access_lines(path: Path, expected: int, wait: float = 2.0) -> list[AccessLine]:
    """The requests in gunicorn's access log ``path``, once it holds ``expected`` lines (a worker
    writes its line just after answering) or ``wait`` seconds passed."""
    deadline = time.monotonic() + wait
    while True:
        rows = [line.split() for line in (path.read_text() if path.exists() else "").splitlines()]
        rows = [row for row in rows if len(row) == 4]
        if len(rows) >= expected or time.monotonic() > deadline:
            return [
                AccessLine(pid.strip("<>"), int(status), int(micros) / 1000, target.removesuffix("?"))
                for pid, status, micros, target in rows
            ]
        time.sleep(0.002)


def cold_lines(starts: list[ColdStart], workers: int) -> list[str]:
    boots = [start.boot_s for start in starts]
    settled = [start.settled_s for start in starts if start.settled_s is not None]
    server = [ms for start in starts for ms in start.first_server_ms]
    client = [ms for start in starts for ms in start.first_client_ms]
    later = [ms for start in starts for ms in start.later_server_ms]
    lines = [
        f"cold starts: gunicorn started {len(starts)} times ({workers} workers each)",
        f"  started -> first answer (a search page): p50 {statistics.median(boots):.2f} s, "
        f"max {max(boots):.2f} s",
    ]
    if settled:
        lines.append(
            f"  started -> every worker booted and idle: p50 {statistics.median(settled):.2f} s, "
            f"max {max(settled):.2f} s ({len(settled)} of {len(starts)} seen)"
        )
    if server:
        lines.append(
            f"  each worker's first request, gunicorn's time: {len(server)} requests, "
            f"p50 {statistics.median(server):.0f} ms, p95 {percentile(server, 0.95):.0f} ms, "
            f"max {max(server):.0f} ms"
        )
    if client:
        lines.append(
            f"  the same seen by the client (workers that had booted): {len(client)} requests, "
            f"p50 {statistics.median(client):.0f} ms, max {max(client):.0f} ms"
        )
    if later:
        lines.append(
            f"  later requests of the same workers, gunicorn's time: p50 {statistics.median(later):.0f} ms"
        )
    for start in starts:
        lines += [f"  error: {error}" for error in start.errors]
    return lines
