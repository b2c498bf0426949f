"""Customers and vendors: keeping the cache in step with the API, and creating a customer."""

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.timesince import timesince

import zerotouch
from core.api import Lane, zerotouch_client
from core.audit import audit_record
from core.outcomes import Outcome
from customers.models import Customer, Vendor, fold_name
from customers.selectors import customer_created_recently

_CUSTOMER_COLUMNS = [
    "name",
    "name_folded",
    "admin_emails",
    "terms_status",
    "google_workspace_customer_id",
    "vendor",
    "last_synced_at",
]


@dataclass
class CustomerSyncCounts:
    customers: int = 0
    vendors: int = 0
    errors: list[str] | None = None


def customer_from_api(company: zerotouch.Company, *, vendor_id: int | None = None) -> Customer:
    now = timezone.now()
    return Customer(
        company_id=int(company.company_id),
        name=company.company_name,
        owner_emails=list(company.owner_emails),
        admin_emails=list(company.admin_emails),
        terms_status=company.terms_status or Customer.TermsStatus.UNSPECIFIED,
        language_code=company.language_code or "",
        google_workspace_customer_id=company.google_workspace_customer_id or "",
        vendor_id=vendor_id,
        first_seen_at=now,
        last_synced_at=now,
        name_folded=fold_name(company.company_name),
    )


def customers_store(companies: Iterable[zerotouch.Company], *, vendor_id: int | None = None) -> int:
    """Upsert customers as the API lists them. Owner emails and the language are input-only at
    Google (a listing leaves them out): the ones the cache knows, from creating the customer, are
    kept then."""
    rows = {
        c.company_id: c for c in (customer_from_api(company, vendor_id=vendor_id) for company in companies)
    }
    groups: dict[tuple[bool, bool], list[Customer]] = {}
    for row in rows.values():
        groups.setdefault((bool(row.owner_emails), bool(row.language_code)), []).append(row)
    for (owners, language), group in groups.items():
        columns = [
            *_CUSTOMER_COLUMNS,
            *(["owner_emails"] if owners else []),
            *(["language_code"] if language else []),
        ]
        Customer.objects.bulk_create(
            group, update_conflicts=True, unique_fields=["company_id"], update_fields=columns, batch_size=500
        )
    return len(rows)


def customers_sync(*, client: zerotouch.Client) -> CustomerSyncCounts:
    """Fetch the reseller's customers, its vendors and each vendor's customers into the cache.

    A vendor whose customers cannot be read is recorded as an error; the other vendors go on.
    Customers are never deleted: the API has no way to delete a company.
    """
    counts = CustomerSyncCounts(errors=[])
    own = list(client.customers_list(page_size=100))
    vendors = list(client.vendors_list(page_size=100))
    now = timezone.now()
    with transaction.atomic():
        counts.customers += customers_store(own)
        Vendor.objects.bulk_create(
            [
                Vendor(
                    company_id=int(v.company_id), name=v.company_name, first_seen_at=now, last_synced_at=now
                )
                for v in vendors
            ],
            update_conflicts=True,
            unique_fields=["company_id"],
            update_fields=["name", "last_synced_at"],
        )
    counts.vendors = len(vendors)
    for vendor in vendors:
        try:
            vendor_customers = list(client.vendors_customers_list(vendor_id=vendor.company_id, page_size=100))
        except zerotouch.ZeroTouchError as exc:
            counts.errors.append(f"Customers of vendor {vendor.company_name} ({vendor.company_id}): {exc}")
            continue
        counts.customers += customers_store(vendor_customers, vendor_id=int(vendor.company_id))
    return counts


# --- Creating a customer -------------------------------------------------------------------------


class CustomerCreateFailed(Exception):
    """The customer was not created (or it cannot be known whether it was); ``str()`` is for people.
    ``existing`` is the customer to go to instead, when the refusal is that it exists already."""

    def __init__(self, message: str, *, outcome_unknown: bool = False, existing: Customer | None = None):
        super().__init__(message)
        self.outcome_unknown = outcome_unknown
        self.existing = existing


