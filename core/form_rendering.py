"""How the portal's forms render: every field with its label, its input of the right type, and every
error in words next to it (``{{ form.field.as_field_group }}``, or ``{{ form }}``), so that no rejected
field comes back without saying why."""

from django import forms
from django.forms.renderers import DjangoTemplates


class PortalFormRenderer(DjangoTemplates):
    field_template_name = "core/forms/field.html"


class PortalForm(forms.Form):
    """Base of the portal's forms: the portal's renderer."""

    default_renderer = PortalFormRenderer
