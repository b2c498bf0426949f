from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.roles import REPORT_ROLES, role_required
from portal.views import HtmxHttpRequest


@require_GET
@role_required(REPORT_ROLES)
def index(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "reports/index.html")
