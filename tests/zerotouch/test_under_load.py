"""The quota shared by several processes through Redis, and a large paging read through faults."""

import json
import subprocess
import sys
import time
from pathlib import Path

from zerotouch import Quota, RetryPolicy

from .factories import PARTNER_ID, REDIS_URL

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def busiest_window(times: list[float], width: float) -> int:
    times = sorted(times)
    start, busiest = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def test_two_processes_sharing_the_redis_limiter_stay_under_the_quota(emulator, redis_prefix):
    requests, period, seconds = 40, 2.0, 5.0
    quota = Quota(requests=requests, period=period)  # what the workers build: burst 2, then 19 per second
    device_id = emulator.seed_summary["samples"]["unclaimed"][0]
    start = time.monotonic() + 1.5
    command = [
        sys.executable,
        "-m",
        "tests.zerotouch.quota_worker",
        emulator.url,
        str(PARTNER_ID),
        device_id,
        REDIS_URL,
        redis_prefix,
        str(requests),
        str(period),
        str(start),
        str(start + seconds),
    ]
    workers = [
        subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=60)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0]
    first, second = (json.loads(output) for output in outputs)
    allowed = quota.capacity + quota.rate * seconds  # what ONE bucket grants; two would double it
    assert first and second
    assert len(first) + len(second) <= allowed + 2
    assert len(first) + len(second) >= 0.8 * allowed
    assert busiest_window(first + second, period) <= requests + 2
    assert emulator.stats()["methods"]["partners.devices.get"] == {"200": len(first) + len(second)}


def test_paging_10000_devices_through_faults_and_a_tight_quota(make_client, emulator):
    emulator.reset()
    summary = emulator.seed(customers=5, vendors=0, devices=10_000, unclaimed_fraction=0.0, random_seed=7)
    customers = summary["customerIds"]
    reference = make_client()
    expected = {device.device_id for device in reference.devices_find_by_owner(customer_ids=customers)}
    assert len(expected) > 9_000  # all but the few the seed gives to another reseller

    emulator.set_faults(error_rate=0.2, error_codes=[500, 502, 503, 504], quota_per_minute=600, random_seed=1)
    emulator.clear_stats()
    client = make_client(
        quota_requests=100,
        quota_period=10.0,  # the emulator's 600 per minute, paced per 10 s
        retry=RetryPolicy(initial_backoff=0.05, max_backoff=1.0, max_attempts=10),
        deadline=30.0,
    )
    started = time.monotonic()
    pages = client.devices_find_by_owner(customer_ids=customers, page_size=100)
    seen = [device.device_id for device in pages]
    elapsed = time.monotonic() - started

    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected
    outcomes = emulator.stats()["methods"]["partners.devices.findByOwner"]
    sent = sum(outcomes.values())
    faults = sum(outcomes.get(code, 0) for code in ("500", "502", "503", "504"))
    assert outcomes.get("429", 0) <= 1  # no 429 storm: the limiter keeps the pace
    assert faults > 0.1 * sent  # the faults did happen, and were retried through
    assert outcomes["200"] == -(-len(expected) // 100)
    paced = Quota(requests=100, period=10.0)  # the client's bucket: its burst, then its rate
    assert elapsed >= (sent - paced.capacity) / paced.rate * 0.9
