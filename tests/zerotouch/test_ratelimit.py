"""The token bucket: quota arithmetic, priorities, the in-process bucket on a fake clock, and the same
rules in Redis."""

import logging
import socket

import pytest
import redis

from zerotouch import LocalTokenBucket, Priority, Quota, RedisTokenBucket

from .factories import REDIS_URL


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_default_quota_is_googles_with_a_twentieth_as_burst():
    quota = Quota()

    assert (quota.requests, quota.period) == (1000, 100.0)
    assert quota.capacity == 50
    assert quota.rate == pytest.approx(9.5)  # 95% of the quota can be used steadily
    assert quota.interactive_reserve == 10
    assert quota.background_share == 0.7


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests": 1},
        {"period": 0},
        {"requests": 10, "burst": 10},
        {"requests": 10, "burst": 2, "reserve": 2},
    ],
)
def test_impossible_quotas_are_refused(kwargs):
    with pytest.raises(ValueError):
        Quota(**kwargs)


def test_bucket_grants_the_burst_then_asks_to_wait_for_the_refill():
    clock = FakeClock()
    bucket = LocalTokenBucket(Quota(requests=100, period=10.0, burst=10, reserve=0), clock=clock)

    assert [bucket.try_acquire("p", Priority.BATCH) for _ in range(10)] == [0.0] * 10
    wait = bucket.try_acquire("p", Priority.BATCH)
    assert wait == pytest.approx(1 / 9)

    clock.advance(wait)
    assert bucket.try_acquire("p", Priority.BATCH) == 0.0
    assert bucket.try_acquire("p", Priority.BATCH) > 0


def test_buckets_are_kept_per_partner():
    bucket = LocalTokenBucket(Quota(requests=10, period=10.0, burst=1, reserve=0), clock=FakeClock())

    assert bucket.try_acquire("partner-a", Priority.BATCH) == 0.0
    assert bucket.try_acquire("partner-a", Priority.BATCH) > 0
    assert bucket.try_acquire("partner-b", Priority.BATCH) == 0.0


def test_batch_traffic_leaves_the_reserve_to_interactive_calls():
    clock = FakeClock()
    bucket = LocalTokenBucket(Quota(requests=100, period=10.0, burst=10, reserve=3), clock=clock)

    granted_to_batch = 0
    while bucket.try_acquire("p", Priority.BATCH) == 0.0:
        granted_to_batch += 1

    assert granted_to_batch == 7
    assert [bucket.try_acquire("p", Priority.INTERACTIVE) for _ in range(3)] == [0.0] * 3
    assert bucket.try_acquire("p", Priority.INTERACTIVE) > 0


def test_no_window_of_one_period_holds_more_than_the_quota():
    """A greedy caller on the fake clock: every sliding window of ``period`` seconds stays within quota."""
    clock = FakeClock()
    quota = Quota(requests=50, period=10.0)
    bucket = LocalTokenBucket(quota, clock=clock)
    granted: list[float] = []
    while clock.now < 1000.0 + 5 * quota.period:
        wait = bucket.try_acquire("p", Priority.INTERACTIVE)
        if wait == 0.0:
            granted.append(clock.now)
        else:
            clock.advance(wait)

    busiest = max(sum(1 for t in granted if start <= t < start + quota.period) for start in granted)
    assert busiest <= quota.requests
    assert busiest >= quota.requests - 1  # and the limiter does not waste the quota either
    assert len(granted) >= 5 * (quota.requests - quota.capacity)


def test_redis_bucket_applies_the_same_rules(redis_prefix):
    limiter = RedisTokenBucket(
        REDIS_URL, Quota(requests=1000, period=1000.0, burst=5, reserve=2), key_prefix=redis_prefix
    )
    try:
        batch = [limiter.try_acquire("1000001", Priority.BATCH) for _ in range(4)]
        interactive = [limiter.try_acquire("1000001", Priority.INTERACTIVE) for _ in range(3)]
    finally:
        limiter.close()

    assert batch[:3] == [0.0] * 3 and batch[3] > 0
    assert interactive[:2] == [0.0] * 2 and interactive[2] > 0
    assert interactive[2] == pytest.approx(1 / ((1000 - 5) / 1000.0), rel=0.05)


def test_redis_bucket_is_shared_between_limiter_instances(redis_prefix):
    quota = Quota(requests=1000, period=1000.0, burst=4, reserve=0)
    first = RedisTokenBucket(REDIS_URL, quota, key_prefix=redis_prefix)
    second = RedisTokenBucket(REDIS_URL, quota, key_prefix=redis_prefix)
    try:
        grants = [limiter.try_acquire("1000001", Priority.BATCH) == 0.0 for limiter in (first, second) * 3]
        connection = redis.Redis.from_url(REDIS_URL)
        try:
            ttl = connection.ttl(f"{redis_prefix}:1000001")
        finally:
            connection.close()
    finally:
        first.close()
        second.close()

    assert grants == [True, True, True, True, False, False]
    assert 0 < ttl <= 1001  # the key expires once it would have refilled anyway


def test_unreachable_redis_falls_back_to_a_local_bucket(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    limiter = RedisTokenBucket(
        f"redis://127.0.0.1:{closed_port}/0", Quota(requests=10, period=10.0, burst=1, reserve=0)
    )
    try:
        with caplog.at_level(logging.WARNING, logger="zerotouch.ratelimit"):
            first = limiter.try_acquire("1000001", Priority.BATCH)
            second = limiter.try_acquire("1000001", Priority.BATCH)
    finally:
        limiter.close()

    assert first == 0.0
    assert second > 0
    assert "using this process's own bucket" in caplog.text


def test_limiter_reprs_do_not_show_the_redis_url():
    limiter = RedisTokenBucket("redis://:s3cret@127.0.0.1:6379/0", Quota())
    try:
        assert "s3cret" not in repr(limiter)
    finally:
        limiter.close()
