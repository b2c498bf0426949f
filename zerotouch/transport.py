"""The one place where the client's requests are sent.

``Transport.request()`` is what every API method of ``zerotouch.Client`` goes through. It owns:

- a timeout on every request (connect, read), never longer than what is left of the call's deadline;
- a token from the rate limiter first (waiting for it counts against the deadline);
- the attempts, through ``zerotouch.retry.Retrying``: this module says what each attempt came to (an
  answer, or a ``Failure`` that may be retried), the retry module decides what happens next;
- Google's error JSON and requests' exceptions mapped to the exceptions of ``zerotouch.errors``;
- one structured log record per call, without request or response bodies (personal data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests
import urllib3.exceptions
from google.auth import exceptions as google_auth_exceptions

from .errors import (
    ConnectionFailed,
    CredentialsError,
    InvalidResponse,
    OutcomeUnknown,
    RateLimited,
    Timeout,
    TransportError,
    ZeroTouchError,
    error_from_response,
)
from .ratelimit import LocalTokenBucket, Priority, Quota, RateLimiter
from .retry import RETRYABLE_HTTP_CODES, Failure, Retrying, RetryPolicy, Safety

__all__ = ["CallOptions", "Transport"]

# The portal's call log and the docs name this logger: it keeps the name it had when the whole client
# lived in zerotouch/client.py.
logger = logging.getLogger("zerotouch.client")

#: Failures that another attempt cannot fix: TLS and malformed URLs or headers.
_PERMANENT_TRANSPORT_ERRORS = (
    requests.exceptions.SSLError,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)
#: Upper bound of the passes of the wait-for-a-token loop (each pass sleeps or returns).
_MAX_LIMITER_WAITS = 10_000


@dataclass(frozen=True, slots=True)
class CallOptions:
    """A transport's defaults for each call: ``(connect, read)`` timeout, deadline, priority."""

    timeout: tuple[float, float]
    deadline: float
    priority: Priority


def timeout_pair(timeout: float | tuple[float, float]) -> tuple[float, float]:
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if connect <= 0 or read <= 0:
        raise ValueError("Timeouts must be positive.")
    return float(connect), float(read)


@dataclass(slots=True)
class _Call:
    """One API call under way: what its errors and its log record say."""

    api_method: str
    http_method: str
    url: str
    priority: Priority
    timeout: tuple[float, float]
    started: float
    http_status: int | None = None  # of the last answer received
    limiter_wait: float = 0.0  # seconds spent waiting for the limiter's tokens, over all attempts

    @property
    def context(self) -> dict[str, Any]:
        return {"api_method": self.api_method, "method": self.http_method, "url": self.url}


