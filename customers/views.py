from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from customers.selectors import customer_search
from portal.roles import ALL_ROLES, role_required
from portal.views import HtmxHttpRequest


@require_GET
@role_required(ALL_ROLES)
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "customers/list.html")


@require_GET
@role_required(ALL_ROLES)
def customer_picker(request: HtmxHttpRequest) -> HttpResponse:
    """The options of a customer picker as the person types (a fragment, for any page's picker)."""
    return render(
        request, "customers/_picker_results.html", {"customers": customer_search(request.GET.get("q", ""))}
    )