# A customer can be neither deleted nor renamed, so a form sent twice (two tabs, Back, a network
# retry) must not make two. Each confirmation page carries a one-time token, kept in the cache
# (shared by every web process) for the person it was issued to; creating consumes it with one
# delete, which only one request can win, and leaves the new customer's id under the token so that
# a repeat can lead to it.
CREATE_TOKEN_SECONDS = 60 * 60
_TOKEN_FORMAT = re.compile(r"[A-Za-z0-9_-]{20,64}")


def _token_key(token: str) -> str:
    return f"customers:create-token:{token}"


def _token_customer_key(token: str) -> str:
    return f"customers:create-token:{token}:customer"


def customer_create_token_issue(*, actor: AbstractBaseUser) -> str:
    """A one-time token for one confirmation page, valid for an hour, for ``actor`` only."""
    token = secrets.token_urlsafe(24)
    cache.set(_token_key(token), actor.pk, timeout=CREATE_TOKEN_SECONDS)
    return token


def _token_consume(token: str, *, actor: AbstractBaseUser) -> bool:
    """True for the one request that spends the token (the cache's delete answers True only once)."""
    if not _TOKEN_FORMAT.fullmatch(token) or cache.get(_token_key(token)) != actor.pk:
        return False
    return bool(cache.delete(_token_key(token)))


def _token_spent(token: str, name: str) -> CustomerCreateFailed:
    first = None
    if _TOKEN_FORMAT.fullmatch(token) and (company_id := cache.get(_token_customer_key(token))) is not None:
        first = Customer.objects.filter(pk=company_id).first()
    if first is not None:
        return CustomerCreateFailed(
            f"This confirmation was sent already (another tab, the Back button or a retry), and it "
            f"created {first.name}; nothing more was created:",
            existing=first,
        )
    return CustomerCreateFailed(
        "This confirmation was sent already, or it has expired; nothing was created by this click. "
        f"Check the customers list for {name} before confirming again.",
        outcome_unknown=True,
    )


def _ago(moment: datetime) -> str:
    if timezone.now() - moment < timedelta(minutes=1):
        return "less than a minute ago"
    return f"{timesince(moment)} ago"


def customer_create_check(*, company_name: str) -> None:
    """Refuse a name the portal gave a customer minutes ago (``customer_created_recently``): the
    same form sent again, whatever the token, would otherwise make a second, permanent customer."""
    if (recent := customer_created_recently(company_name)) is not None:
        raise CustomerCreateFailed(
            f"{recent.customer.name} was created {_ago(recent.created_at)}:", existing=recent.customer
        )


def _created_meanwhile(client: zerotouch.Client, name: str) -> zerotouch.Company | None:
    """A customer of that exact name in zero-touch now (None: none, or it cannot be read)."""
    try:
        return next((c for c in client.customers_list() if c.company_name == name), None)
    except zerotouch.ZeroTouchError:
        return None


