"""The client of Google's Android Device Provisioning Partner API v1 (the zero-touch reseller API).

Every public method is one API method, takes keyword arguments and returns the dataclasses of
``zerotouch.resources``. All of them go through ``Client._request()``, which owns the rules:

- a timeout on every request (connect, read), never longer than what is left of the call's deadline;
- a token from the rate limiter first (waiting for it counts against the deadline);
- retries of 429/500/502/503/504 and connection failures with full-jitter exponential backoff,
  ``Retry-After`` honoured, bounded by ``max_attempts`` and the deadline, and restricted for calls that
  change state (see ``zerotouch.retry``: each method's docstring states its rule);
- Google's error JSON mapped to the exceptions of ``zerotouch.errors``;
- one structured log record per call, without request or response bodies (personal data).
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import requests
import urllib3.exceptions
from google.auth import exceptions as google_auth_exceptions

from .auth import build_session, settle_environment
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
from .ratelimit import FileTokenBucket, LocalTokenBucket, Priority, Quota, RateLimiter, RedisTokenBucket
from .resources import (
    ClaimResult,
    Company,
    Device,
    DeviceIdentifier,
    DeviceMetadata,
    MetadataUpdate,
    Operation,
    PartnerClaim,
    PartnerUnclaim,
    SectionType,
)
from .retry import RETRYABLE_HTTP_CODES, RetryPolicy, Safety, backoff_delay

__all__ = ["DEFAULT_BASE_URL", "MAX_BATCH_SIZE", "MAX_PAGE_SIZE", "Client", "build_client"]

logger = logging.getLogger("zerotouch.client")

DEFAULT_BASE_URL = "https://androiddeviceprovisioning.googleapis.com"
#: ``limit`` of findByOwner/findByIdentifier must be 1-100; the client applies the same cap to lists.
MAX_PAGE_SIZE = 100
#: Items per claimAsync/unclaimAsync/updateMetadataAsync request, per Google's reseller documentation.
MAX_BATCH_SIZE = 100_000
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
class _CallOptions:
    timeout: tuple[float, float]
    deadline: float
    priority: Priority


def _timeout_pair(timeout: float | tuple[float, float]) -> tuple[float, float]:
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if connect <= 0 or read <= 0:
        raise ValueError("Timeouts must be positive.")
    return float(connect), float(read)


def _page_size(value: int | None, *, default: int | None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"page_size must be an int, not {type(value).__name__}.")
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {value}.")
    return value


def _batch(items: Sequence[Any], kind: type, name: str) -> list[Any]:
    items = list(items)
    if not 1 <= len(items) <= MAX_BATCH_SIZE:
        raise ValueError(f"{name} must hold between 1 and {MAX_BATCH_SIZE:,} items, not {len(items):,}.")
    for item in items:
        if not isinstance(item, kind):
            raise TypeError(f"{name} must hold {kind.__name__} items, not {type(item).__name__}.")
    return items


def _segment(value: str | int) -> str:
    text = str(value)
    if not text:
        raise ValueError("An ID in a resource path must not be empty.")
    return quote(text, safe="")


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


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its items, and the token that fetches the next (None: the last page)."""

    items: list[Any]
    next_page_token: str | None


