from django.urls import path

from devices import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list, name="list"),
]
