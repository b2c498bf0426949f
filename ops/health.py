"""Reads for the API health page (``/ops/``), the readiness check and the metrics: how the portal's
connection to zero-touch is doing, without reading a worker's log.

Call figures come from the portal's own record of its API calls (``ops.apicalls``), which every
process writes; the batch operations waited on and the sync from the database; the queue and the
workers from the broker, through Celery's current app (the project's, ``portal.celery``, which
every process loads with the settings). Each part answers on its own: a broker that does not answer
leaves the rest of the page standing, with that part saying so.
"""

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from batches.models import BatchChunk
from devices.selectors import sync_overview
from ops.apicalls import WINDOW_SECONDS, ApiCall, call_store
from zerotouch import Priority

LANES = [str(lane) for lane in Priority]  # interactive, batch, background
MINUTES_SHOWN = 10


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (0 < share <= 1): a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class MethodLatency:
    api_method: str
    calls: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class MinuteUse:
    """The calls of one clock minute by lane, against the quota's share of a minute."""

    start: datetime
    by_lane: dict[str, int]
    total: int
    quota_percent: int

    @property
    def lane_counts(self) -> list[int]:
        return [self.by_lane[lane] for lane in LANES]


@dataclass
class ApiHealth:
    quota_per_minute: int
    minutes: list[MinuteUse]  # the last MINUTES_SHOWN minutes, the current one first
    calls_last_hour: int
    errors_by_status: list[tuple[str, int]]  # failed calls of the last hour, most frequent first
    latency: list[MethodLatency]
    limiter_waits: dict[str, tuple[int, float]]  # lane -> (calls that waited, seconds waited)
    last_success: datetime | None
    unavailable: str = ""  # why the record of calls could not be read, if it could not

    @property
    def last_minute(self) -> MinuteUse:
        return self.minutes[0]


def api_target() -> dict:
    """Which API the portal talks to, for the pages that say so (the home page and /ops/)."""
    return {
        "api_target": "Google zero-touch" if settings.ZT_CREDENTIALS_FILE else "the local emulator",
        "api_url": settings.ZT_API_URL,
        "partner_id": settings.ZT_PARTNER_ID,
    }


def quota_per_minute() -> int:
    return int(settings.ZT_QUOTA_REQUESTS * 60 / settings.ZT_QUOTA_PERIOD_SECONDS)


