from django import forms

from portal.form_rendering import PortalForm


class CustomerPickerForm(PortalForm):
    """What a person typed into a customer picker."""

    q = forms.CharField(
        required=False,
        max_length=100,
        error_messages={"max_length": "Type at most %(limit_value)d characters of the customer's name."},
    )