class Client:
    """Calls the reseller API for one partner.

    ``session``: a ``requests.Session`` carrying the credentials (see ``zerotouch.auth.build_session``).
    ``base_url``: ``https://androiddeviceprovisioning.googleapis.com`` or the emulator's URL.
    ``timeout``: ``(connect, read)`` seconds per request, or one number for both.
    ``deadline``: seconds a whole call may take, retries and waits for the rate limiter included;
    ``deadline=`` on a method overrides it for that call. Web requests want a few seconds; batch work
    can afford a minute.
    ``limiter``: the token bucket (``LocalTokenBucket`` by default, ``RedisTokenBucket`` to share
    the quota between processes). ``priority``: the default priority of this client's calls.
    ``sleep``, ``clock``, ``random``: injectable for tests.

    Closing the client closes its session and limiter. ``with_options()`` gives a view with other
    defaults that shares them; close only the original.
    """

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        partner_id: str | int,
        timeout: float | tuple[float, float] = (3.05, 20.0),
        *,
        deadline: float = 30.0,
        priority: Priority = Priority.BATCH,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not str(partner_id):
            raise ValueError("partner_id must not be empty.")
        if deadline <= 0:
            raise ValueError("The deadline must be positive.")
        base = base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        self._session = session
        self.base_url = base
        self.partner_id = str(partner_id)
        self._options = _CallOptions(
            timeout=_timeout_pair(timeout), deadline=float(deadline), priority=Priority(priority)
        )
        self.limiter: RateLimiter = limiter if limiter is not None else LocalTokenBucket(Quota())
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._random = random
        self._partner = f"/v1/partners/{_segment(self.partner_id)}"

    def __repr__(self) -> str:
        return f"<zerotouch.Client partner {self.partner_id} at {self.base_url}>"

    @property
    def timeout(self) -> tuple[float, float]:
        return self._options.timeout

    @property
    def deadline(self) -> float:
        return self._options.deadline

    @property
    def priority(self) -> Priority:
        return self._options.priority

    def with_options(
        self,
        *,
        deadline: float | None = None,
        priority: Priority | None = None,
        timeout: float | tuple[float, float] | None = None,
    ) -> Client:
        """A client sharing this one's session and limiter, with other defaults.

        ``client.with_options(deadline=4, priority=Priority.INTERACTIVE)`` is what a web view wants.
        """
        other = object.__new__(Client)
        other.__dict__.update(self.__dict__)
        changes: dict[str, Any] = {}
        if deadline is not None:
            if deadline <= 0:
                raise ValueError("The deadline must be positive.")
            changes["deadline"] = float(deadline)
        if priority is not None:
            changes["priority"] = Priority(priority)
        if timeout is not None:
            changes["timeout"] = _timeout_pair(timeout)
        other._options = replace(self._options, **changes)
        return other

    def close(self) -> None:
        self._session.close()
        close_limiter = getattr(self.limiter, "close", None)
        if close_limiter is not None:
            close_limiter()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------------
    # Customers

    def customers_create(
        self,
        *,
        company_name: str,
        owner_emails: Sequence[str],
        admin_emails: Sequence[str] = (),
        language_code: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Company:
        """Create a customer (``partners.customers.create``) and return it with its new ID.

        The name cannot be changed afterwards, and at least one owner email (a Google Account, not a
        personal Gmail address) is required.

        Retry rule: ONCE. A repeat would create a second customer with the same name, which no API
        call can remove, so the request is repeated only when it never reached the server or was
        refused with 429. Any other failure after sending raises ``OutcomeUnknown``: list the
        customers (``customers_list``) to see whether it was created.
        """
        if not company_name:
            raise ValueError("company_name is required.")
        if not owner_emails:
            raise ValueError("At least one owner email is required.")
        customer = Company(
            company_id="",
            company_name=company_name,
            owner_emails=tuple(owner_emails),
            admin_emails=tuple(admin_emails),
            language_code=language_code,
        )
        payload = self._request(
            "partners.customers.create",
            "POST",
            f"{self._partner}/customers",
            safety=Safety.ONCE,
            body={"customer": customer.to_json()},
            deadline=deadline,
            priority=priority,
        )
        return Company.from_json(payload)

    def customers_list(
        self,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Company]:
        """Every customer of this reseller (``partners.customers.list``), page after page.

        Without ``page_size`` the server decides (Google then returns all customers at once).
        ``deadline`` applies to each page's request. Retry rule: READ (retried freely).
        """
        size = _page_size(page_size, default=None)
        return self._paginate(
            "partners.customers.list",
            "GET",
            f"{self._partner}/customers",
            "customers",
            Company.from_json,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
        )

    # -----------------------------------------------------------------------------------------------
    # Vendors

    def vendors_list(
        self,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Company]:
        """The reseller's vendors (``partners.vendors.list``). Retry rule: READ."""
        size = _page_size(page_size, default=None)
        return self._paginate(
            "partners.vendors.list",
            "GET",
            f"{self._partner}/vendors",
            "vendors",
            Company.from_json,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
        )

    def vendors_customers_list(
        self,
        *,
        vendor_id: str | int,
        page_size: int | None = None,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Company]:
        """The customers of one vendor (``partners.vendors.customers.list``). Retry rule: READ."""
        size = _page_size(page_size, default=None)
        return self._paginate(
            "partners.vendors.customers.list",
            "GET",
            f"{self._partner}/vendors/{_segment(vendor_id)}/customers",
            "customers",
            Company.from_json,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
        )

    # -----------------------------------------------------------------------------------------------
    # Devices: reads

    def devices_get(
        self, *, device_id: str | int, deadline: float | None = None, priority: Priority | None = None
    ) -> Device:
        """One device by its API ID (``partners.devices.get``). Retry rule: READ."""
        payload = self._request(
            "partners.devices.get",
            "GET",
            f"{self._partner}/devices/{_segment(device_id)}",
            safety=Safety.READ,
            deadline=deadline,
            priority=priority,
        )
        return Device.from_json(payload)

    def devices_find_by_identifier(
        self,
        *,
        identifier: DeviceIdentifier,
        page_size: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Device]:
        """Devices matching hardware IDs (``partners.devices.findByIdentifier``); serial numbers match
        case-insensitively. ``page_size`` is the API's ``limit``, 1-100. Retry rule: READ (a POST, but
        it changes nothing)."""
        size = _page_size(page_size, default=MAX_PAGE_SIZE)
        body = {"deviceIdentifier": identifier.to_json()}
        return self._find(
            "partners.devices.findByIdentifier",
            f"{self._partner}/devices:findByIdentifier",
            body,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
        )

    def devices_find_by_owner(
        self,
        *,
        customer_ids: Sequence[str | int] = (),
        google_workspace_customer_ids: Sequence[str] = (),
        section_type: str = SectionType.ZERO_TOUCH,
        page_size: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Device]:
        """Devices this reseller claimed for the given customers (``partners.devices.findByOwner``).

        Devices the customers bought from other resellers are not included. ``page_size`` is the
        API's ``limit``, 1-100. Retry rule: READ (a POST, but it changes nothing).
        """
        return self._find_by_owner(
            Device.from_json,
            customer_ids,
            google_workspace_customer_ids,
            section_type,
            page_size,
            page_token,
            deadline,
            priority,
        )

    def devices_find_by_owner_json(
        self,
        *,
        customer_ids: Sequence[str | int] = (),
        google_workspace_customer_ids: Sequence[str] = (),
        section_type: str = SectionType.ZERO_TOUCH,
        page_size: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``devices_find_by_owner``, yielding each device as the API's JSON object (what
        ``Device.from_json`` reads) rather than a ``Device``: for bulk readers that map the JSON
        themselves, since building the typed objects costs more than the request does."""
        return self._find_by_owner(
            dict,
            customer_ids,
            google_workspace_customer_ids,
            section_type,
            page_size,
            page_token,
            deadline,
            priority,
        )

    def devices_find_by_owner_pages(
        self,
        *,
        customer_ids: Sequence[str | int] = (),
        google_workspace_customer_ids: Sequence[str] = (),
        section_type: str = SectionType.ZERO_TOUCH,
        page_size: int = MAX_PAGE_SIZE,
        page_token: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Iterator[Page]:
        """``devices_find_by_owner_json`` a page at a time: each ``Page`` holds the devices' JSON and
        the ``next_page_token`` that resumes the listing after it, so that a long read can save where
        it is and carry on later (from another process) with ``page_token``."""
        return self._find_by_owner(
            dict,
            customer_ids,
            google_workspace_customer_ids,
            section_type,
            page_size,
            page_token,
            deadline,
            priority,
            by_page=True,
        )

    def _find_by_owner(
        self,
        build: Callable[[Mapping[str, Any]], Any],
        customer_ids: Sequence[str | int],
        google_workspace_customer_ids: Sequence[str],
        section_type: str,
        page_size: int,
        page_token: str | None,
        deadline: float | None,
        priority: Priority | None,
        by_page: bool = False,
    ) -> Iterator[Any]:
        if not customer_ids and not google_workspace_customer_ids:
            raise ValueError("Give at least one customer ID or Google Workspace customer ID.")
        size = _page_size(page_size, default=MAX_PAGE_SIZE)
        body: dict[str, Any] = {"sectionType": str(section_type)}
        if customer_ids:
            body["customerId"] = [str(customer_id) for customer_id in customer_ids]
        if google_workspace_customer_ids:
            body["googleWorkspaceCustomerId"] = list(google_workspace_customer_ids)
        return self._find(
            "partners.devices.findByOwner",
            f"{self._partner}/devices:findByOwner",
            body,
            build=build,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
            by_page=by_page,
        )

    def devices_get_sim_lock_state(
        self,
        *,
        identifier: DeviceIdentifier,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> str:
        """The device's SIM lock state, one of ``SimLockState`` (``partners.devices.getSimLockState``).

        Retry rule: READ.
        """
        payload = self._request(
            "partners.devices.getSimLockState",
            "POST",
            f"{self._partner}/devices:getSimLockState",
            safety=Safety.READ,
            body={"deviceIdentifier": identifier.to_json()},
            deadline=deadline,
            priority=priority,
        )
        return payload.get("simLockState", "SIM_LOCK_STATE_UNSPECIFIED")

    # -----------------------------------------------------------------------------------------------
    # Devices: one at a time

    def devices_claim(
        self,
        *,
        identifier: DeviceIdentifier,
        customer_id: str | int | None = None,
        google_workspace_customer_id: str | None = None,
        section_type: str = SectionType.ZERO_TOUCH,
        metadata: DeviceMetadata | Mapping[str, str] | None = None,
        pre_provisioning_token: str | None = None,
        configuration_id: str | int | None = None,
        simlock_profile_id: str | int | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> ClaimResult:
        """Claim one device for a customer (``partners.devices.claim``).

        Give ``customer_id`` (Android) or ``google_workspace_customer_id`` with a
        ``pre_provisioning_token`` (ChromeOS). A device claimed for another customer is refused.

        Retry rule: IDEMPOTENT. Claiming a device for the customer it is already claimed for changes
        nothing, so a repeat is harmless and transient failures are retried. If an earlier attempt
        may have been carried out and a later one fails (for instance because a pre-provisioning
        token is single-use), the result is ``OutcomeUnknown``: read the device to see its claim.
        """
        if (customer_id is None) == (google_workspace_customer_id is None):
            raise ValueError("Give exactly one of customer_id and google_workspace_customer_id.")
        if metadata is not None and not isinstance(metadata, DeviceMetadata):
            metadata = DeviceMetadata(entries=dict(metadata))
        claim = PartnerClaim(
            identifier=identifier,
            customer_id=None if customer_id is None else str(customer_id),
            google_workspace_customer_id=google_workspace_customer_id,
            section_type=section_type,
            metadata=metadata,
            pre_provisioning_token=pre_provisioning_token,
            configuration_id=None if configuration_id is None else str(configuration_id),
            simlock_profile_id=None if simlock_profile_id is None else str(simlock_profile_id),
        )
        payload = self._request(
            "partners.devices.claim",
            "POST",
            f"{self._partner}/devices:claim",
            safety=Safety.IDEMPOTENT,
            body=claim.to_json(),
            deadline=deadline,
            priority=priority,
        )
        return ClaimResult.from_json(payload)

    def devices_unclaim(
        self,
        *,
        device_id: str | int | None = None,
        identifier: DeviceIdentifier | None = None,
        section_type: str = SectionType.ZERO_TOUCH,
        vacation_mode_days: int | None = None,
        vacation_mode_expire_time: str | None = None,
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> None:
        """Unclaim one device, given by ``device_id`` or by ``identifier`` (``partners.devices.unclaim``).

        Retry rule: IDEMPOTENT. The goal state, "not claimed by this reseller", is the same after one
        request or two, so transient failures are retried. After a success the device is no longer
        claimed, so a repeat is refused; when that happens after an attempt that may have acted, the
        result is ``OutcomeUnknown`` (the device is most likely unclaimed; read it to be sure).
        """
        if (device_id is None) == (identifier is None):
            raise ValueError("Give exactly one of device_id and identifier.")
        unclaim = PartnerUnclaim(
            device_id=None if device_id is None else str(device_id),
            identifier=identifier,
            section_type=section_type,
            vacation_mode_days=vacation_mode_days,
            vacation_mode_expire_time=vacation_mode_expire_time,
        )
        self._request(
            "partners.devices.unclaim",
            "POST",
            f"{self._partner}/devices:unclaim",
            safety=Safety.IDEMPOTENT,
            body=unclaim.to_json(),
            deadline=deadline,
            priority=priority,
        )

    def devices_metadata(
        self,
        *,
        device_id: str | int,
        entries: DeviceMetadata | Mapping[str, str],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> DeviceMetadata:
        """Set the reseller's metadata on one device (``partners.devices.metadata``); an empty value
        deletes its key. Returns the metadata the server stored. Android devices only.

        Retry rule: IDEMPOTENT. Setting keys to given values twice leaves the same values, so
        transient failures are retried; a failure after an attempt that may have acted is
        ``OutcomeUnknown``.
        """
        metadata = entries if isinstance(entries, DeviceMetadata) else DeviceMetadata(entries=dict(entries))
        payload = self._request(
            "partners.devices.metadata",
            "POST",
            f"{self._partner}/devices/{_segment(device_id)}/metadata",
            safety=Safety.IDEMPOTENT,
            body={"deviceMetadata": metadata.to_json()},
            deadline=deadline,
            priority=priority,
        )
        return DeviceMetadata.from_json(payload)

    # -----------------------------------------------------------------------------------------------
    # Devices: batches (long-running operations)

    def devices_claim_async(
        self,
        *,
        claims: Sequence[PartnerClaim],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of claims (``partners.devices.claimAsync``); poll the returned operation with
        ``operations_get``. Up to 100,000 items; results come back per item, in request order.

        Retry rule: ONCE. Every accepted request starts a new operation, and a duplicate would run the
        batch twice under a name the caller never learns. Repeated only when the request never reached
        the server or was refused with 429; otherwise ``OutcomeUnknown``: read the devices' claims
        (``devices_find_by_identifier``) before submitting again.
        """
        items = _batch(claims, PartnerClaim, "claims")
        payload = self._request(
            "partners.devices.claimAsync",
            "POST",
            f"{self._partner}/devices:claimAsync",
            safety=Safety.ONCE,
            body={"claims": [claim.to_json() for claim in items]},
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)

    def devices_unclaim_async(
        self,
        *,
        unclaims: Sequence[PartnerUnclaim],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of unclaims (``partners.devices.unclaimAsync``). Up to 100,000 items.

        Retry rule: ONCE, as for ``devices_claim_async`` (a duplicate batch could also undo a claim
        made in between).
        """
        items = _batch(unclaims, PartnerUnclaim, "unclaims")
        payload = self._request(
            "partners.devices.unclaimAsync",
            "POST",
            f"{self._partner}/devices:unclaimAsync",
            safety=Safety.ONCE,
            body={"unclaims": [unclaim.to_json() for unclaim in items]},
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)

    def devices_update_metadata_async(
        self,
        *,
        updates: Sequence[MetadataUpdate],
        deadline: float | None = None,
        priority: Priority | None = None,
    ) -> Operation:
        """Submit a batch of metadata updates (``partners.devices.updateMetadataAsync``). Up to
        100,000 items. Android devices only.

        Retry rule: ONCE, as for ``devices_claim_async``.
        """
        items = _batch(updates, MetadataUpdate, "updates")
        payload = self._request(
            "partners.devices.updateMetadataAsync",
            "POST",
            f"{self._partner}/devices:updateMetadataAsync",
            safety=Safety.ONCE,
            body={"updates": [update.to_json() for update in items]},
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)

    def operations_get(
        self, *, name: str, deadline: float | None = None, priority: Priority | None = None
    ) -> Operation:
        """The latest state of a batch operation (``operations.get``), by the name that the
        submission returned (``operations/...``). Retry rule: READ."""
        if not name:
            raise ValueError("The operation name must not be empty.")
        if not name.startswith("operations/"):
            name = f"operations/{name}"
        payload = self._request(
            "operations.get",
            "GET",
            f"/v1/{quote(name, safe='/')}",
            safety=Safety.READ,
            deadline=deadline,
            priority=priority,
        )
        return Operation.from_json(payload)

    # -----------------------------------------------------------------------------------------------
    # Pagination

    def _find(
        self,
        api_method: str,
        path: str,
        body: dict[str, Any],
        *,
        build: Callable[[Mapping[str, Any]], Any] = Device.from_json,
        page_size: int | None,
        page_token: str | None,
        deadline: float | None,
        priority: Priority | None,
        by_page: bool = False,
    ) -> Iterator[Any]:
        def fetch(token: str | None) -> Mapping[str, Any]:
            page_body = dict(body, limit=str(page_size))
            if token:
                page_body["pageToken"] = token
            return self._request(
                api_method,
                "POST",
                path,
                safety=Safety.READ,
                body=page_body,
                deadline=deadline,
                priority=priority,
            )

        if by_page:
            return self._page_list(api_method, fetch, "devices", build, page_token)
        return self._pages(api_method, fetch, "devices", build, page_token)

    def _paginate(
        self,
        api_method: str,
        http_method: str,
        path: str,
        items_key: str,
        build: Callable[[Mapping[str, Any]], Any],
        *,
        page_size: int | None,
        page_token: str | None,
        deadline: float | None,
        priority: Priority | None,
    ) -> Iterator[Any]:
        def fetch(token: str | None) -> Mapping[str, Any]:
            params: dict[str, Any] = {}
            if page_size is not None:
                params["pageSize"] = page_size
            if token:
                params["pageToken"] = token
            return self._request(
                api_method,
                http_method,
                path,
                safety=Safety.READ,
                params=params,
                deadline=deadline,
                priority=priority,
            )

        return self._pages(api_method, fetch, items_key, build, page_token)

    @staticmethod
    def _page_list(
        api_method: str,
        fetch: Callable[[str | None], Mapping[str, Any]],
        items_key: str,
        build: Callable[[Mapping[str, Any]], Any],
        page_token: str | None,
    ) -> Iterator[Page]:
        """Yield pages, following ``nextPageToken`` until the server omits it.

        A token the server already gave once would start a cycle; that is reported as an invalid
        response instead of looping for ever.
        """
        seen: set[str] = set()
        token = page_token
        while True:
            payload = fetch(token)
            token = payload.get("nextPageToken") or None
            yield Page(items=[build(item) for item in payload.get(items_key) or ()], next_page_token=token)
            if token is None:
                return
            if token in seen:
                raise InvalidResponse(
                    f"The server sent the same page token twice while paging {api_method}",
                    api_method=api_method,
                )
            seen.add(token)

    @classmethod
    def _pages(
        cls,
        api_method: str,
        fetch: Callable[[str | None], Mapping[str, Any]],
        items_key: str,
        build: Callable[[Mapping[str, Any]], Any],
        page_token: str | None,
    ) -> Iterator[Any]:
        """Yield items page by page (see ``_page_list``)."""
        for page in cls._page_list(api_method, fetch, items_key, build, page_token):
            yield from page.items

    # -----------------------------------------------------------------------------------------------
    # The one place where requests are sent

    def _request(
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
        The loop is bounded twice: by ``RetryPolicy.max_attempts`` and by the deadline.
        """
        options = self._options
        budget = options.deadline if deadline is None else float(deadline)
        if budget <= 0:
            raise ValueError("The deadline must be positive.")
        priority = options.priority if priority is None else Priority(priority)
        url = self.base_url + path
        connect_timeout, read_timeout = options.timeout
        policy = self.retry
        clock = self._clock
        started = clock()
        deadline_at = started + budget
        attempts = 0
        maybe_acted = False  # may an attempt so far have reached the server and acted?
        waited = [0.0]  # seconds spent waiting for the limiter's tokens, over all attempts
        http_status: int | None = None
        last_error: ZeroTouchError | None = None
        context = {"api_method": api_method, "method": http_method, "url": url}

        try:
            for attempt in range(1, policy.max_attempts + 1):
                error: ZeroTouchError | None = self._wait_for_token(priority, deadline_at, context, waited)
                if error is not None:
                    raise self._final(error, safety, maybe_acted, attempts)
                remaining = deadline_at - clock()
                if remaining <= 0:  # a sleep overshot the deadline: no time left for another attempt
                    error = last_error or Timeout(
                        f"{api_method} ran out of time before it could be sent", request_sent=False, **context
                    )
                    raise self._final(error, safety, maybe_acted, attempts)
                timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
                attempts += 1
                try:
                    response = self._session.request(
                        http_method, url, json=body, params=params, timeout=timeout, allow_redirects=False
                    )
                except requests.RequestException as exc:
                    error = self._transport_error(exc, context)
                    acted = error.request_sent
                    retryable = not isinstance(exc, _PERMANENT_TRANSPORT_ERRORS)
                except google_auth_exceptions.RefreshError as exc:
                    reason, answer = _token_refusal(exc)
                    raise CredentialsError(
                        f"The service account's access token could not be refreshed: {answer}",
                        reason=reason,
                        **context,
                    ) from None
                except google_auth_exceptions.TransportError:
                    # The token endpoint was unreachable: the API request itself was never sent.
                    error = ConnectionFailed(
                        "Google's token endpoint could not be reached to refresh the access token",
                        request_sent=False,
                        **context,
                    )
                    acted, retryable = False, True
                else:
                    http_status = response.status_code
                    if 200 <= http_status < 300:
                        payload = self._decode(response, safety, attempts, context)
                        self._log(
                            api_method, http_method, http_status, started, attempts, priority, None, waited[0]
                        )
                        return payload
                    error = error_from_response(response, api_method=api_method)
                    acted = http_status != 429  # the quota is checked before anything is done
                    retryable = http_status in RETRYABLE_HTTP_CODES

                if not retryable:
                    raise self._final(error, safety, maybe_acted, attempts)
                if acted and safety is Safety.ONCE:
                    raise self._final(error, safety, True, attempts)
                maybe_acted = maybe_acted or acted
                last_error = error
                if attempt == policy.max_attempts:
                    raise self._final(error, safety, maybe_acted, attempts)
                delay = backoff_delay(
                    attempt, policy, retry_after=getattr(error, "retry_after", None), random=self._random
                )
                if clock() + delay >= deadline_at:
                    raise self._final(error, safety, maybe_acted, attempts)
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "%s: %s Retrying in %.3f s.",
                        api_method,
                        error,
                        delay,
                        extra={
                            "api_method": api_method,
                            "http_status": http_status,
                            "attempt": attempt,
                            "delay_ms": round(delay * 1000, 1),
                            "error_type": type(error).__name__,
                        },
                    )
                self._sleep(delay)
            raise ValueError("RetryPolicy.max_attempts must be at least 1.")  # unreachable by construction
        except ZeroTouchError as exc:
            self._log(api_method, http_method, http_status, started, attempts, priority, exc, waited[0])
            raise

    def _decode(
        self, response: requests.Response, safety: Safety, attempts: int, context: dict[str, Any]
    ) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            error = InvalidResponse(
                f"{context['api_method']} answered HTTP {response.status_code} with a body that is not "
                "a JSON object",
                **context,
            )
            # The server accepted the call but its answer is unreadable: for a state change the caller
            # must find out by reading what happened.
            raise self._final(error, safety, True, attempts)
        return payload

    def _final(
        self, error: ZeroTouchError, safety: Safety, maybe_acted: bool, attempts: int
    ) -> ZeroTouchError:
        """The exception for the caller: the error itself, or ``OutcomeUnknown`` when a state change
        may have happened that the error does not account for."""
        if safety is not Safety.READ and maybe_acted:
            return OutcomeUnknown(
                cause=error,
                attempts=attempts,
                api_method=error.api_method,
                method=error.method,
                url=error.url,
            )
        return error

    def _wait_for_token(
        self, priority: Priority, deadline_at: float, context: dict[str, Any], waited: list[float]
    ) -> RateLimited | None:
        """Take a token from the limiter, sleeping while there is none; ``RateLimited`` when the next
        token would come after the deadline. The time slept is added to ``waited[0]``, so that each
        call's log record says how long the quota held it back."""
        for _ in range(_MAX_LIMITER_WAITS):
            wait = self.limiter.try_acquire(self.partner_id, priority)
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
                    **context,
                )
            self._sleep(wait)
            waited[0] += wait
        return RateLimited(
            code=429,
            status="RESOURCE_EXHAUSTED",
            message="the client's own quota kept the request waiting too long",
            **context,
        )

    @staticmethod
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

    def _log(
        self,
        api_method: str,
        http_method: str,
        http_status: int | None,
        started: float,
        attempts: int,
        priority: Priority,
        exc: ZeroTouchError | None,
        limiter_wait: float = 0.0,
    ) -> None:
        """One record per call (not per attempt), with the facts as ``extra`` fields for structured
        handlers (the portal counts its calls from them). Bodies are never logged: they hold personal
        data."""
        level = logging.INFO if exc is None else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        duration_ms = round((self._clock() - started) * 1000, 1)
        if exc is None:
            outcome = "ok"
        elif isinstance(exc, OutcomeUnknown):
            outcome = "outcome_unknown"
        else:
            outcome = "error"
        logger.log(
            level,
            "%s %s in %.1f ms after %d attempt(s)%s",
            api_method,
            outcome if exc is None else f"{outcome} ({exc})",
            duration_ms,
            attempts,
            "" if http_status is None else f", last HTTP status {http_status}",
            extra={
                "api_method": api_method,
                "http_method": http_method,
                "http_status": http_status,
                "duration_ms": duration_ms,
                "outcome": outcome,
                "error_type": None if exc is None else type(exc).__name__,
                "attempts": attempts,
                "retries": max(0, attempts - 1),
                "partner_id": self.partner_id,
                "priority": str(priority),
                "limiter_wait_ms": round(limiter_wait * 1000, 1),
            },
        )


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


