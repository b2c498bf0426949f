from django import forms

from batches.models import BatchJob
from devices.forms import id_field
from portal.form_rendering import PortalForm


class BatchForm(PortalForm):
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

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_bytes = max_bytes

    def clean(self):
        data = super().clean()
        mode = data.get("mode")
        if mode == self.Mode.FILE:
            upload = data.get("file")
            if upload is None:
                self.add_error("file", "Choose a CSV file.")
            elif upload.size > self.max_bytes:
                self.add_error(
                    "file",
                    f"The file is {upload.size / 1_048_576:.1f} MB; the limit is "
                    f"{self.max_bytes / 1_048_576:.0f} MB. Split it into smaller files.",
                )
        elif mode == self.Mode.PASTE and not data.get("pasted", "").strip():
            self.add_error("pasted", "Paste at least one identifier.")
        elif mode == self.Mode.SCAN and not data.get("scanned", "").strip():
            self.add_error("scanned", "Scan at least one device.")
        return data


class ScanForm(PortalForm):
    """One scanned code, checked at once against the rules and the cache."""

    code = forms.CharField(max_length=128)
    action = forms.ChoiceField(choices=BatchJob.Action.choices)
    customer = id_field(required=False)


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
    before = id_field(required=False, label="Page link")
