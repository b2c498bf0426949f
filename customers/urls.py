from django.urls import path

import core.converters  # noqa: F401 - registers the "id" path converter
from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("export.csv", views.customer_export, name="export"),
    path("new/", views.customer_create_view, name="new"),
    path("picker/", views.customer_picker, name="picker"),
    path("vendors/", views.vendor_list, name="vendors"),
    path("<id:customer_id>/", views.customer_detail, name="detail"),
    path("<id:customer_id>/notifications/", views.customer_notifications, name="notifications"),
]
