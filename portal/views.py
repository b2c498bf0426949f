from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.htmx import HtmxHttpRequest
from core.models import AuditEvent
from core.notices import notices_seen
from core.roles import Role, user_roles
from devices.selectors import sync_overview
from ops.health import api_target
from portal.forms import NoticePollForm
from portal.notices import LayoutNotices


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


@require_GET
def notice_list(request: HtmxHttpRequest) -> HttpResponse:
    """The layout's poll (``portal.notices``): the person's notices newer than the page shows, to
    append to its list, and the poller again (out of band), without its trigger once no job runs."""
    if not request.htmx:
        return redirect("home")  # the notices are on every page
    form = NoticePollForm(request.GET)
    if not form.is_valid():
        return HttpResponse("This notice poll is not valid.", status=400, content_type="text/plain")
    page = request.htmx.current_url_abs_path or ""
    notices = LayoutNotices(
        user_id=request.user.pk, path=urlsplit(page).path, after=form.cleaned_data["after"] or 0
    )
    context = {"layout_notices": notices, "notice_back": page}  # a dismissal without htmx comes back
    return render(request, "portal/_notices.html#poll", context)


@require_POST
def notice_dismiss(request: HtmxHttpRequest, notice_id: int) -> HttpResponse:
    """Dismiss one of the person's own notices: with htmx the notice leaves the page; without, back
    to the page it was dismissed on."""
    notices_seen(user_id=request.user.pk, ids=[notice_id])
    if request.htmx:
        return HttpResponse("")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "home"
    return redirect(back)
