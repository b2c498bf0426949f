from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.roles import ALL_ROLES, role_required
from portal.views import HtmxHttpRequest


@require_GET
@role_required(ALL_ROLES)
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "customers/list.html")
