from datetime import datetime, time

from django import forms
from django.utils import timezone

from batches.models import BatchJob
from core.form_rendering import PortalForm
from customers.forms import TypedCustomerMixin
from devices.forms import id_field


class BatchForm(TypedCustomerMixin, PortalForm):
    """A new job: what to do, for which customer, and the devices as a file, pasted lines or scans."""

    class Mode:
        FILE, PASTE, SCAN = "file", "paste", "scan"

    action = forms.ChoiceField(
        choices=BatchJob.Action.choices,
        initial=BatchJob.Action.CLAIM,
        widget=forms.RadioSelect,
        label="Action",
    )
    customer = id_field(
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid": "Choose a customer from the list."},
    )
    any_owner = forms.BooleanField(
        required=False,
        label="Unclaim from whichever customer holds each device",
        help_text="Otherwise a device held by anyone but the customer chosen above is left as it is.",
    )
    from_customer = id_field(
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid": "Choose a customer from the list."},
    )  # moves: only this customer's devices (empty: any customer's)
    vacation_mode_days = forms.IntegerField(
        required=False, min_value=1, max_value=365, label="Vacation mode: days (optional)"
    )
    vacation_mode_until = forms.DateField(
        required=False,
        label="or until (optional)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Vacation mode frees each device from its customer's zero-touch settings for a while; "
        "after the days (or on the date) its claim applies again by itself.",
    )
    mode = forms.ChoiceField(
        choices=[(Mode.FILE, "Upload a file"), (Mode.PASTE, "Paste"), (Mode.SCAN, "Scan")],
        initial=Mode.FILE,
        widget=forms.RadioSelect,
        label="Devices from",
    )
    file = forms.FileField(required=False, label="CSV file")
    pasted = forms.CharField(
        required=False,
        label="Identifiers or CSV",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        help_text="One IMEI, MEID or serial number per line, or CSV with a header line.",
    )
    scanned = forms.CharField(required=False, widget=forms.HiddenInput)
    # "All the devices matching this search" on the devices page: the search's query string. The
    # devices are read from it when the form is sent, not when it was opened.
    search = forms.CharField(required=False, max_length=2_000, widget=forms.HiddenInput)
    # The pasted lines are the devices ticked on the devices page: the ticks are cleared once sent.
    selection = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def clean(self):
        data = super().clean()
        if data.get("action") == BatchJob.Action.UNCLAIM:
            self._clean_vacation(data)
        else:
            data["any_owner"], data["vacation_mode_days"], data["vacation_mode_until"] = False, None, None
        if data.get("action") != BatchJob.Action.MOVE:
            data["from_customer"] = None
        mode = data.get("mode")
        if data.get("search"):
            data["mode"] = self.Mode.PASTE  # the search's devices become pasted lines (batches.views)
        elif mode == self.Mode.FILE:
            upload = data.get("file")
            if upload is None:
                self.add_error("file", "Choose a CSV file.")
            elif upload.size > self.max_bytes:  # an upload stopped at the limit (batches.uploads) too
                self.add_error(
                    "file",
                    f"The file is larger than {self.max_bytes / 1_048_576:g} MB: split it into smaller "
                    "files and upload each.",
                )
        elif mode == self.Mode.PASTE and not data.get("pasted", "").strip():
            self.add_error("pasted", "Paste at least one identifier.")
        elif mode == self.Mode.SCAN and not data.get("scanned", "").strip():
            self.add_error("scanned", "Scan at least one device.")
        return data

    def _clean_vacation(self, data: dict) -> None:
        if data.get("vacation_mode_days") and data.get("vacation_mode_until"):
            self.add_error("vacation_mode_until", "Give vacation mode as days or as an end date, not both.")
        until = data.get("vacation_mode_until")
        if until is not None and until <= timezone.localdate():
            self.add_error("vacation_mode_until", "The end of vacation mode must be a date after today.")

    @property
    def vacation_mode_end(self) -> datetime | None:
        """The end date as the moment it begins, in the portal's time zone."""
        until = self.cleaned_data.get("vacation_mode_until")
        if until is None:
            return None
        return timezone.make_aware(datetime.combine(until, time.min))


class ScanForm(PortalForm):
    """One scanned code, checked at once against the rules and the cache; a serial number comes with the
    manufacturer and model typed beside the scan box."""

    code = forms.CharField(max_length=128)
    manufacturer = forms.CharField(required=False, max_length=128)
    model = forms.CharField(required=False, max_length=128)
    action = forms.ChoiceField(choices=BatchJob.Action.choices)
    customer = id_field(required=False)
    any_owner = forms.BooleanField(required=False)
    from_customer = id_field(required=False)


class JobFilterForm(PortalForm):
    """The results of a job: all, or only the failures (of one kind), a page at a time."""

    state = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All rows"),
            ("failed", "Failed"),
            ("invalid", "Not sent: invalid"),
            ("skipped", "Nothing to do"),
        ],
        label="Rows",
    )
    kind = forms.CharField(required=False, max_length=20, label="Failure kind")
    after = forms.IntegerField(required=False, min_value=0, max_value=10_000_000, label="Page link")


class JobListForm(PortalForm):
    mine = forms.BooleanField(required=False)
    user = forms.CharField(required=False, max_length=150, label="Made by")
    customer = id_field(required=False, label="Customer")
    file = forms.CharField(required=False, max_length=255, strip=True, label="File name")
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any state")] + [c for c in BatchJob.State.choices if c[0] != BatchJob.State.DISCARDED],
        label="State",
    )
    before = id_field(required=False, label="Page link")


class ConfirmForm(PortalForm):
    """Sending a checked job, and whether its sender wants an email when it ends."""

    email_when_done = forms.BooleanField(required=False, label="Email me when it ends")
