"""The portal's own record of its API calls: what the API health page, readiness and metrics read.

The client logs one record per call on the ``zerotouch.client`` logger with the facts as extra fields
(``api_method``, ``http_status``, ``duration_ms``, ``outcome``, ``priority``, ``limiter_wait_ms``...).
``ApiCallRecorder``, a logging handler on that logger (settings.LOGGING), writes each to a store that
every process shares, web and workers alike, chosen as the quota's bucket is:

- Redis, when the broker is Redis: a stream of the last hour's calls (one ``XADD`` per call, trimmed
  by age) and counters that only grow (for Prometheus), in one round trip;
- otherwise a small SQLite file under ``VAR_DIR`` (WAL), shared by the processes of one machine.

Why not the portal's database: calls are made inside other work's transactions and from threads of
the sync; a row written there would roll back with the caller's transaction, hold SQLite's single
writer lock, and open connections in threads that never close them. Why not process memory: the
page is served by the web process while most calls are made by workers.

Recording never fails a call: a store that cannot be written is skipped (and counted) and the call
goes on. Nothing about the request's content is kept: method, lane, status, timings.
"""

import atexit
import logging
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings

WINDOW_SECONDS = 3600  # how far back the health page reads
KEEP_SECONDS = 2 * WINDOW_SECONDS


@dataclass(frozen=True)
class ApiCall:
    """One API call as the client logged it (``at``: Unix time when it ended)."""

    at: float
    api_method: str
    lane: str
    http_status: int | None
    outcome: str  # ok, error, outcome_unknown
    error_type: str
    duration_ms: float
    limiter_wait_ms: float

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def status_label(self) -> str:
        """The HTTP status, or the kind of failure when no answer came (a timeout, a refused
        connection, a token that could not be had)."""
        if self.http_status is not None:
            return str(self.http_status)
        return self.error_type or "no answer"


@dataclass(frozen=True)
class CallTotals:
    """Counters since the store began: calls by (method, status, lane), and the limiter's waits by
    lane (how many calls waited, and the seconds waited)."""

    calls: dict[tuple[str, str, str], int]
    waits: dict[str, int]
    wait_seconds: dict[str, float]


class CallStore(Protocol):
    def record(self, call: ApiCall) -> None: ...
    def calls_since(self, since: float) -> list[ApiCall]: ...
    def last_success(self) -> float | None: ...
    def totals(self) -> CallTotals: ...


# --- SQLite: one file shared by the processes of this machine -------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    at REAL NOT NULL, api_method TEXT NOT NULL, lane TEXT NOT NULL, http_status INTEGER,
    outcome TEXT NOT NULL, error_type TEXT NOT NULL, duration_ms REAL NOT NULL, wait_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
