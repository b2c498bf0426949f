"""Measure the client's own overhead per call: ``python -m bench.client``.

Starts an emulator (``python -m emulator seed`` and ``serve`` in a temporary directory, through its
command line, so this module imports nothing of it), then times, call by call and alternating so that
both see the same server, a bare ``requests`` call (send, receive, decode JSON) and the same call
through the client (plus rate limiter, retry bookkeeping, error mapping, dataclasses, logging), for
``devices.get`` and one ``findByOwner`` page. The difference of the medians is the overhead.
``--url`` measures against a server that is already running instead.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from zerotouch.auth import build_session
from zerotouch.client import Client
from zerotouch.ratelimit import LocalTokenBucket, Quota, RedisTokenBucket

PARTNER_ID = "1000001"


@contextmanager
def running_emulator(devices: int, customers: int) -> Iterator[str]:
    """An emulator in a subprocess on a free port, seeded; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="zerotouch-bench-") as directory:
        state = Path(directory) / "state.sqlite3"
        ready = Path(directory) / "ready.json"
        subprocess.run(  # noqa: S603 - fixed command line, our own interpreter
            [
                sys.executable,
                "-m",
                "emulator",
                "seed",
                "--state",
                str(state),
                "--partner-id",
                PARTNER_ID,
                "--customers",
                str(customers),
                "--vendors",
                "0",
                "--devices",
                str(devices),
                "--unclaimed-fraction",
                "0",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "emulator",
                "serve",
                "--port",
                "0",
                "--state",
                str(state),
                "--partner-id",
                PARTNER_ID,
                "--ready-file",
                str(ready),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                if ready.exists() or server.poll() is not None:
                    break
                time.sleep(0.05)
            if not ready.exists():
                raise SystemExit("The emulator did not start (is the emulator package importable?).")
            yield json.loads(ready.read_text())["url"]
        finally:
            server.terminate()
            server.wait(timeout=10)


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - started) / 1000.0


class Measurement:
    """Wall-clock microseconds of each call, and this process's CPU microseconds per call.

    Wall time includes the server and is noisy on a busy machine; CPU time of the calling process
    excludes the server and shows the client's own work most directly.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu_us = 0.0
        self.calls = 0

    def run(self, call: Callable[[], object], count: int) -> None:
        cpu_started = time.process_time_ns()
        self.wall.extend(_timed(call) for _ in range(count))
        self.cpu_us += (time.process_time_ns() - cpu_started) / 1000.0
        self.calls += count

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_us / self.calls


def compare(raw: Callable[[], object], wrapped: Callable[[], object], iterations: int):
    """Both calls, in alternating blocks of 50 after a warm-up, so that both see the same server."""
    for _ in range(min(50, iterations)):
        raw()
        wrapped()
    raw_side, client_side = Measurement(), Measurement()
    for block in range(0, iterations, 50):
        count = min(50, iterations - block)
        first, second = ((raw_side, raw), (client_side, wrapped))[:: 1 if block % 100 else -1]
        first[0].run(first[1], count)
        second[0].run(second[1], count)
    return raw_side, client_side


def report(label: str, raw_side: Measurement, client_side: Measurement) -> None:
    raw_wall, client_wall = statistics.median(raw_side.wall), statistics.median(client_side.wall)
    raw_cpu, client_cpu = raw_side.cpu_per_call, client_side.cpu_per_call
    print(
        f"{label:<46} wall median: raw {raw_wall:6.0f} µs, client {client_wall:6.0f} µs, "
        f"overhead {client_wall - raw_wall:+5.0f} µs | CPU per call: raw {raw_cpu:5.0f} µs, "
        f"client {client_cpu:5.0f} µs, overhead {client_cpu - raw_cpu:+5.0f} µs"
    )


def _customer_with_a_full_page(client: Client) -> tuple[str, list]:
    for customer in client.customers_list():
        page = list(itertools.islice(client.devices_find_by_owner(customer_ids=[customer.company_id]), 100))
        if len(page) == 100:
            return customer.company_id, page
    raise SystemExit("No customer has 100 devices: seed more devices.")


def run(url: str, *, iterations: int, redis_url: str | None) -> None:
    session = build_session(token="bench")  # noqa: S106 - the emulator accepts any token
    raw = requests.Session()
    raw.headers["Authorization"] = "Bearer bench"
    timeout = (3.05, 20.0)
    # A quota far above what the run uses: the limiter's bookkeeping is measured, never a wait.
    quota = Quota(requests=10_000_000, period=1.0)
    limiters: list[tuple[str, object]] = [("local limiter", LocalTokenBucket(quota))]
    if redis_url:
        limiters.append(("Redis limiter", RedisTokenBucket(redis_url, quota, key_prefix="zerotouch:bench")))
    log_sink = logging.StreamHandler(io.StringIO())
    client_logger = logging.getLogger("zerotouch.client")
    try:
        probe = Client(session, url, PARTNER_ID, timeout, limiter=LocalTokenBucket(quota))
        customer_id, page = _customer_with_a_full_page(probe)
        device_id = page[0].device_id
        print(f"Emulator {url}; {iterations} calls each; findByOwner pages of {len(page)} devices.")

        get_url = f"{probe.base_url}/v1/partners/{PARTNER_ID}/devices/{device_id}"
        find_url = f"{probe.base_url}/v1/partners/{PARTNER_ID}/devices:findByOwner"
        find_body = {"sectionType": "SECTION_TYPE_ZERO_TOUCH", "customerId": [customer_id], "limit": "100"}

        def raw_get():
            return raw.get(get_url, timeout=timeout).json()

        def raw_find():
            return raw.post(find_url, json=find_body, timeout=timeout).json()

        for limiter_label, limiter in limiters:
            client = Client(session, url, PARTNER_ID, timeout, limiter=limiter)
            for logging_label, enabled in (("no log handler", False), ("INFO records", True)):
                if enabled:
                    client_logger.addHandler(log_sink)
                    client_logger.setLevel(logging.INFO)
                try:
                    suffix = f" ({limiter_label}, {logging_label})"
                    report(
                        "devices.get" + suffix,
                        *compare(raw_get, lambda c=client: c.devices_get(device_id=device_id), iterations),
                    )
                    report(
                        "findByOwner page" + suffix,
                        *compare(
                            raw_find,
                            lambda c=client: list(
                                itertools.islice(
                                    c.devices_find_by_owner(customer_ids=[customer_id], page_size=100), 100
                                )
                            ),
                            iterations // 2,
                        ),
                    )
                finally:
                    client_logger.removeHandler(log_sink)
                    client_logger.setLevel(logging.NOTSET)
    finally:
        session.close()
        raw.close()
        for _, limiter in limiters:
            limiter.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an API (emulator) already running; default: start one")
    parser.add_argument("--iterations", type=int, default=2000, help="calls per measurement (default 2000)")
    parser.add_argument("--devices", type=int, default=2000, help="devices to seed (default 2000)")
    parser.add_argument("--redis-url", help="also measure the Redis limiter (e.g. redis://127.0.0.1:6379/0)")
    args = parser.parse_args(argv)
    if args.url:
        run(args.url, iterations=args.iterations, redis_url=args.redis_url)
    else:
        with running_emulator(devices=args.devices, customers=5) as url:
            run(url, iterations=args.iterations, redis_url=args.redis_url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