class Transport:
    """Sends requests for one partner through ``session``, within its quota. ``zerotouch.Client``
    builds it and holds the defaults; see there for the arguments. ``with_options()`` gives a view
    with other defaults sharing the session and the limiter; ``close()`` closes both."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        partner_id: str | int,
        *,
        timeout: float | tuple[float, float],
        deadline: float,
        priority: Priority,
        limiter: RateLimiter | None,
        retry: RetryPolicy | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        random: Callable[[], float],
    ) -> None:
        if not str(partner_id):
            raise ValueError("partner_id must not be empty.")
        if deadline <= 0:
            raise ValueError("The deadline must be positive.")
        base = base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.session = session
        self.base_url = base
        self.partner_id = str(partner_id)
        self.options = CallOptions(
            timeout=timeout_pair(timeout), deadline=float(deadline), priority=Priority(priority)
        )
        self.limiter: RateLimiter = limiter if limiter is not None else LocalTokenBucket(Quota())
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._random = random

    def with_options(
        self,
        *,
        deadline: float | None = None,
        priority: Priority | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> Transport:
        other = object.__new__(Transport)
        other.__dict__.update(self.__dict__)
        changes: dict[str, Any] = {}
        if deadline is not None:
            if deadline <= 0:
                raise ValueError("The deadline must be positive.")
            changes["deadline"] = float(deadline)
        if priority is not None:
            changes["priority"] = Priority(priority)
        if timeout is not None:
            changes["timeout"] = timeout_pair(timeout)
        other.options = replace(self.options, **changes)
        return other

    def close(self) -> None:
        self.session.close()
        close_limiter = getattr(self.limiter, "close", None)
        if close_limiter is not None:
            close_limiter()

    # -----------------------------------------------------------------------------------------------
    # A call

    def request(
        self,
        api_method: str,
        http_method: str,
        path: str,
        *,
        safety: Safety,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> dict[str, Any]:
        """Send one API call: rate limit, timeout, retries, error mapping and logging.

        Returns the decoded JSON body (``{}`` for an empty one) or raises a ``ZeroTouchError``.
        """
        options = self.options
        budget = options.deadline if deadline is None else float(deadline)
        if budget <= 0:
            raise ValueError("The deadline must be positive.")
        call = _Call(
            api_method=api_method,
            http_method=http_method,
            url=self.base_url + path,
            priority=options.priority if priority is None else Priority(priority),
            timeout=options.timeout,
            started=self._clock(),
        )
        retrying = Retrying(
            safety,
            self.retry,
            call.started + budget,
            clock=self._clock,
            sleep=self._sleep,
            random=self._random,
        )
        try:
            response = retrying.run(
                lambda remaining: self._send(call, remaining, body, params),
                acquire=lambda: self._wait_for_token(call, retrying.deadline_at),
                too_late=lambda: Timeout(
                    f"{api_method} ran out of time before it could be sent",
                    request_sent=False,
                    **call.context,
                ),
                on_retry=lambda attempt, error, delay: _log_retry(call, attempt, error, delay),
            )
            payload = self._decode(response, call, retrying)
        except ZeroTouchError as exc:
            self._log(call, retrying.attempts, exc)
            raise
        self._log(call, retrying.attempts, None)
        return payload

    def _send(
        self,
        call: _Call,
        remaining: float,
        body: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
    ) -> requests.Response | Failure:
        """One attempt: the successful answer, or what went wrong and whether the server may have
        acted on the request."""
        connect_timeout, read_timeout = call.timeout
        timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
        try:
            response = self.session.request(
                call.http_method, call.url, json=body, params=params, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            error = _transport_error(exc, call.context)
            return Failure(
                error, acted=error.request_sent, retryable=not isinstance(exc, _PERMANENT_TRANSPORT_ERRORS)
            )
        except google_auth_exceptions.RefreshError as exc:
            reason, answer = _token_refusal(exc)
            raise CredentialsError(
                f"The service account's access token could not be refreshed: {answer}",
                reason=reason,
                **call.context,
            ) from None
        except google_auth_exceptions.TransportError:
            # The token endpoint was unreachable: the API request itself was never sent.
            error = ConnectionFailed(
                "Google's token endpoint could not be reached to refresh the access token",
                request_sent=False,
                **call.context,
            )
            return Failure(error, acted=False, retryable=True)
        status = call.http_status = response.status_code
        if 200 <= status < 300:
            return response
        return Failure(
            error_from_response(response, api_method=call.api_method),
            acted=status != 429,  # the quota is checked before anything is done
            retryable=status in RETRYABLE_HTTP_CODES,
            shed=status == 503,
        )

    def _decode(self, response: requests.Response, call: _Call, retrying: Retrying) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            error = InvalidResponse(
                f"{call.api_method} answered HTTP {response.status_code} with a body that is not "
                "a JSON object",
                **call.context,
            )
            # The server accepted the call but its answer is unreadable: for a state change the caller
            # must find out by reading what happened.
            raise retrying.failure(error, acted=True)
        return payload

    def _wait_for_token(self, call: _Call, deadline_at: float) -> RateLimited | None:
        """Take a token from the limiter, sleeping while there is none; ``RateLimited`` when the next
        token would come after the deadline. The time slept is added to ``call.limiter_wait``, so that
        each call's log record says how long the quota held it back."""
        for _ in range(_MAX_LIMITER_WAITS):
            wait = self.limiter.try_acquire(self.partner_id, call.priority)
            if wait <= 0:
                return None
            if self._clock() + wait >= deadline_at:
                return RateLimited(
                    code=429,
                    status="RESOURCE_EXHAUSTED",
                    message=(
                        f"the client's own quota for partner {self.partner_id} has no free request "
                        f"before the deadline; the next is expected in {wait:.2f} s"
                    ),
                    retry_after=wait,
                    **call.context,
                )
            self._sleep(wait)
            call.limiter_wait += wait
        return RateLimited(
            code=429,
            status="RESOURCE_EXHAUSTED",
            message="the client's own quota kept the request waiting too long",
            **call.context,
        )

    def _log(self, call: _Call, attempts: int, exc: ZeroTouchError | None) -> None:
        """One record per call (not per attempt), with the facts as ``extra`` fields for structured
        handlers (the portal counts its calls from them). Bodies are never logged: they hold personal
        data."""
        level = logging.INFO if exc is None else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        duration_ms = round((self._clock() - call.started) * 1000, 1)
        if exc is None:
            outcome = "ok"
        elif isinstance(exc, OutcomeUnknown):
            outcome = "outcome_unknown"
        else:
            outcome = "error"
        logger.log(
            level,
            "%s %s in %.1f ms after %d attempt(s)%s",
            call.api_method,
            outcome if exc is None else f"{outcome} ({exc})",
            duration_ms,
            attempts,
            "" if call.http_status is None else f", last HTTP status {call.http_status}",
            extra={
                "api_method": call.api_method,
                "http_method": call.http_method,
                "http_status": call.http_status,
                "duration_ms": duration_ms,
                "outcome": outcome,
                "error_type": None if exc is None else type(exc).__name__,
                "attempts": attempts,
                "retries": max(0, attempts - 1),
                "partner_id": self.partner_id,
                "priority": str(call.priority),
                "limiter_wait_ms": round(call.limiter_wait * 1000, 1),
            },
        )


