from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.roles import ALL_ROLES, CHANGE_ROLES, role_required
from portal.views import HtmxHttpRequest


@require_GET
@role_required(ALL_ROLES)
def device_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "devices/list.html")


@require_GET
@role_required(CHANGE_ROLES)
def batch_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "devices/batch_list.html")
