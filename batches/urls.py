from django.urls import path

import core.converters  # noqa: F401 - registers the "id" path converter
from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("new/", views.batch_new, name="new"),
    path("scan/", views.batch_scan, name="scan"),
    path("templates/<slug:name>.csv", views.batch_template, name="template"),
    path("<id:job_id>/", views.batch_detail, name="detail"),
    path("<id:job_id>/confirm/", views.batch_confirm, name="confirm"),
    path("<id:job_id>/discard/", views.batch_discard, name="discard"),
    path("<id:job_id>/cancel/", views.batch_cancel, name="cancel"),
    path("<id:job_id>/retry/", views.batch_retry, name="retry"),
    path("<id:job_id>/claim-back/", views.batch_claim_back, name="claim_back"),
    path("<id:job_id>/retry-claims/", views.batch_retry_claims, name="retry_claims"),
    path("<id:job_id>/results.csv", views.batch_results, name="results"),
]
