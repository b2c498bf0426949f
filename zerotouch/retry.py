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
    Must not reach the server twice (``customers.create``): retried only when the server provably
    did not act, i.e. the request never left this machine (connection refused, connect timeout) or
    the answer was 429. Any other failure after sending, 503 included, raises ``OutcomeUnknown``:
    Google documents ``UNAVAILABLE`` as "not always safe to retry" for non-idempotent calls, and
    ``DEADLINE_EXCEEDED`` (504) as possibly returned after the operation completed.
``SUBMIT``
    Starts a long-running operation on devices (``claimAsync``, ``unclaimAsync``,
    ``updateMetadataAsync``): as ``ONCE``, except that a 503 is taken as a refusal and sent again.
    That is a decision, not a certainty. It is taken because a 503 is how the service sheds load
    before work starts (Google's own Python client library, given ``num_retries``, sends any request
    again on any 5xx, whatever its method); because the alternative makes a batch wait out a settle
    window of a minute or more for every answered 503; and because the rare second copy it risks is
    harmless to the devices: a claim for the same customer, an unclaim of an unclaimed device or the
    same metadata again leaves each device as one request would (not so a second customer, hence
    ``ONCE`` for ``customers.create``). A 500, 502 or 504, or a lost answer, stays unknown.

The wait before retry *n* is "full jitter" (a uniform draw between 0 and ``min(max_backoff,
initial_backoff * multiplier ** (n - 1))``), and never less than the server's ``Retry-After``.

``Retrying`` is the loop that applies all this to one call: the transport hands it a function that
sends one attempt and says what came of it (an answer, or a ``Failure``), and gets back the answer or
the exception for the caller. The loop is bounded twice, by ``max_attempts`` and by the deadline, and
never recurses.
"""

from __future__ import annotations

import enum
import random as _random
from collections.abc import Callable
from dataclasses import dataclass

from .errors import OutcomeUnknown, ZeroTouchError

__all__ = [
    "RETRYABLE_HTTP_CODES",
    "Failure",
    "RetryPolicy",
    "Retrying",
    "Safety",
    "backoff_delay",
]

#: HTTP answers worth another attempt: quota, server error, bad gateway, unavailable, gateway timeout.
RETRYABLE_HTTP_CODES = frozenset({429, 500, 502, 503, 504})


class Safety(enum.Enum):
    READ = "read"
    IDEMPOTENT = "idempotent"
    ONCE = "once"
    SUBMIT = "submit"


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


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that brought no usable answer.

    ``acted``: the server may have carried the request out (it may have received it, and the failure
    does not say it refused: a 5xx, a read timeout, a broken connection; not a 429, since quota is
    checked before anything is done). ``shed``: the answer was 503, which ``Safety.SUBMIT`` takes as
    a refusal. ``retryable``: another attempt could succeed.
    """

    error: ZeroTouchError
    acted: bool
    retryable: bool
    shed: bool = False


class Retrying:
    """The attempts of one call: at most ``policy.max_attempts``, none started after ``deadline_at``
    (a ``clock()`` reading), full-jitter backoff between them, and the rules of ``safety`` for calls
    that change state. ``attempts`` counts the requests sent so far, for the caller's log record.
    """

    def __init__(
        self,
        safety: Safety,
        policy: RetryPolicy,
        deadline_at: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.safety = safety
        self.policy = policy
        self.deadline_at = deadline_at
        self.attempts = 0
        self.maybe_acted = False  # may an attempt so far have reached the server and acted?
        self._clock = clock
        self._sleep = sleep
        self._random = random

    def run[T](
        self,
        send: Callable[[float], T | Failure],
        *,
        acquire: Callable[[], ZeroTouchError | None],
        too_late: Callable[[], ZeroTouchError],
        on_retry: Callable[[int, ZeroTouchError, float], None] | None = None,
    ) -> T:
        """Call ``send(seconds_left)`` until it brings an answer, and return that answer.

        Before each attempt ``acquire()`` waits for permission to send (the rate limiter): the error it
        returns, if any, ends the call. ``too_late()`` is the error when a wait overshot the deadline
        before anything was sent. ``on_retry(attempt, error, delay)`` is told of each retry before its
        wait. Whatever ends the call unanswered is raised as ``failure()`` makes it.
        """
        policy = self.policy
        clock = self._clock
        last_error: ZeroTouchError | None = None
        for attempt in range(1, policy.max_attempts + 1):
            refused = acquire()
            if refused is not None:
                raise self.failure(refused)
            remaining = self.deadline_at - clock()
            if remaining <= 0:  # a sleep overshot the deadline: no time left for another attempt
                raise self.failure(last_error or too_late())
            self.attempts += 1
            result = send(remaining)
            if not isinstance(result, Failure):
                return result
            error = result.error
            if not result.retryable:
                raise self.failure(error)
            acted = result.acted and not (result.shed and self.safety is Safety.SUBMIT)
            if acted and self.safety in (Safety.ONCE, Safety.SUBMIT):
                raise self.failure(error, acted=True)
            self.maybe_acted = self.maybe_acted or acted
            last_error = error
            if attempt == policy.max_attempts:
                raise self.failure(error)
            delay = backoff_delay(
                attempt, policy, retry_after=getattr(error, "retry_after", None), random=self._random
            )
            if clock() + delay >= self.deadline_at:
                raise self.failure(error)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            self._sleep(delay)
        raise ValueError("RetryPolicy.max_attempts must be at least 1.")  # unreachable by construction

    def failure(self, error: ZeroTouchError, *, acted: bool = False) -> ZeroTouchError:
        """The exception for the caller: ``error`` itself, or ``OutcomeUnknown`` when a state change
        may have happened that ``error`` does not account for (in an earlier attempt, or, with
        ``acted``, in this one)."""
        if self.safety is not Safety.READ and (acted or self.maybe_acted):
            return OutcomeUnknown(
                cause=error,
                attempts=self.attempts,
                api_method=error.api_method,
                method=error.method,
                url=error.url,
            )
        return error
