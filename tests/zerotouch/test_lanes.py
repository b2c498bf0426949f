"""Quota lanes: interactive calls first, batch next, background last but never wasted; the same
rules in every bucket (this process, a locked file, Redis), and across processes."""

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from zerotouch import FileTokenBucket, LocalTokenBucket, Priority, Quota, RedisTokenBucket, build_client

from .factories import PARTNER_ID, REDIS_URL
from .test_ratelimit import FakeClock

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LANES = (Priority.INTERACTIVE, Priority.BATCH, Priority.BACKGROUND)


def contend(
    bucket, clock: FakeClock, lanes: dict[Priority, float], seconds: float
) -> list[tuple[float, Priority]]:
    """Greedy callers, one per lane, each asking again as soon as allowed (``lanes``: when each starts),
    on the fake clock: the grants, in order."""
    next_try = {lane: clock.now + start for lane, start in lanes.items()}
    end = clock.now + seconds
    grants = []
    while True:
        lane = min(next_try, key=lambda name: (next_try[name], LANES.index(name)))
        if next_try[lane] >= end:
            return grants
        clock.now = max(clock.now, next_try[lane])
        wait = bucket.try_acquire("p", lane)
        if wait == 0.0:
            grants.append((clock.now, lane))
        else:
            next_try[lane] = clock.now + wait


def test_background_alone_uses_the_whole_budget():
    clock = FakeClock()
    quota = Quota(requests=200, period=10.0, burst=10, reserve=2)  # 19 tokens a second after the burst
    grants = contend(LocalTokenBucket(quota, clock=clock), clock, {Priority.BACKGROUND: 0.0}, 20.0)

    assert len(grants) >= quota.capacity - quota.interactive_reserve + quota.rate * 20 - 1


def test_background_and_batch_split_the_budget_by_the_share_and_nothing_is_wasted():
    clock = FakeClock()
    quota = Quota(requests=200, period=10.0, burst=10, reserve=2)
    grants = contend(
        LocalTokenBucket(quota, clock=clock), clock, {Priority.BACKGROUND: 0.0, Priority.BATCH: 10.0}, 70.0
    )

    while_both = Counter(lane for moment, lane in grants if moment >= 1000.0 + 20.0)  # past the warm-up
    share = while_both[Priority.BACKGROUND] / sum(while_both.values())
    assert 0.65 <= share <= 0.72
    assert sum(while_both.values()) >= quota.rate * 50 * 0.98  # the lanes together use the budget


def test_an_interactive_call_is_served_first_even_when_the_bucket_is_drained():
    clock = FakeClock()
    quota = Quota(requests=40, period=10.0, burst=4, reserve=0)  # 3.6 tokens a second, no reserve
    bucket = LocalTokenBucket(quota, clock=clock)
    contend(bucket, clock, {Priority.BACKGROUND: 0.0, Priority.BATCH: 0.0}, 10.0)  # both drain it

    wait = bucket.try_acquire("p", Priority.INTERACTIVE)
    assert 0 < wait <= 1 / quota.rate + 1e-9
    clock.advance(wait)
    # The token that comes is the person's: the other lanes yield while a person waits.
    assert bucket.try_acquire("p", Priority.BACKGROUND) > 0
    assert bucket.try_acquire("p", Priority.BATCH) > 0
    assert bucket.try_acquire("p", Priority.INTERACTIVE) == 0.0


def test_the_reserve_answers_people_at_once_while_background_work_saturates_the_bucket():
    clock = FakeClock()
    quota = Quota(requests=40, period=10.0, burst=4, reserve=2)
    bucket = LocalTokenBucket(quota, clock=clock)
    contend(bucket, clock, {Priority.BACKGROUND: 0.0}, 30.0)

    assert [bucket.try_acquire("p", Priority.INTERACTIVE) for _ in range(2)] == [0.0, 0.0]


