from django.urls import path
from django.views.generic import RedirectView

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("export/<slug:table>.csv", views.export, name="export"),
    path("subscription/", views.subscription, name="subscription"),
    # Orders moved to /orders/ (everyone who sells reads them); old links and bookmarks still work.
    path("orders/", RedirectView.as_view(pattern_name="orders:list", query_string=True)),
    path("orders/export.csv", RedirectView.as_view(pattern_name="orders:export", query_string=True)),
    path("orders/<path:number>/", RedirectView.as_view(pattern_name="orders:detail")),
]
