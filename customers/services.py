"""Customers and vendors: keeping the cache in step with the API, and creating a customer."""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import zerotouch
from core.api import Lane, zerotouch_client
from core.audit import audit_record
from customers.models import Customer, Vendor, fold_name

_CUSTOMER_COLUMNS = [
    "name",
    "name_folded",
    "admin_emails",
    "terms_status",
    "language_code",
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
    """Upsert customers as the API lists them. Owner emails are input-only at Google (a listing may
    leave them out): the ones the cache knows, from creating the customer, are kept then."""
    rows = {
        c.company_id: c for c in (customer_from_api(company, vendor_id=vendor_id) for company in companies)
    }
    with_owners = [row for row in rows.values() if row.owner_emails]
    without = [row for row in rows.values() if not row.owner_emails]
    for group, columns in ((with_owners, [*_CUSTOMER_COLUMNS, "owner_emails"]), (without, _CUSTOMER_COLUMNS)):
        if group:
            Customer.objects.bulk_create(
                group,
                update_conflicts=True,
                unique_fields=["company_id"],
                update_fields=columns,
                batch_size=500,
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
    """The customer was not created (or it cannot be known whether it was); ``str()`` is for people."""

    def __init__(self, message: str, *, outcome_unknown: bool = False):
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


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
    client: zerotouch.Client | None = None,
) -> Customer:
    """Create a zero-touch customer (``customers.create``), cache it and audit it.

    A repeat would make a second customer whose name cannot be changed or removed, so a lost answer is
    settled by listing the customers: found by its exact name, it was created; not found, the person
    may try again.
    """
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
                outcome="unknown" if failure.outcome_unknown else "failure",
                details={**details, "error": str(failure)},
            )
            raise failure from exc
    if not company.owner_emails:  # the answer leaves input-only fields out: keep what was sent
        company = _with_emails(company, owner_emails, admin_emails)
    customers_store([company])
    customer = Customer.objects.get(pk=int(company.company_id))
    audit_record(actor=actor, action="customer.create", target=customer, details=details)
    return customer


def _with_emails(company: zerotouch.Company, owners: list[str], admins: list[str]) -> zerotouch.Company:
    return replace(company, owner_emails=tuple(owners), admin_emails=company.admin_emails or tuple(admins))


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
        return CustomerCreateFailed("Zero-touch says this reseller may not create customers.")
    return CustomerCreateFailed(f"Zero-touch could not create the customer: {exc}")
