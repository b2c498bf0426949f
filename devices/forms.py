import re

from django import forms
from django.utils import timezone

from customers.models import Customer
from devices.identifiers import identifier_errors, normalize_imei, normalize_meid
from devices.selectors import SORTS, DeviceFilters
from devices.services import ClaimRequest


class DeviceSearchForm(forms.Form):
    """The device list's query string: the search box, the filters, the sort and the page cursor."""

    q = forms.CharField(required=False, max_length=128, strip=True)
    customer = forms.IntegerField(required=False, min_value=1)
    manufacturer = forms.CharField(required=False, max_length=128)
    model = forms.CharField(required=False, max_length=128)
    state = forms.ChoiceField(
        required=False, choices=[("", "Any state"), ("claimed", "Claimed"), ("unclaimed", "Unclaimed")]
    )
    seller = forms.ChoiceField(
        required=False,
        choices=[("", "Own and vendors'"), ("own", "Own customers"), ("vendor", "Vendors' customers")],
    )
    sort = forms.ChoiceField(required=False, choices=[(key, key) for key in SORTS])
    cursor = forms.CharField(required=False, max_length=512)

    def filters(self) -> DeviceFilters:
        data = self.cleaned_data
        return DeviceFilters(
            text=data["q"],
            customer_id=data["customer"],
            manufacturer=data["manufacturer"],
            model=data["model"],
            claimed={"claimed": True, "unclaimed": False}.get(data["state"]),
            vendor_devices={"vendor": True, "own": False}.get(data["seller"]),
        )


class ClaimForm(forms.Form):
    """One device to claim: identifiers as the API needs them, the customer, optional metadata."""

    device_type = forms.ChoiceField(
        choices=[("android", "Android"), ("chrome_os", "ChromeOS")], initial="android"
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
    chrome_os_attested_device_id = forms.CharField(required=False, max_length=128, label="Attested device id")
    customer = forms.IntegerField(widget=forms.HiddenInput, error_messages={"required": "Choose a customer."})
    google_workspace_customer_id = forms.CharField(
        required=False, max_length=64, label="Google Workspace customer id"
    )
    pre_provisioning_token = forms.CharField(required=False, max_length=256)
    order_number = forms.CharField(required=False, max_length=128)
    phone_number = forms.CharField(required=False, max_length=64)

    def clean(self):
        data = super().clean()
        data["imei"] = normalize_imei(data.get("imei", ""))
        data["meid"] = normalize_meid(data.get("meid", ""))
        chrome_os = data.get("device_type") == "chrome_os"
        for name, message in identifier_errors(
            imei=data["imei"],
            meid=data["meid"],
            serial_number=data.get("serial_number", ""),
            manufacturer=data.get("manufacturer", ""),
            model=data.get("model", ""),
            chrome_os=chrome_os,
            chrome_os_attested_device_id=data.get("chrome_os_attested_device_id", ""),
        ).items():
            self.add_error(name, message)
        customer = Customer.objects.filter(pk=data["customer"]).first() if data.get("customer") else None
        if data.get("customer") and customer is None:
            self.add_error("customer", "This customer is not known to the portal; pick one from the list.")
        if chrome_os and not data.get("google_workspace_customer_id") and customer is not None:
            data["google_workspace_customer_id"] = customer.google_workspace_customer_id
        if chrome_os and not data.get("google_workspace_customer_id"):
            self.add_error(
                "google_workspace_customer_id",
                "A ChromeOS device is claimed for a Google Workspace customer id; "
                "this customer has none on record.",
            )
        if chrome_os and not data.get("pre_provisioning_token"):
            self.add_error("pre_provisioning_token", "A ChromeOS device needs its pre-provisioning token.")
        return data

    def claim_request(self) -> ClaimRequest:
        data = self.cleaned_data
        metadata = {
            key: value
            for key, value in (("ordernumber", data["order_number"]), ("phonenumber", data["phone_number"]))
            if value
        }
        return ClaimRequest(
            customer=Customer.objects.get(pk=data["customer"]),
            imei=data["imei"],
            meid=data["meid"],
            serial_number=data["serial_number"],
            manufacturer=data["manufacturer"],
            model=data["model"],
            chrome_os=data["device_type"] == "chrome_os",
            chrome_os_attested_device_id=data["chrome_os_attested_device_id"],
            google_workspace_customer_id=data["google_workspace_customer_id"],
            pre_provisioning_token=data["pre_provisioning_token"],
            metadata=metadata,
        )


class UnclaimForm(forms.Form):
    """Unclaiming, optionally with vacation mode (the device stays locked to the customer's policy)."""

    vacation_mode_days = forms.IntegerField(
        required=False, min_value=1, max_value=365, label="Vacation mode days"
    )
    vacation_mode_until = forms.DateTimeField(
        required=False,
        label="or vacation mode until",
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


METADATA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class MetadataForm(forms.Form):
    """The device's metadata: order number, phone number and one more key; empty removes a key."""

    order_number = forms.CharField(required=False, max_length=128)
    phone_number = forms.CharField(required=False, max_length=64)
    other_key = forms.CharField(required=False, max_length=64, label="Other key")
    other_value = forms.CharField(required=False, max_length=256, label="Value")

    def clean_other_key(self):
        key = self.cleaned_data["other_key"].strip()
        if key and not METADATA_KEY.match(key):
            raise forms.ValidationError(
                "Keys are lower-case letters, digits and underscores, e.g. assetowner."
            )
        return key

    def entries(self, current: dict[str, str]) -> dict[str, str]:
        """Only the keys that change, as the API wants them (an empty value deletes the key)."""
        data = self.cleaned_data
        wanted = {"ordernumber": data["order_number"], "phonenumber": data["phone_number"]}
        if data["other_key"]:
            wanted[data["other_key"]] = data["other_value"]
        return {key: value for key, value in wanted.items() if current.get(key, "") != value}