CREATE TABLE IF NOT EXISTS totals (
    api_method TEXT NOT NULL, status TEXT NOT NULL, lane TEXT NOT NULL, calls INTEGER NOT NULL,
    PRIMARY KEY (api_method, status, lane)
);
CREATE TABLE IF NOT EXISTS waits (lane TEXT PRIMARY KEY, waits INTEGER NOT NULL, seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS last_success (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
"""


class FileCallStore:
    """Calls in a SQLite file (WAL), through one connection per process kept open: closing the last
    connection to a WAL database checkpoints it, which would cost a disk sync on every call. A process
    forked from another (a prefork worker) opens its own; the inherited one is left alone, never used
    or closed in the child (SQLite's rule for connections across fork)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._inherited: list[sqlite3.Connection] = []
        atexit.register(self.close)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._connection is None or self._pid != os.getpid():
                if self._connection is not None:
                    self._inherited.append(self._connection)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(
                    self.path, timeout=2.0, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
                self._connection, self._pid = connection, os.getpid()
            yield self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def record(self, call: ApiCall) -> None:
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                self._write(connection, call)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    @staticmethod
    def _write(connection: sqlite3.Connection, call: ApiCall) -> None:
        connection.execute(
            "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                call.at,
                call.api_method,
                call.lane,
                call.http_status,
                call.outcome,
                call.error_type,
                call.duration_ms,
                call.limiter_wait_ms,
            ),
        )
        connection.execute(
            "INSERT INTO totals VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE SET calls = calls + 1",
            (call.api_method, call.status_label, call.lane),
        )
        if call.limiter_wait_ms > 0:
            connection.execute(
                "INSERT INTO waits VALUES (?, 1, ?) ON CONFLICT DO UPDATE "
                "SET waits = waits + 1, seconds = seconds + excluded.seconds",
                (call.lane, call.limiter_wait_ms / 1000),
            )
        if call.ok:
            connection.execute(
                "INSERT INTO last_success VALUES (1, ?) ON CONFLICT DO UPDATE SET at = max(at, excluded.at)",
                (call.at,),
            )
        if random.random() < 0.01:  # now and then, forget what the page no longer reads
            connection.execute("DELETE FROM calls WHERE at < ?", (call.at - KEEP_SECONDS,))

    def calls_since(self, since: float) -> list[ApiCall]:
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT at, api_method, lane, http_status, outcome, error_type, duration_ms, wait_ms "
                "FROM calls WHERE at >= ? ORDER BY at",
                (since,),
            ).fetchall()
        return [ApiCall(*row) for row in rows]

    def last_success(self) -> float | None:
        with self._connect() as connection:
            row = connection.execute("SELECT at FROM last_success").fetchone()
        return row[0] if row else None

    def totals(self) -> CallTotals:
        with self._connect() as connection:
            calls = {(m, s, lane): n for m, s, lane, n in connection.execute("SELECT * FROM totals")}
            waits = connection.execute("SELECT lane, waits, seconds FROM waits").fetchall()
        return CallTotals(
            calls=calls,
            waits={lane: n for lane, n, _ in waits},
            wait_seconds={lane: seconds for lane, _, seconds in waits},
        )


# --- Redis: one stream and a few counters shared by every host ----------------------------------


class RedisCallStore:
    """Calls in a Redis stream (its entry ids are Redis's own clock in milliseconds, so "since" is a
    range read), trimmed to the hour kept on every write; counters in two hashes."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis  # the broker's client, installed with celery[redis]

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.stream = f"{prefix}:calls"
        self.totals_key = f"{prefix}:totals"
        self.waits_key = f"{prefix}:waits"
        self.success_key = f"{prefix}:last_success"

    def record(self, call: ApiCall) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(
            self.stream,
            {
                "at": repr(call.at),
                "m": call.api_method,
                "l": call.lane,
                "s": "" if call.http_status is None else str(call.http_status),
                "o": call.outcome,
                "e": call.error_type,
                "d": repr(call.duration_ms),
                "w": repr(call.limiter_wait_ms),
            },
            minid=int((call.at - KEEP_SECONDS) * 1000),
            approximate=True,
        )
        pipe.hincrby(self.totals_key, f"{call.api_method}|{call.status_label}|{call.lane}", 1)
        if call.limiter_wait_ms > 0:
            pipe.hincrby(self.waits_key, f"count|{call.lane}", 1)
            pipe.hincrbyfloat(self.waits_key, f"seconds|{call.lane}", call.limiter_wait_ms / 1000)
        if call.ok:
            pipe.set(self.success_key, repr(call.at))
        pipe.execute()

    def calls_since(self, since: float) -> list[ApiCall]:
        entries = self._redis.xrange(self.stream, min=str(int(since * 1000)), max="+")
        calls = []
        for _, fields in entries:
            value = {key.decode(): item.decode() for key, item in fields.items()}
            calls.append(
                ApiCall(
                    at=float(value["at"]),
                    api_method=value["m"],
                    lane=value["l"],
                    http_status=int(value["s"]) if value["s"] else None,
                    outcome=value["o"],
                    error_type=value["e"],
                    duration_ms=float(value["d"]),
                    limiter_wait_ms=float(value["w"]),
                )
            )
        return [call for call in calls if call.at >= since]

    def last_success(self) -> float | None:
        value = self._redis.get(self.success_key)
        return float(value) if value else None

    def totals(self) -> CallTotals:
        calls = {}
        for key, count in self._redis.hgetall(self.totals_key).items():
            method, status, lane = key.decode().split("|", 2)
            calls[(method, status, lane)] = int(count)
        waits: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for key, value in self._redis.hgetall(self.waits_key).items():
            kind, lane = key.decode().split("|", 1)
            if kind == "count":
                waits[lane] = int(value)
            else:
                seconds[lane] = float(value)
        return CallTotals(calls=calls, waits=waits, wait_seconds=seconds)


# --- The store of this configuration, and the handler that fills it -------------------------------

_stores: dict[tuple, CallStore] = {}
_stores_lock = threading.Lock()


def call_store() -> CallStore:
    """The store the settings name (``ZT_CALLS_FILE`` / ``ZT_CALLS_REDIS_PREFIX``), one per process."""
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        key: tuple = ("redis", broker, settings.ZT_CALLS_REDIS_PREFIX)
    else:
        key = ("file", str(settings.ZT_CALLS_FILE))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = RedisCallStore(key[1], key[2]) if key[0] == "redis" else FileCallStore(key[1])
            _stores[key] = store
        return store


def call_of(record: logging.LogRecord) -> ApiCall | None:
    """The call a ``zerotouch.client`` record describes; None for its other records (retries)."""
    if not hasattr(record, "duration_ms") or not hasattr(record, "api_method"):
        return None
    status = getattr(record, "http_status", None)
    return ApiCall(
        at=record.created,
        api_method=str(record.api_method),
        lane=str(getattr(record, "priority", "") or "batch"),
        http_status=int(status) if status is not None else None,
        outcome=str(getattr(record, "outcome", "ok")),
        error_type=str(getattr(record, "error_type", None) or ""),
        duration_ms=float(record.duration_ms),
        limiter_wait_ms=float(getattr(record, "limiter_wait_ms", 0.0) or 0.0),
    )


class ApiCallRecorder(logging.Handler):
    """A logging handler for the ``zerotouch.client`` logger that records each call in the store."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.failures = 0  # records the store could not take (its Redis or file unavailable)

    def emit(self, record: logging.LogRecord) -> None:
        call = call_of(record)
        if call is None:
            return
        try:
            call_store().record(call)
        except Exception:  # a broken store must never break an API call; the page says it is empty
            self.failures += 1
