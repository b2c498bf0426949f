from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from core.converters import MAX_ID
from portal.signin import (
    client_address,
    retry_message,
    sign_in_failure_record,
    sign_in_retry_after,
    sign_in_success_record,
)


class SignInForm(AuthenticationForm):
    """Django's sign-in form behind the throttle of ``portal.signin``.

    A throttled account or address is refused before its password is even checked, so the right
    password does not get through a lockout, and guessing costs no password hashing.
    """

    @sensitive_variables()
    def clean(self) -> dict:
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()  # a field is missing: nothing was tried
        address = client_address(self.request) if self.request else ""
        wait = sign_in_retry_after(username=username, address=address)
        if wait:
            sign_in_failure_record(username=username, address=address, throttled=True)
            raise ValidationError(retry_message(wait), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            sign_in_failure_record(username=username, address=address, throttled=False)
            raise
        sign_in_success_record(username=username, address=address)
        return cleaned


class NoticePollForm(forms.Form):
    """The layout's poll for notices: those after the newest the page shows."""

    after = forms.IntegerField(required=False, min_value=0, max_value=MAX_ID)
