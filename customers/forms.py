import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.converters import MAX_ID
from core.form_rendering import PortalForm
from core.text import visible
from customers.models import LANGUAGE_NAMES
from customers.selectors import SORTS, customer_by_typed_name

LANGUAGES = [("", "Zero-touch's default"), *LANGUAGE_NAMES.items()]
PERSONAL_DOMAINS = {"gmail.com", "googlemail.com"}
_SEPARATORS = re.compile(r"[\s,;]+")


class CustomerPickerForm(PortalForm):
    """What a person typed into a customer picker."""

    q = forms.CharField(
        required=False,
        max_length=100,
        error_messages={"max_length": "Type at most %(limit_value)d characters of the customer's name."},
    )
    own = forms.BooleanField(required=False)


class CustomerListForm(PortalForm):
    """The customers page's query string."""

    q = forms.CharField(required=False, max_length=100, label="Search customers")
    seller = forms.ChoiceField(
        required=False,
        choices=[("", "Own and vendors'"), ("own", "Own customers"), ("vendor", "Vendors' customers")],
        label="Sold by",
    )
    terms = forms.ChoiceField(
        required=False, choices=[("", "Any terms status"), ("attention", "Terms not accepted")], label="Terms"
    )
    vendor = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)  # one vendor's customers
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS])
    cursor = forms.CharField(
        required=False,
        max_length=800,
        # A page link is the portal's own: whatever is wrong with one, the person hears the same thing.
        error_messages={
            code: "This page link is not valid any more; start again."
            for code in ("max_length", "null_characters_not_allowed")
        },
    )


def _emails(text: str, *, field: str) -> list[str]:
    """Addresses typed one per line or separated by commas; each checked, personal Gmail refused.

    Invisible characters are dropped and the text NFKC-normalised first (``core.text.visible``), so
    that "a@gmail.com" followed by a zero-width space, or written in full-width letters, is the
    address it looks like and meets the same rules."""
    emails = [email for email in _SEPARATORS.split(visible(text).strip()) if email]
    problems = []
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"{email!r} is not an email address.")
            continue
        if _domain(email) in PERSONAL_DOMAINS:
            problems.append(
                f"{email} is a personal Gmail address, which zero-touch refuses for a customer's {field}: "
                "use the customer's company Google Account."
            )
    if problems:
        raise ValidationError(" ".join(problems))
    return list(dict.fromkeys(emails))


def _domain(email: str) -> str:
    """An address's domain as Google compares it: NFKC-normalised, lower case, no final dot."""
    return unicodedata.normalize("NFKC", email.rsplit("@", 1)[1]).casefold().rstrip(".")


class CustomerCreateForm(PortalForm):
    """A new zero-touch customer. The name cannot be changed once the customer exists."""

    company_name = forms.CharField(
        max_length=200,
        label="Company name",
        help_text="As the customer's staff will see it in zero-touch. It cannot be changed afterwards.",
    )
    owner_emails = forms.CharField(
        label="Owner emails",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=(
            "At least one: the customer's Google Accounts (not personal Gmail), one per line or separated "
            "by commas."
        ),
    )
    admin_emails = forms.CharField(
        required=False, label="Admin emails (optional)", widget=forms.Textarea(attrs={"rows": 2})
    )
    language_code = forms.ChoiceField(required=False, choices=LANGUAGES, label="Language")

    def language_label(self) -> str:
        """The chosen language in words, for the confirmation."""
        code = self.cleaned_data.get("language_code", "")
        return f"{LANGUAGE_NAMES[code]} ({code})" if code else "Zero-touch's default"

    def clean_company_name(self) -> str:
        """The name without what cannot be seen (control characters, bidi overrides such as U+202E,
        zero-width characters) and NFKC-normalised: once created it can never be corrected."""
        name = " ".join(visible(self.cleaned_data["company_name"]).split())
        if not any(char.isalnum() for char in name):
            raise ValidationError(
                "Give the company's name in letters or digits (invisible and control characters are "
                "left out)."
            )
        return name

    def clean_owner_emails(self) -> list[str]:
        emails = _emails(self.cleaned_data["owner_emails"], field="owner")
        if not emails:
            raise ValidationError("Give at least one owner email.")
        if len(emails) > 50:
            raise ValidationError("At most 50 owner emails.")
        return emails

    def clean_admin_emails(self) -> list[str]:
        emails = _emails(self.cleaned_data["admin_emails"], field="admin")
        if len(emails) > 50:
            raise ValidationError("At most 50 admin emails.")
        return emails


MAX_NOTIFICATION_ADDRESSES = 20


def notification_addresses(text: str) -> list[str]:
    """Addresses typed one per line or separated by commas or semicolons, as they are stored: without
    invisible characters (``core.text.visible``), the domain in lower case (the part before the @ is
    the receiving server's to interpret, and kept as typed), each once whatever its case. Any address,
    personal ones included: these are the portal's own emails, not zero-touch accounts."""
    problems, kept = [], {}
    for typed in _SEPARATORS.split(visible(text).strip()):
        if not typed:
            continue
        try:
            validate_email(typed)
        except ValidationError:
            problems.append(f"{typed!r} is not an email address.")
            continue
        local, domain = typed.rsplit("@", 1)
        address = f"{local}@{domain.casefold().rstrip('.')}"
        kept.setdefault(address.casefold(), address)
    if problems:
        raise ValidationError(" ".join(problems))
    if len(kept) > MAX_NOTIFICATION_ADDRESSES:
        raise ValidationError(f"At most {MAX_NOTIFICATION_ADDRESSES} addresses.")
    return list(kept.values())


class NotificationAddressesForm(PortalForm):
    """Who at a customer hears of devices a batch claims for it (the portal's email, not zero-touch's)."""

    addresses = forms.CharField(
        required=False,
        max_length=2000,
        label="Email when a batch claims devices for this customer",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One address per line, or separated by commas. Leave empty to send none. Each batch "
        "that claims devices for the customer sends one email, with the devices as a CSV file.",
    )

    def clean_addresses(self) -> list[str]:
        return notification_addresses(self.cleaned_data["addresses"])


class TypedCustomerMixin:
    """For forms with a customer picker sent with ``accept_typed``: when no customer was chosen from
    the list but the box holds a customer's exact name (any case and accents), that customer is taken,
    as a person who typed it in full expects. The box comes as ``<field>__typed``."""

    picker_field = "customer"

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get(self.picker_field):
            typed = str(data.get(f"{self.picker_field}__typed", "")).strip()
            if typed and (customer := customer_by_typed_name(typed)) is not None:
                data = data.copy()
                data[self.picker_field] = str(customer.pk)
        super().__init__(data, *args, **kwargs)
