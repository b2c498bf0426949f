from django.urls import path

import core.converters  # noqa: F401 - registers the "id" path converter
from devices import views

app_name = "devices"

urlpatterns = [
    path("", views.device_list, name="list"),
    path("lookup/", views.device_lookup_view, name="lookup"),
    path("export.csv", views.device_export_view, name="export"),
    path("selection/", views.device_selection_view, name="selection"),
    path("claim/", views.device_claim_view, name="claim"),
    path("sync/", views.sync_page, name="sync"),
    path("sync/customer/<id:customer_id>/", views.sync_customer_view, name="sync_customer"),
    path("<id:device_id>/", views.device_detail, name="detail"),
    path("<id:device_id>/refresh/", views.device_refresh_view, name="refresh"),
    path("<id:device_id>/unclaim/", views.device_unclaim_view, name="unclaim"),
    path("<id:device_id>/sim-lock/", views.device_sim_lock_state_view, name="sim_lock_state"),
    path("<id:device_id>/metadata/", views.device_metadata_view, name="metadata"),
]
