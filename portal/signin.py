"""Sign-in throttling: failed sign-ins are counted per (account, address), per address and per account.

The counters live in Django's cache, which the settings point at the Redis the broker already uses,
or at a table of the portal's own database: either way every web process sees the same counts. This
is a small limiter of the project's own rather than django-axes: one dependency less to keep in
step with Django 6.1, and no store of its own beside the Redis or database the portal already runs.

A subject gets a fixed window that opens at its first failure and lasts
``LOGIN_FAILURE_WINDOW_SECONDS``. Three subjects count each failure:

- an account *from one address*: at ``LOGIN_FAILURES_PER_ACCOUNT`` that address is refused for that
  account, the right password included, until the window closes;
- an address, whatever usernames it tries: at ``LOGIN_FAILURES_PER_ADDRESS`` it is refused for all;
- an account from anywhere: this count refuses nobody (anyone could then lock anyone out, the admin
  included). It tells the admins on /ops/ that the account is under attack.

So the owner of an account signs in from their own address while others guess at it. There is no
delay on top: a sleep would hold a web worker per request, and an attacker's own requests would then
take the portal down for everyone. Guessing stays bounded by the two limits per address.

A refused attempt is not tried, and is not written to the audit log one by one: the first refusal of
a window writes one row, later ones only add to a count that /ops/ shows. A username is the client's
own text: the log and the audit log get it with control characters removed, cut to 64 characters.

A count lives under a key named after its window's opening time, so a count can never outlive its
window, whatever the cache backend does with expiry times.
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
from ops.health import SIGN_IN_ALERTS_KEY

logger = logging.getLogger(__name__)

USERNAME_SHOWN = 64
ALERTS_KEPT = 100  # accounts and addresses /ops/ can name at once; the oldest go first


def _digest(text: str) -> str:
    # Hashed: a username may hold characters a cache key must not (spaces, control characters).
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def scrubbed_username(username: str) -> str:
    """What the log, the audit log and /ops/ may show of a typed username: printable characters
    only (no control or bidi characters), at most 64 of them."""
    return "".join(ch for ch in username if ch.isprintable())[:USERNAME_SHOWN]


@dataclass(frozen=True)
class FailureWindow:
    """The failed sign-ins of one subject: ``scope`` says what kind ("account", "address", ...)."""

    scope: str
    subject: str
    limit: int
    seconds: int

    @property
    def key(self) -> str:
        return f"signin-failures:{self.scope}:{_digest(self.subject)}"

    def counter_key(self, opened: float, counter: str = "failures") -> str:
        return f"{self.key}:{counter}:{opened!r}"

    def opened(self) -> float | None:
        return cache.get(self.key)

    def retry_after(self, now: float) -> float:
        """Seconds until this subject may try again; 0 when it may now."""
        opened = self.opened()
        if opened is None or cache.get(self.counter_key(opened), 0) < self.limit:
            return 0.0
        return max(0.0, opened + self.seconds - now)

    def add_failure(self, now: float) -> tuple[float, int]:
        """Count one failure; returns the window's opening time and its failures so far.

        ``add`` creates a key only if it is missing, so processes counting at the same moment do not
        open two windows.
        """
        cache.add(self.key, now, timeout=self.seconds)
        opened = cache.get(self.key, now)
        return opened, self.incr(opened, "failures")

    def incr(self, opened: float, counter: str, by: int = 1) -> int:
        """Add to one of the window's counters; returns its new value.

        ``incr`` is one Redis command, so concurrent counts are not lost. (The database cache does
        ``incr`` as a read and a write: good enough for limits of a handful.)
        """
        key = self.counter_key(opened, counter)
        cache.add(key, 0, timeout=self.seconds)
        try:
            count = cache.incr(key, by)
        except ValueError:  # expired between add and incr
            cache.add(key, by, timeout=self.seconds)
            count = by
        # The database cache's incr writes the value back with the default timeout; give it the window.
        cache.touch(key, timeout=self.seconds)
        return count

    def clear(self) -> None:
        """Close the window: the next failure opens a new one, and the old count expires unread."""
        cache.delete(self.key)


def account_window(username: str) -> FailureWindow:
    """Usernames are compared case-insensitively, so "Admin" and "admin" share one count.

    From every address together: it refuses nobody, it only tells /ops/ of an attack."""
    return FailureWindow(
        scope="account",
        subject=username.casefold(),
        limit=settings.LOGIN_FAILURES_PER_ACCOUNT,
        seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
    )


def account_address_window(username: str, address: str) -> FailureWindow:
    """One account from one address: the address that made the failures is refused for the account."""
    return FailureWindow(
        scope="account-address",
        subject=f"{username.casefold()}\n{address}",
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


def _refusing_windows(username: str, address: str) -> list[FailureWindow]:
    return [account_address_window(username, address), address_window(address)]


def sign_in_retry_after(*, username: str, address: str) -> int:
    """Whole seconds until a sign-in as ``username`` from ``address`` may be tried; 0 if it may now.

    Only the failures of this address count: those of the account from elsewhere refuse nobody."""
    now = time.time()
    return math.ceil(max(window.retry_after(now) for window in _refusing_windows(username, address)))


def sign_in_failure_record(*, username: str, address: str, throttled: bool) -> None:
    """Count a failed sign-in, log it and write it to the audit log; or, when the throttle refused
    it (it was never tried), count the refusal, writing only the first of its window. The password
    is never passed in, so it cannot end up in either."""
    now = time.time()
    if throttled:
        _record_refusal(username=username, address=address, now=now)
        return
    account = account_window(username)
    opened, failures = account.add_failure(now)
    if cache.add(account.counter_key(opened, f"seen-{_digest(address)}"), True, timeout=account.seconds):
        account.incr(opened, "addresses")
    account_address_window(username, address).add_failure(now)
    address_failures = address_window(address)
    address_opened, failed_from_address = address_failures.add_failure(now)
    if failures >= account.limit:
        _alert(account, label=scrubbed_username(username.casefold()), opened=opened)
    if failed_from_address >= address_failures.limit:
        _alert(address_failures, label=address, opened=address_opened)
    _audit(username=username, address=address, throttled=False)


def _record_refusal(*, username: str, address: str, now: float) -> None:
    started = False  # the first refusal of a window: the one that is written down
    for window in _refusing_windows(username, address):
        opened = window.opened()
        if opened is not None and window.retry_after(now) and window.incr(opened, "refused") == 1:
            started = True
    account = account_window(username)
    if (opened := account.opened()) is not None:
        account.incr(opened, "refused")
    if started:
        _audit(username=username, address=address, throttled=True)


def _audit(*, username: str, address: str, throttled: bool) -> None:
    label = scrubbed_username(username)
    refused = " (refused: too many failures; later refusals are only counted)" if throttled else ""
    logger.warning("Failed sign-in as %r from %s%s", label, address, refused)
    audit_record(
        actor=None,
        action="auth.sign_in_failed",
        target_type="auth.user",
        target_label=label,
        outcome=AuditEvent.Outcome.FAILED,
        details={"address": address, "throttled": throttled},
    )


def _alert(window: FailureWindow, *, label: str, opened: float) -> None:
    """Name the account or address on /ops/ (``ops.health.sign_in_alerts`` reads the counters).

    The list is read and written whole: two processes writing at once may drop an entry, which the
    next failure of that subject puts back."""
    alerts = cache.get(SIGN_IN_ALERTS_KEY) or {}
    if alerts.get(window.key, {}).get("opened") == opened:
        return
    now = time.time()
    alerts = {key: alert for key, alert in alerts.items() if alert["expires"] > now}
    alerts[window.key] = {
        "scope": window.scope,
        "label": label,
        "opened": opened,
        "expires": opened + window.seconds,
        "failures_key": window.counter_key(opened, "failures"),
        "addresses_key": window.counter_key(opened, "addresses") if window.scope == "account" else None,
        "refused_key": window.counter_key(opened, "refused"),
    }
    newest = sorted(alerts.items(), key=lambda item: item[1]["opened"], reverse=True)[:ALERTS_KEPT]
    cache.set(SIGN_IN_ALERTS_KEY, dict(newest), timeout=window.seconds)


def sign_in_success_record(*, username: str, address: str) -> None:
    """The account's owner got in from ``address``: forget that address's failures for the account,
    and take them off the account's count, which then holds only the failures from elsewhere. The
    address keeps its own count, across usernames."""
    pair = account_address_window(username, address)
    if (pair_opened := pair.opened()) is None:
        return
    mistakes = cache.get(pair.counter_key(pair_opened), 0)
    pair.clear()
    account = account_window(username)
    opened = account.opened()
    if opened is None or not mistakes:
        return
    if cache.delete(account.counter_key(opened, f"seen-{_digest(address)}")):
        account.incr(opened, "addresses", by=-1)
    account.incr(opened, "failures", by=-mistakes)


def retry_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins. Try again in {minutes} {unit}."
