from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.csv import csv_download, export_refused
from core.htmx import HtmxHttpRequest
from core.paging import InvalidCursor
from core.roles import ALL_ROLES, CHANGE_ROLES, has_any_role, role_required
from customers.device_reads import device_reads
from customers.forms import (
    CustomerCreateForm,
    CustomerListForm,
    CustomerPickerForm,
    NotificationAddressesForm,
)
from customers.models import Customer
from customers.selectors import (
    customer_get,
    customer_search,
    customers_export,
    customers_page,
    similar_customers,
    vendor_customers_matching,
    vendor_get,
    vendors_with_customers,
)
from customers.services import (
    CustomerCreateFailed,
    customer_create,
    customer_create_check,
    customer_create_token_issue,
    customer_notification_emails_set,
)


@require_GET
@role_required(ALL_ROLES)
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    form = CustomerListForm(request.GET)
    context: dict = {"form": form, "can_change": has_any_role(request.user, CHANGE_ROLES)}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        context["vendor"] = vendor_get(data["vendor"])
        try:
            context["page"] = customers_page(
                text=data["q"],
                seller=data["seller"],
                terms=data["terms"],
                vendor=data["vendor"],
                sort=data["sort"] or "name",
                cursor=data["cursor"] or None,
            )
        except InvalidCursor as exc:
            context["error"], status = str(exc), 400
        sort = data["sort"] or "name"
        # A header sorts by its column, or the other way round when it already does.
        context["next_sort"] = {
            "name": "-name" if sort == "name" else "name",
            "devices": "devices" if sort == "-devices" else "-devices",
        }
    else:
        context["error"], status = (
            "Some search fields are not valid: "
            + "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()),
            400,
        )
    template = (
        "customers/list.html#results"
        if request.htmx and request.htmx.target == "results"
        else "customers/list.html"
    )
    return render(request, template, context, status=status)


@require_GET
@role_required(ALL_ROLES)
def customer_export(request: HtmxHttpRequest) -> HttpResponse:
    """The customers the page's search finds, as CSV (formula-safe)."""
    form = CustomerListForm(request.GET)
    if not form.is_valid():
        return export_refused("customers")
    data = form.cleaned_data
    found = customers_export(
        text=data["q"], seller=data["seller"], terms=data["terms"], vendor=data["vendor"]
    )
    rows = (
        [
            customer.pk,
            customer.name,
            customer.vendor.name if customer.vendor else settings.PORTAL_RESELLER_NAME,
            customer.device_count,
            customer.get_terms_status_display(),
            " ".join(customer.owner_emails),
            customer.last_claim_at,
        ]
        for customer in found
    )
    header = ["company id", "name", "sold by", "devices", "terms", "owner emails", "last claim"]
    return csv_download(header, rows, filename="customers.csv")


def _customer_or_404(customer_id: int) -> Customer:
    customer = customer_get(customer_id)
    if customer is None:
        raise Http404("No customer with this id in the cache.")
    return customer


def _notification_form(customer: Customer) -> NotificationAddressesForm:
    return NotificationAddressesForm(initial={"addresses": "\n".join(customer.notification_emails)})


@require_GET
@role_required(ALL_ROLES)
def customer_detail(request: HtmxHttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer_or_404(customer_id)
    return render(request, "customers/detail.html", _detail_context(request, customer))


def _detail_context(request: HtmxHttpRequest, customer: Customer, **extra) -> dict:
    reads = device_reads()
    weeks = reads.claims_per_week(customer.pk)
    return {
        "customer": customer,
        "devices": reads.devices(customer.pk),
        "weeks": weeks,
        "weeks_max": max((week.claims for week in weeks), default=0),
        "weeks_total": sum(week.claims for week in weeks),
        "history": reads.history(customer.pk),
        "can_change": has_any_role(request.user, CHANGE_ROLES),
        "notification_form": _notification_form(customer),
        **extra,
    }


@require_POST
@role_required(CHANGE_ROLES)
def customer_notifications(request: HtmxHttpRequest, customer_id: int) -> HttpResponse:
    """Save who at the customer is emailed when a batch claims devices for it: the card again for
    htmx (with the addresses as stored, or why they were refused), else back to the page."""
    customer = _customer_or_404(customer_id)
    form = NotificationAddressesForm(request.POST)
    if not form.is_valid():
        if request.htmx:
            context = {"customer": customer, "can_change": True, "notification_form": form}
            return render(request, "customers/detail.html#notifications", context, status=400)
        context = _detail_context(request, customer, notification_form=form)
        return render(request, "customers/detail.html", context, status=400)
    addresses = form.cleaned_data["addresses"]
    customer_notification_emails_set(customer=customer, addresses=addresses, actor=request.user)
    if request.htmx:
        context = {
            "customer": customer,
            "can_change": True,
            "notification_form": _notification_form(customer),
            "saved": True,
        }
        return render(request, "customers/detail.html#notifications", context)
    messages.success(request, "Saved who is emailed when a batch claims devices for this customer.")
    return redirect("customers:detail", customer_id=customer.pk)


@require_http_methods(["GET", "POST"])
@role_required(CHANGE_ROLES)
def customer_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """A new customer in two steps: the form, then a confirmation showing the name exactly as the
    customer will see it (it cannot be changed) and any existing customers with a similar name. The
    confirmation carries a one-time token, so that sending it twice creates one customer."""
    form = CustomerCreateForm(request.POST if request.method == "POST" else None)
    context: dict = {"form": form}
    # The confirmation's "Change something" sends confirmed=no after its hidden confirmed=yes.
    changing = "no" in request.POST.getlist("confirmed")
    if request.method == "POST" and form.is_valid() and not changing:
        data = form.cleaned_data
        try:
            if request.POST.get("confirmed") != "yes":
                customer_create_check(company_name=data["company_name"])
                context["confirming"] = True
                context["similar"] = similar_customers(data["company_name"])
                context["token"] = customer_create_token_issue(actor=request.user)
                return render(request, "customers/create.html", context)
            customer = customer_create(
                actor=request.user,
                company_name=data["company_name"],
                owner_emails=data["owner_emails"],
                admin_emails=data["admin_emails"],
                language_code=data["language_code"],
                token=request.POST.get("token") or None,
            )
        except CustomerCreateFailed as exc:
            context.update(error=str(exc), outcome_unknown=exc.outcome_unknown, existing=exc.existing)
            return render(request, "customers/create.html", context, status=409 if exc.existing else 200)
        return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/create.html", context, status=400 if form.errors else 200)


@require_GET
@role_required(ALL_ROLES)
def vendor_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "customers/vendors.html", {"vendors": vendors_with_customers()})


@require_GET
@role_required(ALL_ROLES)
def customer_picker(request: HtmxHttpRequest) -> HttpResponse:
    """The options of a customer picker as the person types (a fragment, for any page's picker);
    ``own=1`` for pickers that claim devices, which vendors' customers cannot have."""
    form = CustomerPickerForm(request.GET)
    if not form.is_valid():
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        return render(request, "customers/_picker_results.html", {"errors": errors}, status=400)
    text, own_only = form.cleaned_data["q"], form.cleaned_data["own"]
    if not text.strip():  # an emptied box lists nothing: the list opens as the person types
        return HttpResponse("")
    customers = customer_search(text, own_only=own_only)
    vendors_customers = vendor_customers_matching(text) if own_only and not customers else []
    return render(
        request,
        "customers/_picker_results.html",
        {"customers": customers, "vendors_customers": vendors_customers},
    )
