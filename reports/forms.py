"""The report's filters: a date range (a preset, or two dates), a customer, a salesperson and a grain.

The form resolves a preset into dates, so that a URL with ``preset=last_month`` stays "last month"
when opened later, and a URL with two dates is that range for ever.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.converters import MAX_ID
from core.form_rendering import PortalForm
from core.roles import Role
from customers.models import Customer
from reports.models import ReportSubscription

PRESETS = {
    "this_month": "This month",
    "last_month": "Last month",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "this_quarter": "This quarter",
    "last_12_months": "Last 12 months",
    "this_year": "This year",
    "custom": "Custom range",
}
GRAINS = {"day": "Day", "week": "Week", "month": "Month"}
MAX_DAYS = 3 * 366  # a range the rollups answer quickly; longer ones ask for a narrower range
FIRST_DAY = date(2010, 1, 1)  # before zero-touch existed: no report starts earlier
_UNKNOWN_CUSTOMER = "That customer is not known: pick one from the Customer list."


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of a preset, as of ``today``."""
    month_start = today.replace(day=1)
    if preset == "last_month":
        end = month_start - timedelta(days=1)
        return end.replace(day=1), end
    if preset == "last_7_days":
        return today - timedelta(days=6), today
    if preset == "last_30_days":
        return today - timedelta(days=29), today
    if preset == "this_quarter":
        return month_start.replace(month=3 * ((today.month - 1) // 3) + 1), today
    if preset == "last_12_months":
        return month_start.replace(year=month_start.year - 1), today
    if preset == "this_year":
        return today.replace(month=1, day=1), today
    return month_start, today


def default_grain(start: date, end: date) -> str:
    days = (end - start).days + 1
    return "day" if days <= 45 else "week" if days <= 200 else "month"


@dataclass(frozen=True)
class ReportFilters:
    """What every report section is computed for: days ``start`` to ``end`` inclusive."""

    start: date
    end: date
    customer_id: int | None = None
    user_id: int | None = None
    grain: str = "day"
    top: int = 10


def salespeople():
    """Who can change devices (sales and admins): the people a report can be narrowed to."""
    return (
        get_user_model()
        .objects.filter(groups__name__in=[Role.SALES.value, Role.ADMINS.value])
        .distinct()
        .order_by("first_name", "username")
    )


class SalespersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.get_username()


class ReportFilterForm(PortalForm):
    preset = forms.ChoiceField(choices=list(PRESETS.items()), required=False, label="Period")
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    customer = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        widget=forms.HiddenInput,
        error_messages={key: _UNKNOWN_CUSTOMER for key in ("invalid", "min_value", "max_value")},
    )
    salesperson = SalespersonField(queryset=None, required=False, empty_label="Anyone", label="Salesperson")
    grain = forms.ChoiceField(choices=[("", "Automatic"), *GRAINS.items()], required=False, label="Per")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["salesperson"].queryset = salespeople()
        for name in ("preset", "start", "end", "salesperson", "grain"):
            self.fields[name].widget.attrs["class"] = "report-filter"

    def clean(self) -> dict:
        cleaned = super().clean()
        if "customer" in self.errors:  # a hidden field: its sentence is said above the form
            self.add_error(None, self.errors["customer"][0])
        start, end = cleaned.get("start"), cleaned.get("end")
        preset = cleaned.get("preset") or ("custom" if start or end else "this_month")
        if preset != "custom":
            start, end = preset_range(preset, timezone.localdate())
        elif start is None or end is None:
            raise ValidationError("A custom range needs both dates.", code="range")
        if start > end:
            raise ValidationError("The range ends before it starts.", code="range")
        last_day = timezone.localdate().replace(month=12, day=31)
        if start < FIRST_DAY or end > last_day:
            raise ValidationError(
                f"Choose dates between {FIRST_DAY.year} and the end of {last_day.year}.", code="range"
            )
        if (end - start).days >= MAX_DAYS:
            raise ValidationError("Choose a range of at most three years.", code="range")
        cleaned.update(preset=preset, start=start, end=end)
        return cleaned

    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        person = data.get("salesperson")
        return ReportFilters(
            start=data["start"],
            end=data["end"],
            customer_id=data.get("customer"),
            user_id=person.pk if person else None,
            grain=data.get("grain") or default_grain(data["start"], data["end"]),
        )

    def resolved(self) -> "ReportFilterForm":
        """The form as the report shows it: a preset's dates filled in (the person sees which days
        "last month" meant), to be rendered above the sections."""
        data = self.cleaned_data
        initial = {name: data.get(name) for name in ("preset", "start", "end", "customer", "salesperson")}
        initial["grain"] = data.get("grain") or ""
        return ReportFilterForm(initial=initial)

    def query(self) -> str:
        """The query string that shows this report again: a preset stays a preset (it moves with the
        calendar), a custom range keeps its dates."""
        data = self.cleaned_data
        values = {"preset": data["preset"]}
        if data["preset"] == "custom":
            values.update(start=data["start"].isoformat(), end=data["end"].isoformat())
        if data.get("customer"):
            values["customer"] = data["customer"]
        if data.get("salesperson"):
            values["salesperson"] = data["salesperson"].pk
        if data.get("grain"):
            values["grain"] = data["grain"]
        return urlencode(values)

    @property
    def chosen_customer(self) -> Customer | None:
        """The chosen customer, for the picker to show its name."""
        value = self.initial.get("customer") if not self.is_bound else self.data.get("customer")
        try:
            return Customer.objects.filter(pk=int(value)).first() if value else None
        except (TypeError, ValueError):
            return None


class SubscriptionForm(PortalForm):
    weekly = forms.BooleanField(required=False, label="Email me a summary every Monday")

    @classmethod
    def for_user(cls, user) -> "SubscriptionForm":
        subscription = ReportSubscription.objects.filter(user=user).first()
        form = cls(initial={"weekly": bool(subscription and subscription.weekly_summary)})
        form.has_email = bool(user.email)
        return form


class OrderSearchForm(PortalForm):
    q = forms.CharField(required=False, max_length=128, label="Order number, or any part of it")