@pytest.fixture(params=["file", "redis"])
def shared_bucket(request, tmp_path, redis_prefix):
    quota = Quota(requests=1000, period=1000.0, burst=5, reserve=1)
    if request.param == "file":
        bucket = FileTokenBucket(tmp_path / "quota.json", quota)
    else:
        bucket = RedisTokenBucket(REDIS_URL, quota, key_prefix=redis_prefix)
    yield bucket
    bucket.close()


def test_shared_buckets_apply_the_same_rules(shared_bucket):
    # The burst of 5, of which background work leaves 1 to people.
    background = [shared_bucket.try_acquire("1000001", Priority.BACKGROUND) for _ in range(5)]
    interactive = [shared_bucket.try_acquire("1000001", Priority.INTERACTIVE) for _ in range(2)]
    # A person now waits: batch and background yield, even once a token has come back.
    time.sleep(1.2)
    yielding = [shared_bucket.try_acquire("1000001", lane) for lane in (Priority.BATCH, Priority.BACKGROUND)]

    assert background[:4] == [0.0] * 4 and background[4] > 0
    assert interactive[0] == 0.0 and interactive[1] > 0
    assert all(wait > 0 for wait in yielding)
    assert shared_bucket.try_acquire("1000001", Priority.INTERACTIVE) == 0.0


def run_greedy(limiter: str, priority: Priority, start: float, stop: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.zerotouch.lane_worker", limiter, priority.value, str(start), str(stop)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("shared", ["file", "redis"])
def test_two_processes_in_different_lanes_share_one_budget_by_the_rules(shared, tmp_path, redis_prefix):
    """A background process and a batch process, both greedy, drawing from one bucket: together they
    stay within the quota and use it; background holds at most its share while the batch waits."""
    limiter = f"file:{tmp_path / 'quota.json'}" if shared == "file" else f"redis:{redis_prefix}"
    start = time.time() + 1.5
    background = run_greedy(limiter, Priority.BACKGROUND, start, start + 6)
    batch = run_greedy(limiter, Priority.BATCH, start + 2, start + 6)
    grants = {
        lane: json.loads(process.communicate(timeout=60)[0])
        for lane, process in (("background", background), ("batch", batch))
    }

    quota = Quota(requests=100, period=2.0, burst=4, reserve=1)  # as lane_worker builds it: 48 a second
    both = {lane: [t for t in times if t >= start + 3] for lane, times in grants.items()}
    total = len(both["background"]) + len(both["batch"])
    assert total <= quota.rate * 3 + quota.capacity + 2
    assert total >= quota.rate * 3 * 0.85
    assert 0.6 <= len(both["background"]) / total <= 0.75
    alone = [t for t in grants["background"] if start + 0.5 <= t < start + 2]
    assert len(alone) >= quota.rate * 1.5 * 0.85  # nobody else waiting: background uses it all


def test_an_interactive_call_is_prompt_while_background_work_saturates_the_quota(emulator, tmp_path):
    """A real client at 120 requests a minute: background threads take every token they can, and a
    person's look-ups, once a second, still wait well under a second."""
    options = {
        "api_url": emulator.url,
        "partner_id": PARTNER_ID,
        "quota_requests": 120,
        "quota_period": 60.0,
        "quota_file": str(tmp_path / "quota.json"),
        "deadline": 30.0,
    }
    device_id = emulator.seed_summary["samples"]["unclaimed"][0]
    stop = threading.Event()

    def background() -> None:
        client = build_client(**options, priority=Priority.BACKGROUND)
        while not stop.is_set():
            client.devices_get(device_id=device_id)
        client.close()

    workers = [threading.Thread(target=background) for _ in range(2)]
    for worker in workers:
        worker.start()
    person = build_client(**options, priority=Priority.INTERACTIVE)
    waits = []
    try:
        time.sleep(3)  # the bucket is drained to the reserve by now
        for _ in range(8):
            started = time.monotonic()
            person.devices_get(device_id=device_id)
            waits.append(time.monotonic() - started)
            time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=40)
        person.close()

    assert max(waits) < 1.0, waits
    stats = emulator.stats()["methods"]["partners.devices.get"]
    assert "429" not in stats
