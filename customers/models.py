"""The local cache of the reseller's customers and vendors, as the zero-touch API returns them."""

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Vendor(models.Model):
    """A partner that sells devices on the reseller's behalf (``partners.vendors.list``)."""

    company_id = models.BigIntegerField(primary_key=True)
    name = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(models.QuerySet):
    def own(self) -> "CustomerQuerySet":
        return self.filter(vendor__isnull=True)

    def of_vendors(self) -> "CustomerQuerySet":
        return self.filter(vendor__isnull=False)


class Customer(models.Model):
    """A company devices are claimed for: the reseller's own customer, or a vendor's.

    ``company_id`` is the API's ``companyId``; the company name cannot be changed after creation.
    """

    class TermsStatus(models.TextChoices):
        UNSPECIFIED = "TERMS_STATUS_UNSPECIFIED", "Unknown"
        NOT_ACCEPTED = "TERMS_STATUS_NOT_ACCEPTED", "Not accepted"
        ACCEPTED = "TERMS_STATUS_ACCEPTED", "Accepted"
        STALE = "TERMS_STATUS_STALE", "Changed since accepted"

    company_id = models.BigIntegerField(primary_key=True)
    name = models.CharField(max_length=255)
    owner_emails = models.JSONField(default=list, blank=True)
    admin_emails = models.JSONField(default=list, blank=True)
    terms_status = models.CharField(max_length=32, choices=TermsStatus, default=TermsStatus.UNSPECIFIED)
    language_code = models.CharField(max_length=16, blank=True)
    google_workspace_customer_id = models.CharField(max_length=64, blank=True)
    vendor = models.ForeignKey(
        Vendor,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        help_text="Empty for the reseller's own customers.",
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(default=timezone.now)
    devices_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sync last read all of this customer's devices."
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(Lower("name"), name="customer_name_lower_idx"),
            models.Index(fields=["vendor", "name"], name="customer_vendor_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def belongs_to_vendor(self) -> bool:
        return self.vendor_id is not None
