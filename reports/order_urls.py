"""Orders, at /orders/: for everyone who sells (sales, managers, admins), not only report readers."""

from django.urls import path

from reports import views

app_name = "orders"

urlpatterns = [
    path("", views.orders, name="list"),
    path("export.csv", views.orders_export, name="export"),
    path("<path:number>/", views.order_detail, name="detail"),
]
