"""Sign-in throttling: failed sign-ins are counted per account and per client address.

The counters live in Django's cache, which the settings point at the Redis the broker already uses,
or at a table of the portal's own database: either way every web process sees the same counts. This
is a small limiter of the project's own rather than django-axes: one dependency less to keep in
step with Django 6.1, and no store of its own beside the Redis or database the portal already runs.

A subject (an account or an address) gets a fixed window that opens at its first failure and lasts
``LOGIN_FAILURE_WINDOW_SECONDS``. Once its failures in the window reach the limit, every sign-in for
it is refused, the right password included, until the window closes. The count lives under a key
named after the window's opening time, so a count can never outlive its window, whatever the cache
backend does with expiry times.
"""

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from core.audit import audit_record
from core.models import AuditEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailureWindow:
    """The failed sign-ins of one subject: ``scope`` says what kind ("account", "address")."""

    scope: str
    subject: str
    limit: int
    seconds: int

    @property
    def _key(self) -> str:
        # Hashed: a username may hold characters a cache key must not (spaces, control characters).
        digest = hashlib.sha256(self.subject.encode()).hexdigest()[:32]
        return f"signin-failures:{self.scope}:{digest}"

    def _count_key(self, opened: float) -> str:
        return f"{self._key}:{opened!r}"

    def retry_after(self, now: float) -> float:
        """Seconds until this subject may try again; 0 when it may now."""
        opened = cache.get(self._key)
        if opened is None or cache.get(self._count_key(opened), 0) < self.limit:
            return 0.0
        return max(0.0, opened + self.seconds - now)

    def add_failure(self, now: float) -> int:
        """Count one failure; returns the failures of the window so far.

        ``add`` creates a key only if it is missing and ``incr`` is one Redis command, so processes
        counting at the same moment neither lose counts nor open two windows. (The database cache
        does ``incr`` as a read and a write: good enough for a limit of a handful.)
        """
        cache.add(self._key, now, timeout=self.seconds)
        opened = cache.get(self._key, now)
        count_key = self._count_key(opened)
        cache.add(count_key, 0, timeout=self.seconds)
        try:
            count = cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.add(count_key, 1, timeout=self.seconds)
            count = 1
        # The database cache's incr writes the value back with the default timeout; give it the window.
        cache.touch(count_key, timeout=self.seconds)
        return count

    def clear(self) -> None:
        """Close the window: the next failure opens a new one, and the old count expires unread."""
        cache.delete(self._key)


def account_window(username: str) -> FailureWindow:
    """Usernames are compared case-insensitively, so "Admin" and "admin" share one count."""
    return FailureWindow(
        scope="account",
        subject=username.casefold(),
        limit=settings.LOGIN_FAILURES_PER_ACCOUNT,
        seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
    )


def address_window(address: str) -> FailureWindow:
    return FailureWindow(
        scope="address",
        subject=address,
        limit=settings.LOGIN_FAILURES_PER_ADDRESS,
        seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
    )


def client_address(request: HttpRequest) -> str:
    """The address the request came from.

    ``REMOTE_ADDR``, unless the portal runs behind a trusted proxy (``TRUST_X_FORWARDED_PROTO``).
    Then the last ``X-Forwarded-For`` entry: the one the proxy itself added, naming whoever connected
    to it. The entries before it are whatever the client sent, and a client that could pick its
    address could step around the per-address limit.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.TRUST_X_FORWARDED_PROTO:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    try:
        return str(ipaddress.ip_address(hops[-1]))
    except ValueError:  # no header, or not an address: fall back to the proxy's own
        return remote


def sign_in_retry_after(*, username: str, address: str) -> int:
    """Whole seconds until a sign-in as ``username`` from ``address`` may be tried; 0 if it may now."""
    now = time.time()
    wait = max(account_window(username).retry_after(now), address_window(address).retry_after(now))
    return math.ceil(wait)


def sign_in_failure_record(*, username: str, address: str, throttled: bool) -> None:
    """Count a failed sign-in (unless it was refused by the throttle: that one was never tried), log it
    and write it to the audit log. The password is never passed in, so it cannot end up in either."""
    if not throttled:
        now = time.time()
        account_window(username).add_failure(now)
        address_window(address).add_failure(now)
    refused = " (refused: too many failures)" if throttled else ""
    logger.warning("Failed sign-in as %r from %s%s", username, address, refused)
    audit_record(
        actor=None,
        action="auth.sign_in_failed",
        target_type="auth.user",
        target_label=username,
        outcome=AuditEvent.Outcome.FAILURE,
        details={"address": address, "throttled": throttled},
    )


def sign_in_success_record(*, username: str) -> None:
    """The account's owner got in: forget its failures (the address keeps its own count)."""
    account_window(username).clear()


def retry_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins. Try again in {minutes} {unit}."
