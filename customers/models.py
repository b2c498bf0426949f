"""The local cache of the reseller's customers and vendors, as the zero-touch API returns them."""

import re
import unicodedata

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.fields import ByteOrderCharField

_NOT_WORD = re.compile(r"[^\w]+")


def fold_name(name: str) -> str:
    """A name as searches compare it: accents removed, case folded, punctuation turned into spaces,
    with a space before every word ("Müller & Söhne GmbH" -> " muller sohne gmbh"), so that "any word
    starting with" is one LIKE over the column."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    words = _NOT_WORD.sub(" ", plain).split()
    return "".join(f" {word}" for word in words)


# The languages zero-touch accepts for a customer (BCP 47 codes, from the API's documentation).
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "zh-HK": "Chinese (Hong Kong)",
    "zh-CN": "Chinese (Simplified)",
    "zh-TW": "Chinese (Traditional)",
    "cs": "Czech",
    "da": "Danish",
    "nl": "Dutch",
    "en-GB": "English (UK)",
    "en-US": "English (US)",
    "fil": "Filipino",
    "fi": "Finnish",
    "fr": "French",
    "de": "German",
    "iw": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "no": "Norwegian (Bokmål)",
    "pl": "Polish",
    "pt-BR": "Portuguese (Brazil)",
    "pt-PT": "Portuguese (Portugal)",
    "ru": "Russian",
    "es": "Spanish",
    "es-419": "Spanish (Latin America)",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
}


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
    name_folded = ByteOrderCharField(max_length=300, blank=True, editable=False, help_text="See fold_name().")
    device_count = models.PositiveIntegerField(
        default=0, help_text="Devices the cache holds claimed for it, kept by the cache's writers."
    )
    notification_emails = models.JSONField(
        default=list,
        blank=True,
        help_text="The portal's own, never sent to zero-touch: who at the customer is emailed when a "
        "batch claims devices for it.",
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(Lower("name"), name="customer_name_lower_idx"),
            models.Index(fields=["vendor", "name"], name="customer_vendor_name_idx"),
            models.Index(fields=["name_folded", "company_id"], name="customer_folded_idx"),
            models.Index(fields=["device_count", "company_id"], name="customer_devices_idx"),
            models.Index(fields=["terms_status", "name_folded", "company_id"], name="customer_terms_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name_folded = fold_name(self.name)
        super().save(*args, **kwargs)

    @property
    def terms_need_attention(self) -> bool:
        """Devices of a customer who has not accepted the current terms do not enrol."""
        return self.terms_status in (self.TermsStatus.NOT_ACCEPTED, self.TermsStatus.STALE)

    @property
    def terms_sentence(self) -> str:
        return {
            self.TermsStatus.ACCEPTED: "The customer has accepted zero-touch's terms: its devices enrol.",
            self.TermsStatus.NOT_ACCEPTED: "No one at the customer has accepted zero-touch's terms yet: its "
            "devices will not enrol until an owner signs in to the zero-touch portal and accepts them.",
            self.TermsStatus.STALE: "The terms changed since the customer accepted them: its devices will "
            "not enrol until an owner accepts the new terms in the zero-touch portal.",
        }.get(self.terms_status, "Zero-touch has not said whether the customer accepted its terms.")

    @property
    def terms_warning(self) -> str:
        """What to tell a person about to claim devices for this customer ('' when nothing)."""
        return f"{self.name}: {self.terms_sentence}" if self.terms_need_attention else ""

    @property
    def language_name(self) -> str:
        """The customer's language in words ("German (de)"), or why it is not known: zero-touch takes
        a language when a customer is created and never tells it back."""
        if not self.language_code:
            return "Not known: zero-touch only takes it when a customer is created, and never lists it"
        return f"{LANGUAGE_NAMES.get(self.language_code, self.language_code)} ({self.language_code})"

    @property
    def belongs_to_vendor(self) -> bool:
        return self.vendor_id is not None
