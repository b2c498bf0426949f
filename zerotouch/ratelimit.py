"""Client-side rate limiting: a token bucket per partner, in-process or shared through Redis.

Google allows 1,000 requests per 100 seconds per service account. A 429 costs a round trip and a
backoff, and a storm of them slows every process down, so the client asks the limiter for a token
before each request and waits (within the call's deadline) when there is none.

The bucket holds at most ``burst`` tokens and refills at ``(requests - burst) / period`` tokens per
second. That makes the guarantee exact: in any window of ``period`` seconds at most ``burst`` tokens
were saved up plus ``requests - burst`` refilled, i.e. never more than ``requests`` requests.

Priorities: interactive calls (a person waiting in the browser) may empty the bucket; batch and sync
traffic may only take a token while more than ``reserve`` remain. Under a steady batch load the bucket
therefore idles at ``reserve`` tokens that only interactive calls can spend.

``RedisTokenBucket`` keeps the bucket in Redis and updates it with one Lua script (atomic, using
Redis's clock), so every web and worker process on every host draws from the same bucket.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "LocalTokenBucket",
    "Priority",
    "Quota",
    "RateLimiter",
    "RedisTokenBucket",
    "take_token",
]

logger = logging.getLogger("zerotouch.ratelimit")


#: Rounding slack: a caller that slept exactly the advised wait must get its token.
_EPSILON = 1e-9


class Priority(enum.StrEnum):
    """Who is waiting for the call: a person (``INTERACTIVE``) or a background job (``BATCH``)."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class Quota:
    """``requests`` per ``period`` seconds, with the bucket's ``burst`` size and interactive ``reserve``.

    Defaults: Google's 1,000 requests per 100 s; a burst of a tenth of the quota; a reserve of a fifth
    of the burst for interactive calls.
    """

    requests: int = 1000
    period: float = 100.0
    burst: int | None = None
    reserve: int | None = None

    def __post_init__(self) -> None:
        if self.requests < 2:
            raise ValueError("A quota needs at least 2 requests per period.")
        if self.period <= 0:
            raise ValueError("A quota's period must be positive.")
        if self.burst is not None and not 1 <= self.burst < self.requests:
            raise ValueError("The burst must be at least 1 and smaller than the quota.")
        if self.reserve is not None and not 0 <= self.reserve < self.capacity:
            raise ValueError("The interactive reserve must be smaller than the burst.")

    @property
    def capacity(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, min(self.requests // 10, self.requests - 1))

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return (self.requests - self.capacity) / self.period

    @property
    def interactive_reserve(self) -> int:
        if self.reserve is not None:
            return self.reserve
        return self.capacity // 5

    def floor(self, priority: Priority) -> int:
        """Tokens a caller of this priority must leave in the bucket."""
        return 0 if priority is Priority.INTERACTIVE else self.interactive_reserve


def take_token(
    tokens: float, updated: float, now: float, *, capacity: float, rate: float, floor: float
) -> tuple[float, float, float]:
    """One step of the token bucket: refill up to ``now``, then take a token if one is free above
    ``floor``.

    Returns the new ``(tokens, updated, wait)``; ``wait`` is 0.0 when a token was taken, else the
    seconds until one will be free (assuming nobody else takes it). The Lua script in
    ``RedisTokenBucket`` is a line-by-line copy of this function.
    """
    if now > updated:
        tokens = min(capacity, tokens + (now - updated) * rate)
        updated = now
    if tokens - 1 >= floor - _EPSILON:
        return tokens - 1, updated, 0.0
    return tokens, updated, (floor + 1 - tokens) / rate


class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    def try_acquire(self, key: str, priority: Priority) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds to wait before asking again."""
        ...


class LocalTokenBucket:
    """A token bucket per key inside this process (thread-safe). ``clock`` is injectable for tests."""

    def __init__(self, quota: Quota | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota or Quota()
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def try_acquire(self, key: str, priority: Priority = Priority.BATCH) -> float:
        quota = self.quota
        with self._lock:
            now = self._clock()
            tokens, updated = self._buckets.get(key, (float(quota.capacity), now))
            tokens, updated, wait = take_token(
                tokens, updated, now, capacity=quota.capacity, rate=quota.rate, floor=quota.floor(priority)
            )
            self._buckets[key] = (tokens, updated)
        return wait

    def close(self) -> None:
        """Nothing to release; present so that every limiter can be closed the same way."""

    def __repr__(self) -> str:
        return f"<LocalTokenBucket {self.quota.requests} per {self.quota.period:g} s>"


# KEYS[1] bucket key; ARGV: capacity, rate (tokens/s), floor, ttl (s). Returns the wait as a string
# (Redis would truncate a Lua number to an integer). The bucket starts full, like LocalTokenBucket.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
if now > updated then
  tokens = math.min(capacity, tokens + (now - updated) * rate)
  updated = now
end
local wait = 0
if tokens - 1 >= floor - 0.000000001 then
  tokens = tokens - 1
else
  wait = (floor + 1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated))
redis.call('EXPIRE', KEYS[1], ttl)
return tostring(wait)
"""


class RedisTokenBucket:
    """The token bucket kept in Redis, shared by every process that uses the same URL and prefix.

    The key is ``{key_prefix}:{partner id}``. If Redis cannot be reached the limiter logs a warning and
    falls back to a bucket in this process with the same quota (the API's own 429s, which the client
    retries, remain the backstop), rather than stopping all traffic to Google.

    ``redis`` is imported here, lazily, so the package runs without it when no Redis URL is configured.
    """

    def __init__(
        self,
        url: str,
        quota: Quota | None = None,
        *,
        key_prefix: str = "zerotouch:quota",
        socket_timeout: float = 0.5,
    ) -> None:
        import redis  # optional dependency: only the shared limiter needs it

        self.quota = quota or Quota()
        self.key_prefix = key_prefix
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._script = self._redis.register_script(_BUCKET_SCRIPT)
        self._fallback = LocalTokenBucket(self.quota)
        refill_seconds = self.quota.capacity / self.quota.rate
        self._ttl = math.ceil(max(self.quota.period, refill_seconds)) + 1

    def key(self, key: str) -> str:
        return f"{self.key_prefix}:{key}"

    def try_acquire(self, key: str, priority: Priority = Priority.BATCH) -> float:
        quota = self.quota
        try:
            wait = self._script(
                keys=[self.key(key)],
                args=[quota.capacity, repr(quota.rate), quota.floor(priority), self._ttl],
            )
        except self._errors as exc:
            logger.warning(
                "Redis rate limiter unavailable; using this process's own bucket",
                extra={"limiter_key": self.key(key), "error": type(exc).__name__},
            )
            return self._fallback.try_acquire(key, priority)
        return float(wait)

    def close(self) -> None:
        self._redis.close()

    def __repr__(self) -> str:
        # The URL may carry a password: never show it.
        quota = self.quota
        return f"<RedisTokenBucket {quota.requests} per {quota.period:g} s, prefix {self.key_prefix!r}>"
