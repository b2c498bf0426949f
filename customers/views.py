from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from customers.forms import CustomerPickerForm
from customers.models import Customer
from customers.selectors import customer_search
from portal.roles import ALL_ROLES, role_required
from portal.views import HtmxHttpRequest


@require_GET
@role_required(ALL_ROLES)
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "customers/list.html", {"cached": Customer.objects.count()})


@require_GET
@role_required(ALL_ROLES)
def customer_picker(request: HtmxHttpRequest) -> HttpResponse:
    """The options of a customer picker as the person types (a fragment, for any page's picker)."""
    form = CustomerPickerForm(request.GET)
    if not form.is_valid():
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        return render(request, "customers/_picker_results.html", {"errors": errors}, status=400)
    return render(
        request, "customers/_picker_results.html", {"customers": customer_search(form.cleaned_data["q"])}
    )
