"""The client of Google's Android Device Provisioning Partner API v1 (the zero-touch reseller API).

Every public method is one API method, takes keyword arguments and returns the dataclasses of
``zerotouch.resources`` (listings: a ``zerotouch.paging.Pager`` of them). All of them send their
request through ``Transport.request()`` (``zerotouch.transport``), which owns the timeouts, the rate
limiter, the retries (``zerotouch.retry``: each method's docstring states its rule), the mapping of
errors to ``zerotouch.errors`` and the log record of each call.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests

from .auth import build_session, settle_environment
from .operations import MAX_BATCH_SIZE, OperationMethods
from .paging import MAX_PAGE_SIZE, Page, Pager, checked_page_size, find_pager, list_pager
from .ratelimit import FileTokenBucket, LocalTokenBucket, Priority, Quota, RateLimiter, RedisTokenBucket
from .resources import (
    ClaimResult,
    Company,
    Device,
    DeviceIdentifier,
    DeviceMetadata,
    PartnerClaim,
    PartnerUnclaim,
    SectionType,
)
from .retry import RetryPolicy, Safety
from .transport import Transport

__all__ = ["DEFAULT_BASE_URL", "MAX_BATCH_SIZE", "MAX_PAGE_SIZE", "Client", "build_client"]

DEFAULT_BASE_URL = "https://androiddeviceprovisioning.googleapis.com"


def _segment(value: str | int) -> str:
    text = str(value)
    if not text:
        raise ValueError("An ID in a resource path must not be empty.")
    return quote(text, safe="")


class Client(OperationMethods):
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
        self._transport = Transport(
            session,
            base_url,
            partner_id,
            timeout=timeout,
            deadline=deadline,
            priority=priority,
            limiter=limiter,
            retry=retry,
            sleep=sleep,
            clock=clock,
            random=random,
        )
        self.base_url = self._transport.base_url
        self.partner_id = self._transport.partner_id
        self._partner = f"/v1/partners/{_segment(self.partner_id)}"

    def __repr__(self) -> str:
        return f"<zerotouch.Client partner {self.partner_id} at {self.base_url}>"

    @property
    def timeout(self) -> tuple[float, float]:
        return self._transport.options.timeout

    @property
    def deadline(self) -> float:
        return self._transport.options.deadline

    @property
    def priority(self) -> Priority:
        return self._transport.options.priority

    @property
    def limiter(self) -> RateLimiter:
        return self._transport.limiter

    @property
    def retry(self) -> RetryPolicy:
        return self._transport.retry

    @property
    def _session(self) -> requests.Session:
        return self._transport.session

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
        other._transport = self._transport.with_options(deadline=deadline, priority=priority, timeout=timeout)
        return other

    def close(self) -> None:
        self._transport.close()

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
        payload = self._transport.request(
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
    ) -> Pager[Company]:
        """Every customer of this reseller (``partners.customers.list``), page after page.

        Without ``page_size`` the server decides (Google then returns all customers at once).
        ``deadline`` applies to each page's request. Retry rule: READ (retried freely).
        """
        size = checked_page_size(page_size, default=None)
        return list_pager(
            self._transport.request,
            "partners.customers.list",
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
    ) -> Pager[Company]:
        """The reseller's vendors (``partners.vendors.list``). Retry rule: READ."""
        size = checked_page_size(page_size, default=None)
        return list_pager(
            self._transport.request,
            "partners.vendors.list",
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
    ) -> Pager[Company]:
        """The customers of one vendor (``partners.vendors.customers.list``). Retry rule: READ."""
        size = checked_page_size(page_size, default=None)
        return list_pager(
            self._transport.request,
            "partners.vendors.customers.list",
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
        payload = self._transport.request(
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
    ) -> Pager[Device]:
        """Devices matching hardware IDs (``partners.devices.findByIdentifier``); serial numbers match
        case-insensitively. ``page_size`` is the API's ``limit``, 1-100. Retry rule: READ (a POST, but
        it changes nothing)."""
        size = checked_page_size(page_size, default=MAX_PAGE_SIZE)
        body = {"deviceIdentifier": identifier.to_json()}
        return find_pager(
            self._transport.request,
            "partners.devices.findByIdentifier",
            f"{self._partner}/devices:findByIdentifier",
            body,
            Device.from_json,
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
    ) -> Pager[Device]:
        """Devices this reseller claimed for the given customers (``partners.devices.findByOwner``).

        Devices the customers bought from other resellers are not included. ``page_size`` is the
        API's ``limit``, 1-100. Iterate the ``Pager`` for ``Device`` objects; bulk readers take its
        ``pages()``, each with the devices' JSON (``items_json``) and the ``next_page_token`` that
        resumes the listing after it. Retry rule: READ (a POST, but it changes nothing).
        """
        if not customer_ids and not google_workspace_customer_ids:
            raise ValueError("Give at least one customer ID or Google Workspace customer ID.")
        size = checked_page_size(page_size, default=MAX_PAGE_SIZE)
        body: dict[str, Any] = {"sectionType": str(section_type)}
        if customer_ids:
            body["customerId"] = [str(customer_id) for customer_id in customer_ids]
        if google_workspace_customer_ids:
            body["googleWorkspaceCustomerId"] = list(google_workspace_customer_ids)
        return find_pager(
            self._transport.request,
            "partners.devices.findByOwner",
            f"{self._partner}/devices:findByOwner",
            body,
            Device.from_json,
            page_size=size,
            page_token=page_token,
            deadline=deadline,
            priority=priority,
        )

    def devices_find_by_owner_pages(self, **arguments: Any) -> Iterator[Page[Device]]:
        """``devices_find_by_owner(**arguments).pages()``: the entry point of checkpointing readers
        (the portal's sync), kept by name so that a wrapper of the client can stand in for it."""
        return self.devices_find_by_owner(**arguments).pages()

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
        payload = self._transport.request(
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
        payload = self._transport.request(
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
        self._transport.request(
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
        payload = self._transport.request(
            "partners.devices.metadata",
            "POST",
            f"{self._partner}/devices/{_segment(device_id)}/metadata",
            safety=Safety.IDEMPOTENT,
            body={"deviceMetadata": metadata.to_json()},
            deadline=deadline,
            priority=priority,
        )
        return DeviceMetadata.from_json(payload)


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