def _from_timestamp(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def api_health(*, now: float | None = None) -> ApiHealth:
    """The last hour of API calls in figures: use of the quota by lane per minute, failures by status,
    latency per API method, the limiter's waits, and when a call last succeeded."""
    now = time.time() if now is None else now
    quota = quota_per_minute()
    try:
        store = call_store()
        calls = store.calls_since(now - WINDOW_SECONDS)
        last_success = store.last_success()
    except Exception as exc:  # the page shows what else it knows; this part says why it is empty
        return _empty_health(now, quota, f"The record of API calls could not be read ({type(exc).__name__}).")
    return ApiHealth(
        quota_per_minute=quota,
        minutes=_minutes(calls, now, quota),
        calls_last_hour=len(calls),
        errors_by_status=Counter(c.status_label for c in calls if not c.ok).most_common(),
        latency=_latency(calls),
        limiter_waits=_waits(calls),
        last_success=_from_timestamp(last_success),
    )


def _empty_health(now: float, quota: int, why: str) -> ApiHealth:
    return ApiHealth(quota, _minutes([], now, quota), 0, [], [], {}, None, unavailable=why)


def _minutes(calls: list[ApiCall], now: float, quota: int) -> list[MinuteUse]:
    current = int(now // 60) * 60
    counts: dict[int, Counter] = defaultdict(Counter)
    for call in calls:
        counts[int(call.at // 60) * 60][call.lane] += 1
    minutes = []
    for back in range(MINUTES_SHOWN):
        start = current - 60 * back
        by_lane = {lane: counts[start][lane] for lane in LANES}
        total = sum(counts[start].values())
        minutes.append(
            MinuteUse(
                start=datetime.fromtimestamp(start, UTC),
                by_lane=by_lane,
                total=total,
                quota_percent=round(100 * total / quota) if quota else 0,
            )
        )
    return minutes


def _latency(calls: list[ApiCall]) -> list[MethodLatency]:
    durations: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        durations[call.api_method].append(call.duration_ms)
    return [
        MethodLatency(method, len(values), percentile(values, 0.5), percentile(values, 0.95))
        for method, values in sorted(durations.items())
    ]


def _waits(calls: list[ApiCall]) -> dict[str, tuple[int, float]]:
    waits: dict[str, tuple[int, float]] = {}
    for lane in LANES:
        waited = [c.limiter_wait_ms for c in calls if c.lane == lane and c.limiter_wait_ms > 0]
        waits[lane] = (len(waited), round(sum(waited) / 1000, 1))
    return waits


# --- Batch operations and the sync ----------------------------------------------------------------

WAITING_STATES = (BatchChunk.State.SUBMITTED, BatchChunk.State.UNKNOWN)


@dataclass(frozen=True)
class PendingOperations:
    count: int
    oldest: list[BatchChunk]  # the longest waiting first, a few


def pending_operations(*, shown: int = 10) -> PendingOperations:
    """Chunks whose operation the portal waits on: sent and being processed, or whose answer was lost
    and whose devices are being checked."""
    waiting = BatchChunk.objects.filter(state__in=WAITING_STATES)
    oldest = list(waiting.select_related("job").order_by("submitted_at", "pk")[:shown])
    return PendingOperations(count=waiting.count(), oldest=oldest)


def sync_state() -> dict:
    return sync_overview(recent=2)


# --- Celery ---------------------------------------------------------------------------------------


@dataclass
class CeleryStatus:
    queue: str
    queue_depth: int | None  # None when the broker did not answer
    workers: list[str] = field(default_factory=list)  # names of the workers that answered a ping
    pinged: bool = False  # False: the workers were not asked (yet)
    problem: str = ""


def celery_status(*, ping: bool = True, ping_timeout: float = 0.5) -> CeleryStatus:
    """Messages waiting in the default queue, and the workers that answer a ping within the timeout
    (a worker busy with a long step answers between tasks; one that does not answer may be busy).

    ``ping=False`` only asks the broker: the health page's first render says the workers are being
    checked and asks for them at once, as a fresh process's first ping often gets no answer in time.
    """
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    status = CeleryStatus(queue=queue, queue_depth=None)
    try:
        with current_app.connection_for_read() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            status.queue_depth = _queue_depth(broker, queue)
        if not ping:
            return status
        replies = current_app.control.ping(timeout=ping_timeout) or []
        if not replies:  # a process's first ping goes unanswered on the filesystem broker: ask again
            replies = current_app.control.ping(timeout=ping_timeout) or []
    except Exception as exc:
        status.problem = f"The broker did not answer ({type(exc).__name__}: {exc})."
        return status
    status.workers = sorted(name for reply in replies for name in reply)
    status.pinged = True
    return status


def _queue_depth(broker, queue: str) -> int:
    from kombu.exceptions import ChannelError

    try:
        return broker.default_channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # the queue was never declared: nothing was ever sent to it
        return 0


# --- Sign-in attacks -----------------------------------------------------------------------------

# portal.signin lists here the accounts and addresses that reached a sign-in limit, with the cache
# keys of their counters: the counts go on growing after the listing, and are read as the page is.
SIGN_IN_ALERTS_KEY = "signin-alerts"


@dataclass(frozen=True)
class SignInAlert:
    scope: str  # "account" (from any address: refuses nobody) or "address" (refused for the window)
    label: str  # the username (scrubbed, at most 64 characters) or the address
    failures: int
    addresses: int | None  # for an account: how many addresses failed
    refused: int  # attempts the throttle refused (not tried) since
    minutes: int


def sign_in_alerts(*, now: float | None = None) -> list[SignInAlert]:
    """Accounts under attack and addresses stopped by the sign-in throttle, the most failures first."""
    now = time.time() if now is None else now
    try:
        listed = cache.get(SIGN_IN_ALERTS_KEY) or {}
        alerts = []
        for entry in listed.values():
            if entry["expires"] <= now:
                continue
            counts = cache.get_many(
                [k for k in (entry["failures_key"], entry["addresses_key"], entry["refused_key"]) if k]
            )
            addresses = counts.get(entry["addresses_key"], 0) if entry["addresses_key"] else None
            alerts.append(
                SignInAlert(
                    scope=entry["scope"],
                    label=entry["label"],
                    failures=max(0, counts.get(entry["failures_key"], 0)),
                    addresses=None if addresses is None else max(0, addresses),
                    refused=counts.get(entry["refused_key"], 0),
                    minutes=math.ceil((entry["expires"] - entry["opened"]) / 60),
                )
            )
    except Exception:  # a cache that does not answer hides the notice, not the page
        return []
    return sorted(alerts, key=lambda alert: alert.failures, reverse=True)


# --- Readiness ------------------------------------------------------------------------------------


def readiness() -> tuple[bool, dict]:
    """(ready, the checks as JSON) for a load balancer or a compose healthcheck.

    Ready means this web process can serve: its database and its broker answer. The last successful
    API call is reported but does not decide: when zero-touch is down the portal still serves its
    cache, and taking every web process out of the load balancer would turn a degraded portal into
    none.
    """
    database = _check_database()
    broker = _check_broker()
    try:
        last = call_store().last_success()
    except Exception:
        last = None
    api = {"last_success": _from_timestamp(last).isoformat() if last else None}
    if last:
        api["seconds_ago"] = round(time.time() - last)
    ready = database["ok"] and broker["ok"]
    return ready, {
        "status": "ready" if ready else "not ready",
        "database": database,
        "broker": broker,
        "api": api,
    }


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_database() -> dict:
    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    result = _timed(select_one)
    if not result["ok"]:
        connection.close_if_unusable_or_obsolete()
    return result


def _check_broker() -> dict:
    def connect() -> None:
        with current_app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=2)

    return _timed(connect)
