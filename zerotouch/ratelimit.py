"""Client-side rate limiting: one token bucket per partner, shared by every process that calls the API.

Google allows 1,000 requests per 100 seconds per service account. A 429 costs a round trip and a
backoff, and a storm of them slows every process down, so the client asks the limiter for a token
before each request and waits (within the call's deadline) when there is none.

The bucket holds at most ``burst`` tokens and refills at ``(requests - burst) / period`` tokens per
second. That makes the guarantee exact: in any window of ``period`` seconds at most ``burst`` tokens
were saved up plus ``requests - burst`` refilled, i.e. never more than ``requests`` requests.

Lanes: interactive calls (a person waiting in the browser) may empty the bucket and are served
first; batch calls (a job's submission and polling) and background calls (the sync) leave a
``reserve`` for people and yield while a person waits; background calls also yield to a waiting batch
once they have had ``background_share`` of the recent requests. Nobody else waiting, any lane may use
the whole budget: no share is kept idle. See ``take_token``.

Where the bucket lives: ``RedisTokenBucket`` in Redis, updated by one Lua script (atomic, Redis's
clock), shared by every process on every host; ``FileTokenBucket`` in a locked file, shared by the
processes of one machine (the embedded default, without Redis); ``LocalTokenBucket`` in one process.
"""

from __future__ import annotations

import enum
import fcntl
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "BucketState",
    "FileTokenBucket",
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
    """Which lane a call is in: a person waiting (``INTERACTIVE``), a batch job's submission and
    polling (``BATCH``), or background work such as the sync (``BACKGROUND``)."""

    INTERACTIVE = "interactive"
    BATCH = "batch"
    BACKGROUND = "background"


