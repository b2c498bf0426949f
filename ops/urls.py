"""Operations' URLs, at the root of the site: load balancers, container healthchecks and Prometheus
know them by path (``/healthz``, ``/readyz``, ``/metrics``). Their names are the ones they had
before the app existed, without a namespace, as the project's middleware
(``portal.middleware.PUBLIC_URL_NAMES``) and the pages' links know them."""

from django.urls import path

from ops import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("ops/", views.ops, name="ops"),
    path("ops/connection/", views.ops_connection, name="ops_connection"),
]
