from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("export/<slug:table>.csv", views.export, name="export"),
    path("subscription/", views.subscription, name="subscription"),
    path("orders/", views.orders, name="orders"),
    path("orders/export.csv", views.orders_export, name="orders_export"),
    path("orders/<path:number>/", views.order_detail, name="order"),
]
