from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.htmx import HtmxHttpRequest
from core.roles import Role, has_any_role, role_required
from ops import health, metrics
from ops.connection import connection_test


@require_GET
@role_required({Role.ADMINS})
def ops(request: HtmxHttpRequest) -> HttpResponse:
    """The API health page; htmx asks for its figures at once, then again every few seconds (the
    page itself does not wait for the workers to answer a ping)."""
    context = {
        **health.api_target(),
        "health": health.api_health(),
        "lanes": health.LANES,
        "pending": health.pending_operations(),
        "sync": health.sync_state(),
        "celery": health.celery_status(ping=bool(request.htmx)),
        "sign_in_alerts": health.sign_in_alerts(),
    }
    template = "ops/ops.html#figures" if request.htmx else "ops/ops.html"
    return render(request, template, context)


@require_POST
@role_required({Role.ADMINS})
def ops_connection(request: HtmxHttpRequest) -> HttpResponse:
    result = connection_test()
    if request.htmx:
        return render(request, "ops/ops.html#connection", {"connection": result})
    messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR, result.headline)
    for note in result.notes:
        messages.warning(request, note)
    return redirect("ops")


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and container healthchecks: the process answers and the DB does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the broker answer (503 otherwise), and when an API call last
    succeeded (reported, not required: the portal serves its cache while zero-touch is away).

    Anyone (a load balancer, a healthcheck) gets the status; only a signed-in admin gets the checks,
    whose timings and error class names tell a stranger how the portal is built and how it fails.
    """
    ready, checks = health.readiness()
    if not has_any_role(request.user, {Role.ADMINS}):
        checks = {"status": checks["status"]}
    return JsonResponse(checks, status=200 if ready else 503)


@login_not_required
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, when METRICS_ENABLED; with METRICS_TOKEN set, only for a scraper that sends
    it as a bearer token. Disabled, the URL does not exist (404)."""
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are not enabled.")
    if not metrics.authorized(request.headers.get("Authorization", "")):
        return HttpResponse("A bearer token is required.", status=401, content_type="text/plain")
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