def build_client(
    *,
    api_url: str = DEFAULT_BASE_URL,
    partner_id: str | int,
    credentials_file: str | None = None,
    connect_timeout: float = 3.05,
    read_timeout: float = 20.0,
    quota_requests: int = 1000,
    quota_period: float = 100.0,
    quota_burst: int | None = None,
    quota_reserve: int | None = None,
    quota_background_share: float = 0.7,
    redis_url: str | None = None,
    quota_file: str | None = None,
    redis_key_prefix: str = "zerotouch:quota",
    deadline: float = 30.0,
    priority: Priority = Priority.BATCH,
    token: str = "emulator",  # noqa: S107 - the emulator accepts any token; not a secret
    retry: RetryPolicy | None = None,
) -> Client:
    """Build a ready client from plain configuration values (what a settings module holds).

    ``credentials_file`` empty: a static bearer ``token`` is sent (the emulator accepts any). The quota
    is shared by every process through Redis with ``redis_url``, through a locked file on this machine
    with ``quota_file``, else it is this process's alone.
    """
    quota = Quota(
        requests=quota_requests,
        period=quota_period,
        burst=quota_burst,
        reserve=quota_reserve,
        background_share=quota_background_share,
    )
    limiter: RateLimiter
    if redis_url:
        limiter = RedisTokenBucket(redis_url, quota, key_prefix=redis_key_prefix)
    elif quota_file:
        limiter = FileTokenBucket(quota_file, quota)
    else:
        limiter = LocalTokenBucket(quota)
    session = build_session(
        credentials_file or None, token=token, refresh_timeout=connect_timeout + read_timeout
    )
    settle_environment(session, api_url)
    return Client(
        session,
        api_url,
        partner_id,
        (connect_timeout, read_timeout),
        deadline=deadline,
        priority=priority,
        limiter=limiter,
        retry=retry,
    )