def customer_create(
    *,
    actor: AbstractBaseUser,
    company_name: str,
    owner_emails: list[str],
    admin_emails: list[str],
    language_code: str = "",
    token: str | None = None,
    client: zerotouch.Client | None = None,
) -> Customer:
    """Create a zero-touch customer (``customers.create``), cache it and audit it.

    A repeat would make a second customer whose name cannot be changed or removed. So the
    confirmation's one-time ``token`` is spent first (a second request with it creates nothing and
    is told which customer the first made; None, for a form from before tokens, skips this), a name
    created minutes ago is refused (``customer_create_check``), and a lost answer is settled by
    listing the customers: found by its exact name, it was created; not found, the person may try
    again.
    """
    if token is not None and not _token_consume(token, actor=actor):
        raise _token_spent(token, company_name)
    customer_create_check(company_name=company_name)
    client = client or zerotouch_client(lane=Lane.INTERACTIVE)
    details = {"owner_emails": owner_emails, "admin_emails": admin_emails, "language": language_code}
    try:
        company = client.customers_create(
            company_name=company_name,
            owner_emails=owner_emails,
            admin_emails=admin_emails,
            language_code=language_code or None,
        )
    except zerotouch.ZeroTouchError as exc:
        company = (
            _created_meanwhile(client, company_name) if isinstance(exc, zerotouch.OutcomeUnknown) else None
        )
        if company is None:
            failure = _create_failure(exc, company_name)
            audit_record(
                actor=actor,
                action="customer.create",
                target_type="customer",
                target_label=company_name,
                outcome=Outcome.UNKNOWN if failure.outcome_unknown else Outcome.FAILED,
                details={**details, "error": str(failure)},
            )
            raise failure from exc
    # The answer leaves input-only fields out: keep what was sent.
    company = _with_input_only(company, owner_emails, admin_emails, language_code)
    customers_store([company])
    customer = Customer.objects.get(pk=int(company.company_id))
    audit_record(actor=actor, action="customer.create", target=customer, details=details)
    if token is not None:
        cache.set(_token_customer_key(token), customer.pk, timeout=CREATE_TOKEN_SECONDS)
    return customer


def _with_input_only(
    company: zerotouch.Company, owners: list[str], admins: list[str], language: str
) -> zerotouch.Company:
    return replace(
        company,
        owner_emails=company.owner_emails or tuple(owners),
        admin_emails=company.admin_emails or tuple(admins),
        language_code=company.language_code or language or None,
    )


def _create_failure(exc: zerotouch.ZeroTouchError, name: str) -> CustomerCreateFailed:
    if isinstance(exc, zerotouch.OutcomeUnknown):
        return CustomerCreateFailed(
            f"Zero-touch did not confirm the new customer, and no customer named {name!r} can be found "
            "there now (or the list could not be read). Check the customers list before trying again.",
            outcome_unknown=True,
        )
    if isinstance(exc, zerotouch.InvalidArgument):
        reason = exc.reason or ""
        if reason == "PERSONAL_ACCOUNT_NOT_ALLOWED":
            return CustomerCreateFailed(
                "Zero-touch refused an owner email: personal Gmail addresses cannot own a customer; use "
                "the customer's company Google Account."
            )
        return CustomerCreateFailed(f"Zero-touch refused the customer: {exc.message}")
    if isinstance(exc, zerotouch.AlreadyExists):
        return CustomerCreateFailed(f"Zero-touch says a customer named {name!r} exists already.")
    if isinstance(exc, zerotouch.RateLimited | zerotouch.Unavailable | zerotouch.InternalError):
        return CustomerCreateFailed(
            "Zero-touch had a temporary problem; the customer was not created. Try again."
        )
    if isinstance(exc, zerotouch.TransportError):
        return CustomerCreateFailed(
            "Zero-touch could not be reached; the customer was not created. Try again."
        )
    if isinstance(exc, zerotouch.PermissionDenied):
        reseller = settings.PORTAL_RESELLER_NAME
        return CustomerCreateFailed(f"Zero-touch says {reseller} may not create customers.")
    return CustomerCreateFailed(f"Zero-touch could not create the customer: {exc}")


def customer_notification_emails_set(
    *, customer: Customer, addresses: list[str], actor: AbstractBaseUser
) -> Customer:
    """Set who at the customer is emailed when a batch claims devices for it (``addresses`` checked and
    normalised by ``customers.forms.notification_addresses``). The portal's own setting: zero-touch
    knows nothing of it. Audited with the addresses before and after; saving the same list again
    changes nothing and records nothing."""
    before = list(customer.notification_emails)
    if before == addresses:
        return customer
    customer.notification_emails = addresses
    customer.save(update_fields=["notification_emails"])
    audit_record(
        actor=actor,
        action="customer.notification_emails",
        target=customer,
        details={"before": before, "after": addresses},
    )
    return customer
