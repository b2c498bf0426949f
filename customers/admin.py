"""Customers and vendors in Django admin: read-only, because they are a cache of zero-touch.

A customer is created through the portal's customer page (``customers.services``), which calls the
API; its name cannot change at Google, and sync overwrites the cache, so nothing is edited here.
"""

from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyModelAdmin
from customers.models import Customer, Vendor


def _all_fields(model: type) -> list[str]:
    return [field.name for field in model._meta.fields]


@admin.register(Vendor)
class VendorAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "company_id", "last_synced_at"]
    search_fields = ["name", "=company_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Vendor | None = None) -> list[str]:
        return _all_fields(Vendor)


@admin.register(Customer)
class CustomerAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "company_id", "vendor", "terms_status", "devices_synced_at"]
    list_filter = ["terms_status", ("vendor", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "=company_id", "google_workspace_customer_id"]
    list_select_related = ["vendor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Customer | None = None) -> list[str]:
        return _all_fields(Customer)
