from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from core.htmx import HtmxHttpRequest
from core.models import AuditEvent
from core.roles import Role, user_roles
from devices.selectors import sync_overview
from ops.health import api_target


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    roles = user_roles(request.user)
    context = {
        "is_sales": Role.SALES in roles,
        "is_manager": Role.MANAGERS in roles,
        "is_admin": Role.ADMINS in roles,
        **api_target(),
    }
    if Role.ADMINS in roles:
        context["recent_audit"] = AuditEvent.objects.select_related("actor")[:10]
    if roles:
        context["sync"] = sync_overview(recent=5)
    return render(request, "portal/home.html", context)


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("favicon.svg"), permanent=True)
