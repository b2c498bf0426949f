"""``python -m emulator bench``: how fast the emulator answers with a large state.

It seeds a state (timed), starts ``python -m emulator serve`` on it as its own process, and drives
it from this process with keep-alive connections (``http.client``), each client parsing every JSON
answer as a real client would:

- ``findByOwner`` pages of 100 devices, walking the largest customers' devices page after page;
- single ``partners.devices.get`` calls for random devices.

Faults are off. It prints pages per second, gets per second and latency percentiles.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

from .seeding import seed
from .store import Store
from .testing import TEST_TOKEN, EmulatorProcess

PARTNER_ID = 1234567
HEADERS = {"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/json"}


def _timed_seed(state: Path, devices: int) -> float:
    started = time.perf_counter()
    store = Store(state, replace_outdated=True)
    try:
        seed(store, PARTNER_ID, customers=50, vendors=3, devices=devices, random_seed=1)
    finally:
        store.close()
    return time.perf_counter() - started


def _largest_customers(state: Path, count: int) -> list[int]:
    with sqlite3.connect(state) as conn:
        rows = conn.execute(
            "SELECT owner_company_id, COUNT(*) AS n FROM claims WHERE reseller_id = ?"
            " AND section_type = 'SECTION_TYPE_ZERO_TOUCH' GROUP BY owner_company_id ORDER BY n DESC LIMIT ?",
            (PARTNER_ID, count),
        ).fetchall()
    conn.close()
    return [row[0] for row in rows]


def _device_ids(state: Path, count: int) -> list[int]:
    """Ids of devices the partner can get: a random sample of the ones it claimed."""
    with sqlite3.connect(state) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT device_id FROM claims WHERE reseller_id = ? AND abs(random()) % 20 = 0 LIMIT ?",
                (PARTNER_ID, count),
            )
        ]
    conn.close()
    return ids


def _drive(host: str, port: int, connections: int, seconds: float, work) -> tuple[int, list[float]]:
    """Run ``work(conn, rng)`` in a loop on each connection for ``seconds``; (calls, latencies)."""
    counts = [0] * connections
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[BaseException] = []
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        rng = random.Random(index)
        state: dict = {}
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                work(conn, rng, state)
                latencies[index].append(time.perf_counter() - started)
                counts[index] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(counts), [x for per in latencies for x in per]


def _call(conn: http.client.HTTPConnection, method: str, path: str, body=None) -> dict:
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=HEADERS)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
    return json.loads(payload)


def _percentiles(latencies: list[float]) -> str:
    if len(latencies) < 2:
        return ""
    q = statistics.quantiles(latencies, n=100)
    return f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"


def run_bench(args) -> int:
    own_dir = None
    state = args.state
    if state is None:
        own_dir = Path(tempfile.mkdtemp(prefix="zt-emulator-bench-"))
        state = own_dir / "bench.sqlite3"
    try:
        if args.reuse_state and Path(state).exists():
            print(f"Using the state in {state} as it is")
        else:
            print(f"Seeding {args.devices:,} devices into {state} ...", flush=True)
            seconds = _timed_seed(Path(state), args.devices)
            print(f"seed: {args.devices:,} devices in {seconds:.1f} s", flush=True)
        customers = _largest_customers(Path(state), 8)
        device_ids = _device_ids(Path(state), 20000)
        emulator = EmulatorProcess(partner_id=PARTNER_ID, state_path=state)
        with emulator:
            host, port = "127.0.0.1", emulator.port
            find_path = f"/v1/partners/{PARTNER_ID}/devices:findByOwner"

            def find_page(conn, rng, walk):
                if not walk.get("token"):
                    walk["customer"] = rng.choice(customers)
                body = {
                    "customerId": [str(walk["customer"])],
                    "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                    "limit": 100,
                }
                if walk.get("token"):
                    body["pageToken"] = walk["token"]
                page = _call(conn, "POST", find_path, body)
                walk["token"] = page.get("nextPageToken")
                if len(page.get("devices", ())) != 100 and walk["token"]:
                    raise RuntimeError("a findByOwner page held fewer than 100 devices")

            def get_device(conn, rng, state_):
                _call(conn, "GET", f"/v1/partners/{PARTNER_ID}/devices/{rng.choice(device_ids)}?alt=json")

            _drive(host, port, args.connections, 0.5, find_page)  # warm the caches
            pages, latencies = _drive(host, port, args.connections, args.seconds, find_page)
            print(
                f"findByOwner: {pages / args.seconds:,.0f} pages of 100 devices per second "
                f"({args.connections} connections; {_percentiles(latencies)})",
                flush=True,
            )
            _drive(host, port, args.connections, 0.5, get_device)
            gets, latencies = _drive(host, port, args.connections, args.seconds, get_device)
            print(
                f"get: {gets / args.seconds:,.0f} devices per second "
                f"({args.connections} connections; {_percentiles(latencies)})",
                flush=True,
            )
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0
