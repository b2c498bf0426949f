"""When a failed request may be sent again, and how long to wait first.

Three kinds of call, by what a second copy of the request would do on the server:

``READ``
    Changes nothing (``get``, ``list``, ``find*``, ``getSimLockState``, ``operations.get``): retried on
    every transient failure.
``IDEMPOTENT``
    Changes state, but a repeat leaves the same state as one request (``claim`` for the same customer,
    ``unclaim``, setting ``metadata``): retried on transient failures; if an earlier attempt may have
    acted and a later one fails, the caller gets ``OutcomeUnknown``.
``ONCE``
    Must not reach the server twice (``customers.create``, ``claimAsync``, ``unclaimAsync``,
    ``updateMetadataAsync``): retried only when the server provably did not act, i.e. the request
    never left this machine (connection refused, connect timeout) or the answer was 429. Any other
    failure after sending, 503 included, raises ``OutcomeUnknown``: Google documents ``UNAVAILABLE``
    as "not always safe to retry" for non-idempotent calls, and ``DEADLINE_EXCEEDED`` (504) as
    possibly returned after the operation completed.

The wait before retry *n* is "full jitter" (a uniform draw between 0 and ``min(max_backoff,
initial_backoff * multiplier ** (n - 1))``), and never less than the server's ``Retry-After``.
"""

from __future__ import annotations

import enum
import random as _random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RETRYABLE_HTTP_CODES", "RetryPolicy", "Safety", "backoff_delay"]

#: HTTP answers worth another attempt: quota, server error, bad gateway, unavailable, gateway timeout.
RETRYABLE_HTTP_CODES = frozenset({429, 500, 502, 503, 504})


class Safety(enum.Enum):
    READ = "read"
    IDEMPOTENT = "idempotent"
    ONCE = "once"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff parameters. ``max_attempts`` caps the attempts even when the deadline would allow more."""

    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    multiplier: float = 2.0
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.initial_backoff <= 0 or self.max_backoff < self.initial_backoff or self.multiplier < 1:
            raise ValueError("Backoff needs 0 < initial_backoff <= max_backoff and multiplier >= 1.")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1.")


def backoff_delay(
    retry_number: int,
    policy: RetryPolicy,
    *,
    retry_after: float | None = None,
    random: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry)."""
    exponent = min(retry_number - 1, 64)  # keep the power finite; max_backoff caps it anyway
    ceiling = min(policy.max_backoff, policy.initial_backoff * policy.multiplier**exponent)
    delay = random() * ceiling
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
