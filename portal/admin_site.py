from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache


class PortalAdminSite(AdminSite):
    site_header = "Zero-touch portal administration"
    site_title = "Zero-touch portal admin"
    index_title = "Administration"

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        # Admin sends a signed-in person without staff rights back to its login form, which reads
        # as a broken sign-in. Staff who may not use admin get the portal's 403 page instead.
        # Anyone not signed in uses the portal's own sign-in page, so there is only one.
        if not request.user.is_authenticated:
            from django.contrib.auth.views import redirect_to_login  # needs the app registry

            return redirect_to_login(request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index"))
        if not self.has_permission(request):
            raise PermissionDenied("Django admin is for administrators only.")
        return super().login(request, extra_context)


class PortalAdminConfig(AdminConfig):
    default_site = "portal.admin_site.PortalAdminSite"
