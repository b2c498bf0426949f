"""Customers and vendors: keeping the cache in step with the API."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

import zerotouch
from customers.models import Customer, Vendor

_CUSTOMER_COLUMNS = [
    "name",
    "owner_emails",
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
    )


def customers_store(companies: Iterable[zerotouch.Company], *, vendor_id: int | None = None) -> int:
    rows = {
        c.company_id: c for c in (customer_from_api(company, vendor_id=vendor_id) for company in companies)
    }
    Customer.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["company_id"],
        update_fields=_CUSTOMER_COLUMNS,
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
