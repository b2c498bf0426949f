from django import forms
from django.utils import timezone

from core.converters import MAX_ID
from core.form_rendering import PortalForm
from customers.forms import TypedCustomerMixin
from customers.selectors import customer_get
from devices.claims import (
    METADATA_LIMITS,
    METADATA_VALUE_LIMIT,
    ClaimRequest,
    claim_check,
    metadata_key_error,
    metadata_value_error,
    simlock_profile_error,
)
from devices.models import SectionType
from devices.selectors import MAX_PAGE_SIZE, SORTS, DeviceFilters


def id_field(**kwargs) -> forms.IntegerField:
    """A company or device id: larger numbers than the database stores are a form error, not an
    overflow in the query."""
    return forms.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


_PAGE_LINK_ERRORS = {
    code: "This page link is not valid any more; start again."
    for code in ("max_length", "null_characters_not_allowed")
}


class DeviceSearchForm(PortalForm):
    """The device list's query string: the search box, the filters, the sort and the page cursor."""

    q = forms.CharField(required=False, max_length=128, strip=True)
    customer = id_field(required=False)
    manufacturer = forms.CharField(required=False, max_length=128)
    model = forms.CharField(required=False, max_length=128)
    state = forms.ChoiceField(
        required=False, choices=[("", "Any state"), ("claimed", "Claimed"), ("unclaimed", "Unclaimed")]
    )
    seller = forms.ChoiceField(
        required=False,
        choices=[("", "Own and vendors'"), ("own", "Own customers"), ("vendor", "Vendors' customers")],
    )
    order = forms.CharField(required=False, max_length=128, strip=True)
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS])
    # Page links are the portal's own: whatever is wrong with one, the person hears the same thing.
    cursor = forms.CharField(required=False, max_length=512, error_messages=_PAGE_LINK_ERRORS)
    before = forms.CharField(required=False, max_length=512, error_messages=_PAGE_LINK_ERRORS)

    def filters(self) -> DeviceFilters:
        data = self.cleaned_data
        return DeviceFilters(
            text=data["q"],
            customer_id=data["customer"],
            manufacturer=data["manufacturer"],
            model=data["model"],
            claimed={"claimed": True, "unclaimed": False}.get(data["state"]),
            vendor_devices={"vendor": True, "own": False}.get(data["seller"]),
            order_number=data["order"],
        )


class SelectionForm(PortalForm):
    """A change to the devices ticked on the devices page: ``toggle`` one device to the state of its
    box (``selected`` present when ticked), ``add`` or ``remove`` a page of them (``device`` given
    once per device or as a comma-separated list), or ``clear`` them all."""

    OPS = ("toggle", "add", "remove", "clear")
    op = forms.ChoiceField(choices=[(op, op) for op in OPS])
    device = forms.CharField(required=False, max_length=2_000)
    selected = forms.BooleanField(required=False)
    next = forms.CharField(required=False, max_length=2_000)

    def __init__(self, data, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):  # several device fields: one list
            data = data.copy()
            data["device"] = ",".join(data.getlist("device"))
        super().__init__(data, *args, **kwargs)

    def clean_device(self) -> list[int]:
        ids = []
        for part in self.cleaned_data["device"].split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or not 0 < int(part) <= MAX_ID:
                raise forms.ValidationError("Not a device id.")
            ids.append(int(part))
        if len(ids) > MAX_PAGE_SIZE:
            raise forms.ValidationError(f"At most {MAX_PAGE_SIZE} devices at a time.")
        return ids


# The sections a device can be claimed in, as the forms offer them.
SECTION_CHOICES = [(SectionType.ZERO_TOUCH, "Zero-touch enrollment"), (SectionType.SIM_LOCK, "SIM lock")]


class DeviceChoiceForm(PortalForm):
    """``?device=<id>&customer=<id>&section=<section type>``: the cached device, the customer and the
    section a claim form starts from."""

    device = id_field(required=False)
    customer = id_field(required=False)
    section = forms.ChoiceField(required=False, choices=SECTION_CHOICES)


