from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from devices.selectors import sync_overview
from portal.models import AuditEvent
from portal.roles import Role, user_roles


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    roles = user_roles(request.user)
    context = {
        "is_sales": Role.SALES in roles,
        "is_manager": Role.MANAGERS in roles,
        "is_admin": Role.ADMINS in roles,
        "api_target": "Google zero-touch" if settings.ZT_CREDENTIALS_FILE else "the local emulator",
        "api_url": settings.ZT_API_URL,
        "partner_id": settings.ZT_PARTNER_ID,
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


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and container healthchecks: the process answers and the DB does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
