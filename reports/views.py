from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from core.htmx import HtmxHttpRequest
from core.roles import ALL_ROLES, CHANGE_ROLES, REPORT_ROLES, has_any_role, role_required
from core.text import storable
from devices.models import Action
from devices.selectors import order_devices
from reports.exports import table_csv
from reports.forms import OrderSearchForm, ReportFilterForm, SubscriptionForm
from reports.models import Order
from reports.orders import order_lines, order_pending_items, order_search, orders_table, orders_with_pending
from reports.selectors import TABLES, report_sections, report_table
from reports.services import fleet_counts_ensure, subscription_set


def _csv(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@role_required(REPORT_ROLES)
def index(request: HtmxHttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET)
    context = {"form": form, "subscription": SubscriptionForm.for_user(request.user)}
    if form.is_valid():
        fleet_counts_ensure()
        context.update(form=form.resolved(), query=form.query(), sections=report_sections(form.filters()))
    template = "reports/index.html#report" if request.htmx else "reports/index.html"
    response = render(request, template, context, status=200 if form.is_valid() else 400)
    if request.htmx and form.is_valid():
        push_url(response, f"{request.path}?{form.query()}")  # the canonical address of what is shown
    return response


@require_GET
@role_required(REPORT_ROLES)
def export(request: HtmxHttpRequest, table: str) -> HttpResponse:
    if table not in TABLES:
        raise Http404("No such report table.")
    form = ReportFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    return _csv(table_csv(report_table(filters, table)), f"{table}-{filters.start}-{filters.end}.csv")


@require_POST
@role_required(REPORT_ROLES)
def subscription(request: HtmxHttpRequest) -> HttpResponse:
    form = SubscriptionForm(request.POST)
    weekly = form.is_valid() and form.cleaned_data["weekly"]
    subscription_set(user=request.user, weekly=weekly)
    if request.htmx:
        context = {"subscription": SubscriptionForm.for_user(request.user)}
        return render(request, "reports/index.html#subscription", context)
    messages.success(request, "You will get the weekly summary." if weekly else "No more weekly summary.")
    return redirect("reports:index")


@require_GET
@role_required(ALL_ROLES)
def orders(request: HtmxHttpRequest) -> HttpResponse:
    form = OrderSearchForm(request.GET)
    prefix = form.cleaned_data["q"] if form.is_valid() else ""
    context = {
        "form": form,
        "orders": orders_with_pending(order_search(prefix)),
        "reads_reports": has_any_role(request.user, REPORT_ROLES),
    }
    template = "reports/orders.html#results" if request.htmx else "reports/orders.html"
    return render(request, template, context, status=200 if form.is_valid() else 400)


@require_GET
@role_required(ALL_ROLES)
def orders_export(request: HtmxHttpRequest) -> HttpResponse:
    form = OrderSearchForm(request.GET)
    prefix = form.cleaned_data["q"] if form.is_valid() else ""
    return _csv(
        table_csv(orders_table(orders_with_pending(order_search(prefix, limit=10_000)))), "orders.csv"
    )


@require_GET
@role_required(ALL_ROLES)
def order_detail(request: HtmxHttpRequest, number: str) -> HttpResponse:
    if not storable(number):  # a NUL or a lone surrogate names no order (and PostgreSQL refuses it)
        raise Http404("No such order.")
    order = Order.objects.filter(number=number).first()
    now = order_devices(number)
    if order is None and not now.total:
        raise Http404("No such order.")
    context = {
        "number": number,
        "order": orders_with_pending([order])[0] if order else None,
        "lines": order_lines(order) if order else [],
        "now": now,
        "pending": order_pending_items(number),
        "can_change": has_any_role(request.user, CHANGE_ROLES),
        "actions": Action.choices,
    }
    return render(request, "reports/order.html", context)
