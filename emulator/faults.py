"""Injected trouble and what the API was asked: faults, quota and request statistics.

Faults apply to API requests only (never to ``/_emulator/`` control endpoints):

- ``quota_per_minute``: requests over this many in the last 60 seconds get 429 RESOURCE_EXHAUSTED
  with a ``Retry-After`` header (seconds until the oldest counted request leaves the window).
  0 turns the quota off. Refused requests don't count against the quota.
- ``latency_ms``: added before the request is handled.
- ``drop_rate``: the connection is closed without a response, before the request is handled.
- ``drop_after_rate``: the request is handled (state changes), then the connection is closed
  without a response — the case where a client can't know whether its request took effect.
- ``error_rate`` / ``error_codes``: the request is answered with one of these HTTP statuses (in
  Google's error JSON) without being handled.
- ``methods``: API method ids (``partners.devices.claimAsync``...) the latency, drop and error faults
  apply to; empty means every method. The quota always counts every API request.
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields

from .errors import ApiError, ResourceExhausted, fault_error


@dataclass
class FaultSettings:
    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [500, 503])
    latency_ms: float = 0.0
    quota_per_minute: int = 0
    drop_rate: float = 0.0
    drop_after_rate: float = 0.0
    methods: list[str] = field(default_factory=list)


@dataclass
class FaultDecision:
    latency: float = 0.0
    error: ApiError | None = None
    drop_before: bool = False
    drop_after: bool = False


def _probability(name: str, value) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")
    return number


class Faults:
    """The current fault settings, the quota window and the dice; safe to use from many threads."""

    def __init__(self, random_seed: int | None = None, clock=time.monotonic):
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._rng = random.Random(random_seed)
        self._window: collections.deque[float] = collections.deque()
        self._clock = clock

    def settings(self) -> dict:
        with self._lock:
            return asdict(self._settings)

    def configure(self, **changes) -> dict:
        """Change some settings (the others stay); ``ValueError`` for an unknown or invalid one."""
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known - {"random_seed"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            settings = asdict(self._settings)
            settings.update({k: v for k, v in changes.items() if k in known})
            clean = FaultSettings(
                error_rate=_probability("error_rate", settings["error_rate"]),
                error_codes=[int(code) for code in settings["error_codes"]],
                latency_ms=max(0.0, float(settings["latency_ms"])),
                quota_per_minute=max(0, int(settings["quota_per_minute"] or 0)),
                drop_rate=_probability("drop_rate", settings["drop_rate"]),
                drop_after_rate=_probability("drop_after_rate", settings["drop_after_rate"]),
                methods=[str(m) for m in settings["methods"] or []],
            )
            if clean.error_rate and not clean.error_codes:
                raise ValueError("error_codes must not be empty when error_rate is set")
            if any(not 400 <= code <= 599 for code in clean.error_codes):
                raise ValueError("error_codes must be HTTP error statuses (400-599)")
            self._settings = clean
            if changes.get("random_seed") is not None:
                self._rng = random.Random(int(changes["random_seed"]))
            return asdict(clean)

    def clear(self) -> dict:
        with self._lock:
            self._settings = FaultSettings()
            self._window.clear()
            return asdict(self._settings)

    def check_quota(self) -> ApiError | None:
        """Count one API request against the quota, or the 429 to answer it with."""
        with self._lock:
            quota = self._settings.quota_per_minute
            if not quota:
                return None
            now = self._clock()
            window = self._window
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= quota:
                retry_after = max(1, math.ceil(window[0] + 60.0 - now))
                return ResourceExhausted(
                    "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
                    "'androiddeviceprovisioning.googleapis.com'.",
                    reason="RATE_LIMIT_EXCEEDED",
                    headers={"Retry-After": str(retry_after)},
                )
            window.append(now)
            return None

    def decide(self, method: str) -> FaultDecision:
        """Roll the dice for one API request of ``method``."""
        with self._lock:
            settings = self._settings
            if settings.methods and method not in settings.methods:
                return FaultDecision()
            rng = self._rng
            decision = FaultDecision(latency=settings.latency_ms / 1000.0)
            if settings.drop_rate and rng.random() < settings.drop_rate:
                decision.drop_before = True
            elif settings.error_rate and rng.random() < settings.error_rate:
                decision.error = fault_error(rng.choice(settings.error_codes))
            elif settings.drop_after_rate and rng.random() < settings.drop_after_rate:
                decision.drop_after = True
            return decision


class Stats:
    """Requests counted by API method and outcome (the HTTP status, or ``dropped``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()

    def count(self, method: str, outcome: str) -> None:
        with self._lock:
            self._counts[(method, outcome)] += 1

    def snapshot(self) -> dict:
        with self._lock:
            counts = dict(self._counts)
        methods: dict[str, dict[str, int]] = {}
        for (method, outcome), number in sorted(counts.items()):
            methods.setdefault(method, {})[outcome] = number
        return {"total": sum(counts.values()), "methods": methods}

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