class ClaimForm(TypedCustomerMixin, PortalForm):
    """One device to claim: identifiers as the API needs them, the customer, optional metadata.

    The rules themselves are ``devices.claims.claim_check``, which a batch's rows pass too.
    """

    device_type = forms.ChoiceField(
        choices=[("android", "Android"), ("chrome_os", "ChromeOS")],
        initial="android",
        widget=forms.RadioSelect,
        label="Device type",
    )
    imei = forms.CharField(required=False, max_length=40, label="IMEI")
    meid = forms.CharField(required=False, max_length=40, label="MEID")
    serial_number = forms.CharField(required=False, max_length=128)
    manufacturer = forms.CharField(
        required=False, max_length=128, help_text="As the device reports it, e.g. Google, samsung"
    )
    model = forms.CharField(
        required=False, max_length=128, help_text="As the device reports it, e.g. Pixel 8, SM-S911B"
    )
    chrome_os_attested_device_id = forms.CharField(
        required=False, max_length=128, label="Attested device id (ChromeOS)"
    )
    customer = id_field(
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a customer.", "invalid": "Choose a customer from the list."},
    )
    google_workspace_customer_id = forms.CharField(
        required=False, max_length=64, label="Google Workspace customer id (ChromeOS)"
    )
    pre_provisioning_token = forms.CharField(
        required=False, max_length=256, label="Pre-provisioning token (ChromeOS)"
    )
    section_type = forms.ChoiceField(
        required=False,  # a form sent without it claims in zero-touch, as before there was a choice
        choices=SECTION_CHOICES,
        initial=SectionType.ZERO_TOUCH,
        widget=forms.RadioSelect,
        label="Claim in",
    )
    # Text, not a number field: the rule (devices.claims.simlock_profile_error) says what is wrong in
    # words, and a browser's number box would round an id this long.
    simlock_profile_id = forms.CharField(
        required=False,
        max_length=64,  # room for a mistyped id, which the rule then explains
        label="SIM-lock profile id",
        help_text="The number of your SIM-lock profile in zero-touch, e.g. 12345",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    order_number = forms.CharField(required=False, max_length=METADATA_LIMITS["ordernumber"])
    phone_number = forms.CharField(required=False, max_length=METADATA_LIMITS["phonenumber"])

    _METADATA_FIELDS = {"ordernumber": "order_number", "phonenumber": "phone_number"}

    def clean(self):
        data = super().clean()
        if self.has_error("customer") or self.has_error("device_type") or self.has_error("section_type"):
            # The rules below need a customer; the profile id's own rule does not: say it now too.
            section = data.get("section_type") or SectionType.ZERO_TOUCH
            if problem := simlock_profile_error(section, data.get("simlock_profile_id", "")):
                self.add_error("simlock_profile_id", problem)
            return data
        customer = customer_get(data.get("customer"))
        request, errors = claim_check(
            customer=customer,
            customer_given=data.get("customer") is not None,
            chrome_os=data.get("device_type") == "chrome_os",
            imei=data.get("imei", ""),
            meid=data.get("meid", ""),
            serial_number=data.get("serial_number", ""),
            manufacturer=data.get("manufacturer", ""),
            model=data.get("model", ""),
            chrome_os_attested_device_id=data.get("chrome_os_attested_device_id", ""),
            google_workspace_customer_id=data.get("google_workspace_customer_id", ""),
            pre_provisioning_token=data.get("pre_provisioning_token", ""),
            section_type=data.get("section_type") or SectionType.ZERO_TOUCH,
            simlock_profile_id=data.get("simlock_profile_id", ""),
            metadata={key: data.get(name, "") for key, name in self._METADATA_FIELDS.items()},
        )
        for name, message in errors.items():
            name = self._METADATA_FIELDS.get(name, name)
            if name in self.fields and not self.has_error(name):
                self.add_error(name, message)
        self.request = request
        return data

    def claim_request(self) -> ClaimRequest:
        assert self.request is not None, "claim_request() needs a valid form"
        return self.request


class UnclaimForm(PortalForm):
    """Unclaiming one section's claim, optionally with vacation mode (the device stays locked to the
    customer's policy, or for SIM lock is unlocked, until then)."""

    # Carried from the confirmation to its POST; the view reads it to know which card answers.
    section_type = forms.ChoiceField(
        choices=SECTION_CHOICES, initial=SectionType.ZERO_TOUCH, required=False, widget=forms.HiddenInput
    )
    vacation_mode_days = forms.IntegerField(
        required=False, min_value=1, max_value=365, label="Vacation mode: days (optional)"
    )
    vacation_mode_until = forms.DateTimeField(
        required=False,
        label="or until (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("vacation_mode_days") and data.get("vacation_mode_until"):
            raise forms.ValidationError("Give vacation mode as days or as an end time, not both.")
        until = data.get("vacation_mode_until")
        if until and until <= timezone.now():
            self.add_error("vacation_mode_until", "The end of vacation mode must be in the future.")
        return data


class MetadataForm(PortalForm):
    """The device's metadata: order number, phone number and one more key; empty removes a key."""

    order_number = forms.CharField(required=False, max_length=METADATA_LIMITS["ordernumber"])
    phone_number = forms.CharField(required=False, max_length=METADATA_LIMITS["phonenumber"])
    other_key = forms.CharField(required=False, max_length=64, label="Other key (optional)")
    other_value = forms.CharField(required=False, max_length=METADATA_VALUE_LIMIT, label="Value")

    def clean(self):
        data = super().clean()
        key = data.get("other_key", "").strip()
        data["other_key"] = key
        if key and (problem := metadata_key_error(key)):
            self.add_error("other_key", problem)
        elif key and "other_value" in data and (problem := metadata_value_error(key, data["other_value"])):
            self.add_error("other_value", problem)
        for name, key_name in (("order_number", "ordernumber"), ("phone_number", "phonenumber")):
            if name in data and (problem := metadata_value_error(key_name, data[name])):
                self.add_error(name, problem)
        return data

    def entries(self, current: dict[str, str]) -> dict[str, str]:
        """Only the keys that change, as the API wants them (an empty value deletes the key)."""
        data = self.cleaned_data
        wanted = {"ordernumber": data["order_number"], "phonenumber": data["phone_number"]}
        if data["other_key"]:
            wanted[data["other_key"]] = data["other_value"]
        return {key: value for key, value in wanted.items() if current.get(key, "") != value}