@dataclass(frozen=True, slots=True)
class Quota:
    """``requests`` per ``period`` seconds, with the bucket's ``burst`` size, the interactive
    ``reserve``, and the share of the budget background work keeps while batch work waits.

    Defaults: Google's 1,000 requests per 100 s; a burst of a twentieth of the quota (so 95% of it can
    be used steadily); a reserve of a fifth of the burst for interactive calls; background work holds
    at most 70% of the requests while a batch waits.
    """

    requests: int = 1000
    period: float = 100.0
    burst: int | None = None
    reserve: int | None = None
    background_share: float = 0.7

    def __post_init__(self) -> None:
        if self.requests < 2:
            raise ValueError("A quota needs at least 2 requests per period.")
        if self.period <= 0:
            raise ValueError("A quota's period must be positive.")
        if self.burst is not None and not 1 <= self.burst < self.requests:
            raise ValueError("The burst must be at least 1 and smaller than the quota.")
        if self.reserve is not None and not 0 <= self.reserve < self.capacity:
            raise ValueError("The interactive reserve must be smaller than the burst.")
        if not 0 < self.background_share <= 1:
            raise ValueError("The background share must be more than 0 and at most 1.")

    @property
    def capacity(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, min(self.requests // 20, self.requests - 1))

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return (self.requests - self.capacity) / self.period

    @property
    def interactive_reserve(self) -> int:
        if self.reserve is not None:
            return self.reserve
        return self.capacity // 5

    @property
    def usage_window(self) -> float:
        """Seconds over which the lanes' recent use is weighed (an exponential decay)."""
        return max(10.0, 20.0 / self.rate)

    @property
    def demand_hold(self) -> float:
        """How long a lane that was refused a token counts as waiting."""
        return max(0.5, 3.0 / self.rate)

    def floor(self, priority: Priority) -> int:
        """Tokens a caller of this priority must leave in the bucket."""
        return 0 if priority is Priority.INTERACTIVE else self.interactive_reserve


@dataclass(slots=True)
class BucketState:
    """One partner's bucket: its tokens, which lanes are waiting (until when), and recent use."""

    tokens: float
    updated: float
    interactive_until: float = 0.0
    batch_until: float = 0.0
    background_until: float = 0.0
    used: float = 0.0  # requests lately, decayed over Quota.usage_window
    used_background: float = 0.0

    def to_list(self) -> list[float]:
        return [
            self.tokens,
            self.updated,
            self.interactive_until,
            self.batch_until,
            self.background_until,
            self.used,
            self.used_background,
        ]


def take_token(state: BucketState, now: float, priority: Priority, quota: Quota) -> float:
    """One decision of the shared limiter, updating ``state``: 0.0 when a token was taken, else the
    seconds to wait before asking again.

    The lanes share one bucket. Interactive calls take any token; batch and background calls leave
    the interactive reserve and yield while a person waits. When batch and background work both wait,
    the tokens are split by ``background_share``: background work yields once it has had that share of
    the recent requests, batch work while background work has had less. A lane that is refused records
    that it waits, which is what makes the others yield; nobody else waiting, any lane may use the
    whole budget. The Lua script in ``RedisTokenBucket`` is a line-by-line copy of this function.
    """
    rate = quota.rate
    if now > state.updated:
        elapsed = now - state.updated
        state.tokens = min(quota.capacity, state.tokens + elapsed * rate)
        decay = math.exp(-elapsed / quota.usage_window)
        state.used *= decay
        state.used_background *= decay
        state.updated = now
    person_waits = state.interactive_until > now
    batch_waits = state.batch_until > now
    background_waits = state.background_until > now
    background_had_its_share = state.used_background >= quota.background_share * state.used
    yielding = False
    if priority is Priority.BATCH:
        yielding = person_waits or (background_waits and not background_had_its_share)
    elif priority is Priority.BACKGROUND:
        yielding = person_waits or (batch_waits and background_had_its_share)
    floor = quota.floor(priority)
    if not yielding and state.tokens - 1 >= floor - _EPSILON:
        state.tokens -= 1
        state.used += 1
        if priority is Priority.BACKGROUND:
            state.used_background += 1
        return 0.0
    if priority is Priority.INTERACTIVE:
        state.interactive_until = max(state.interactive_until, now + quota.demand_hold)
    elif priority is Priority.BATCH:
        state.batch_until = max(state.batch_until, now + quota.demand_hold)
    else:
        state.background_until = max(state.background_until, now + quota.demand_hold)
    if yielding:
        return 1.0 / rate
    return (floor + 1 - state.tokens) / rate


class RateLimiter(Protocol):
    """What the client needs from a limiter."""

    def try_acquire(self, key: str, priority: Priority) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds to wait before asking again."""
        ...


class LocalTokenBucket:
    """A token bucket per key inside this process (thread-safe). ``clock`` is injectable for tests.

    Only right for one process: several processes each with their own bucket together exceed the
    quota. ``FileTokenBucket`` shares one bucket between the processes of one machine."""

    def __init__(self, quota: Quota | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota or Quota()
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, BucketState] = {}

    def try_acquire(self, key: str, priority: Priority = Priority.BATCH) -> float:
        with self._lock:
            now = self._clock()
            state = self._buckets.setdefault(key, BucketState(float(self.quota.capacity), now))
            return take_token(state, now, Priority(priority), self.quota)

    def close(self) -> None:
        """Nothing to release; present so that every limiter can be closed the same way."""

    def __repr__(self) -> str:
        return f"<LocalTokenBucket {self.quota.requests} per {self.quota.period:g} s>"


class FileTokenBucket:
    """The token bucket kept in a file, shared by every process on this machine that uses the same
    path (the web process, the Celery worker's processes, commands): the embedded default, where
    there is no Redis. Each decision holds an exclusive lock on the file (``fcntl.flock``) while it
    reads and rewrites the state in place, some tens of microseconds. The clock is ``time.time``,
    the one every process shares.

    The file stays open between calls, one descriptor per process: a lock is held per open file, so
    a process that was forked (a Celery pool) opens its own rather than share its parent's.
    """

    def __init__(self, path: str | os.PathLike, quota: Quota | None = None) -> None:
        self.quota = quota or Quota()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # threads of one process take turns on its descriptor
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def try_acquire(self, key: str, priority: Priority = Priority.BATCH) -> float:
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, 1 << 20, 0)
                try:
                    buckets = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    buckets = {}  # a torn or foreign file: start again (full bucket), never stop traffic
                now = time.time()
                values = buckets.get(key)
                state = BucketState(*values) if isinstance(values, list) and len(values) == 7 else None
                state = state or BucketState(float(self.quota.capacity), now)
                wait = take_token(state, now, Priority(priority), self.quota)
                buckets[key] = state.to_list()
                written = json.dumps(buckets).encode()
                os.pwrite(fd, written, 0)
                if len(written) < len(raw):
                    os.ftruncate(fd, len(written))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return wait

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def __repr__(self) -> str:
        return f"<FileTokenBucket {self.quota.requests} per {self.quota.period:g} s at {self.path}>"


# KEYS[1] bucket key; ARGV: priority, capacity, rate (tokens/s), floor, background share, usage
# window (s), demand hold (s), ttl (s). The same decision as take_token, line by line, with Redis's
# clock. Returns the wait as a string (Redis would truncate a Lua number to an integer). The bucket
# starts full, like the others.
_BUCKET_SCRIPT = """
local priority = ARGV[1]
local capacity = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local share = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local hold = tonumber(ARGV[7])
local ttl = tonumber(ARGV[8])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'interactive_until', 'batch_until',
  'background_until', 'used', 'used_background')
local tokens = tonumber(s[1])
local updated = tonumber(s[2])
local interactive_until = tonumber(s[3]) or 0
local batch_until = tonumber(s[4]) or 0
local background_until = tonumber(s[5]) or 0
local used = tonumber(s[6]) or 0
local used_background = tonumber(s[7]) or 0
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
if now > updated then
  local elapsed = now - updated
  tokens = math.min(capacity, tokens + elapsed * rate)
  local decay = math.exp(-elapsed / window)
  used = used * decay
  used_background = used_background * decay
  updated = now
end
local person_waits = interactive_until > now
local batch_waits = batch_until > now
local background_waits = background_until > now
local background_had_its_share = used_background >= share * used
local yielding = false
if priority == 'batch' then
  yielding = person_waits or (background_waits and not background_had_its_share)
elseif priority == 'background' then
  yielding = person_waits or (batch_waits and background_had_its_share)
end
local wait = 0
if (not yielding) and tokens - 1 >= floor - 0.000000001 then
  tokens = tokens - 1
  used = used + 1
  if priority == 'background' then
    used_background = used_background + 1
  end
else
  if priority == 'interactive' then
    interactive_until = math.max(interactive_until, now + hold)
  elseif priority == 'batch' then
    batch_until = math.max(batch_until, now + hold)
  else
    background_until = math.max(background_until, now + hold)
  end
  if yielding then
    wait = 1 / rate
  else
    wait = (floor + 1 - tokens) / rate
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(updated),
  'interactive_until', tostring(interactive_until), 'batch_until', tostring(batch_until),
  'background_until', tostring(background_until), 'used', tostring(used),
  'used_background', tostring(used_background))
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
        self._ttl = math.ceil(max(self.quota.period, refill_seconds, self.quota.usage_window)) + 1

    def key(self, key: str) -> str:
        return f"{self.key_prefix}:{key}"

    def try_acquire(self, key: str, priority: Priority = Priority.BATCH) -> float:
        quota = self.quota
        try:
            priority = Priority(priority)
            wait = self._script(
                keys=[self.key(key)],
                args=[
                    priority.value,
                    quota.capacity,
                    repr(quota.rate),
                    quota.floor(priority),
                    repr(quota.background_share),
                    repr(quota.usage_window),
                    repr(quota.demand_hold),
                    self._ttl,
                ],
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