def _log_retry(call: _Call, attempt: int, error: ZeroTouchError, delay: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s: %s Retrying in %.3f s.",
            call.api_method,
            error,
            delay,
            extra={
                "api_method": call.api_method,
                "http_status": call.http_status,
                "attempt": attempt,
                "delay_ms": round(delay * 1000, 1),
                "error_type": type(error).__name__,
            },
        )


# ---------------------------------------------------------------------------------------------------
# Mapping requests' and google-auth's exceptions


def _never_sent(exc: requests.RequestException) -> bool:
    """True when ``exc`` proves the request never reached the server: it failed while connecting.

    requests wraps urllib3's errors: a refused or unresolvable connection is a ``NewConnectionError``
    and a connect timeout a ``ConnectTimeoutError`` (``NewConnectionError`` is a subclass of it), both
    found as the ``reason`` of a ``MaxRetryError``. A reset, an aborted connection or a read timeout
    may come after the server got the whole request, so they do not count.
    """
    if isinstance(exc, (requests.ConnectTimeout, *_PERMANENT_TRANSPORT_ERRORS)):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
    return False


def _transport_error(exc: requests.RequestException, context: dict[str, Any]) -> TransportError:
    sent = not _never_sent(exc)
    what = context["api_method"]
    if isinstance(exc, requests.Timeout):
        phase = "reading the answer" if sent else "connecting"
        return Timeout(f"{what} timed out while {phase}", request_sent=sent, **context)
    if sent:
        message = f"The connection broke during {what}, possibly after the server received it"
    else:
        message = f"The zero-touch API could not be reached for {what}"
    return ConnectionFailed(f"{message} ({type(exc).__name__})", request_sent=sent, **context)


def _token_refusal(exc: google_auth_exceptions.RefreshError) -> tuple[str | None, str]:
    """(the OAuth error code, the token endpoint's answer in words) of a failed refresh.

    google-auth puts the endpoint's ``error: error_description`` first in the exception's arguments
    (e.g. "invalid_grant: Invalid JWT Signature."); it names the problem and holds no secret: the
    assertion and the key never appear in it. Anything longer than a sentence is cut.
    """
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    if not first:
        return None, f"the token endpoint refused ({type(exc).__name__})"
    code, separator, _ = first.partition(":")
    reason = code.strip() if separator and code.strip().replace("_", "").isalpha() else None
    return reason, f"the token endpoint answered {first[:200]}"
