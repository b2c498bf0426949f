from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

import core.converters  # noqa: F401 - registers the "id" path converter
from portal import views
from portal.forms import SignInForm

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("ops.urls")),  # /healthz, /readyz, /metrics, /ops/
    # Pages without the portal's layout (Django admin) make browsers ask for /favicon.ico.
    path("favicon.ico", views.favicon, name="favicon"),
    path("notices/", views.notice_list, name="notices"),
    path("notices/<id:notice_id>/dismiss/", views.notice_dismiss, name="notice_dismiss"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("devices/", include("devices.urls")),
    path("batches/", include("batches.urls")),
    path("customers/", include("customers.urls")),
    path("reports/", include("reports.urls")),
    path("orders/", include("reports.order_urls")),
    path("admin/", admin.site.urls),
]
