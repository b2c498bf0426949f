"""The reports' tables in Django admin, read-only.

They are derived: daily rollups and orders are kept by the reports' writers from the device history,
and subscriptions are each person's own choice, made on the reports page. Admin shows every row of
every model of the app the same way (their fields, newest definitions included, without a list kept
here in step), pages them without counting whole tables, and edits nothing.
"""

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from core.admin import LargeTableAdmin, ReadOnlyModelAdmin

LIST_COLUMNS = 8


class ReportRowAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    def get_list_display(self, request: HttpRequest) -> list[str]:
        return ["__str__", *(field.name for field in self.model._meta.fields[1:LIST_COLUMNS])]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


for model in apps.get_app_config("reports").get_models():
    if not model._meta.is_composite_pk:
        admin.site.register(model, ReportRowAdmin)
