"""The device cache, its history and the sync runs in Django admin: read-only, found the portal's way.

The cache mirrors what zero-touch holds and is changed only by services (sync, claims, batches), so
nothing here edits a device or an event. A device is found by any identifier through the devices
page's own search (search keys, ``devices.selectors.device_search``), never by a LIKE over a million
rows; lists page without counting the table (``core.admin.EstimatedCountPaginator``). A sync is
started with the button on the sync runs' list, through the same service and task as beat's.

``SearchKey`` has no admin of its own: its primary key is composite, which Django admin refuses to
register. A device's keys are shown on its page instead.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import LargeTableAdmin, ReadOnlyModelAdmin
from customers.models import Customer
from devices.models import Device, DeviceEvent, DeviceModel, SyncRun
from devices.selectors import device_ids_search
from devices.sync import SyncAlreadyRunning, sync_start_request

# How many devices an admin search gathers: enough for any identifier or its first digits; a longer
# list is narrowed by typing more.
ADMIN_SEARCH_LIMIT = 1000
SEARCH_HELP = (
    "Any identifier (IMEI in either slot, MEID, serial number), order or phone number, or its first "
    "characters, as on the devices page; or a zero-touch device id."
)


class IdentifierSearchMixin:
    """The search box runs the devices page's search; ``device_path`` leads from the listed model to
    its device ("" for Device itself)."""

    device_path = ""
    search_fields = ["pk"]  # admin shows its search box only when this is set; the search is ours
    search_help_text = SEARCH_HELP

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        lookup = f"{self.device_path}__in" if self.device_path else "pk__in"
        return queryset.filter(**{lookup: device_ids_search(search_term, limit=ADMIN_SEARCH_LIMIT)}), False


# --- Filters that read small tables, never DISTINCT over the devices -----------------------------


class CustomerFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "customer"
    field = "owner_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        customers = Customer.objects.order_by("name").values_list("company_id", "name")
        return [(str(company_id), f"{name} ({company_id})") for company_id, name in customers]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{self.field: int(value)})
        return queryset


class EventCustomerFilter(CustomerFilter):
    field = "customer_id"


class DeviceModelFilter(admin.SimpleListFilter):
    """Manufacturer and model, from the small table the cache's writers keep (``DeviceModel``)."""

    title = "model"
    parameter_name = "device_model"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(entry.pk), str(entry)) for entry in DeviceModel.objects.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not (value and value.isdigit()):
            return queryset
        entry = DeviceModel.objects.filter(pk=int(value)).first()
        if entry is None:
            return queryset.none()
        return queryset.filter(manufacturer=entry.manufacturer, model=entry.model)


class ClaimStateFilter(admin.SimpleListFilter):
    title = "claim"
    parameter_name = "claim"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("claimed", "Claimed"),
            ("unclaimed", "Not claimed"),
            ("own", "Claimed for our own customers"),
            ("vendor", "Claimed for vendors' customers"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "claimed":
                return queryset.filter(owner__isnull=False)
            case "unclaimed":
                return queryset.filter(owner__isnull=True)
            case "own":
                return queryset.filter(owner__isnull=False, sold_by_vendor=False)
            case "vendor":
                return queryset.filter(sold_by_vendor=True)
        return queryset


# --- Devices -----------------------------------------------------------------------------------------


def _all_fields(model: type) -> list[str]:
    return [field.name for field in model._meta.fields]


@admin.register(Device)
class DeviceAdmin(IdentifierSearchMixin, LargeTableAdmin, ReadOnlyModelAdmin):
    list_display = ["device_id", "imei", "meid", "serial_number", "manufacturer", "model", "claimed_for"]
    list_filter = [ClaimStateFilter, CustomerFilter, DeviceModelFilter]
    list_select_related = ["owner"]

    def get_readonly_fields(self, request: HttpRequest, obj: Device | None = None) -> list[str]:
        return ["portal_page", "history", "keys", *_all_fields(Device)]

    @admin.display(description="Claimed for", ordering="owner_id")
    def claimed_for(self, device: Device) -> str:
        return device.owner_name or "—"

    @admin.display(description="Devices page")
    def portal_page(self, device: Device) -> str:
        return format_html(
            '<a href="{}">Open the device in the portal</a>', reverse("devices:detail", args=[device.pk])
        )

    @admin.display(description="History")
    def history(self, device: Device) -> str:
        url = reverse("admin:devices_deviceevent_changelist") + f"?device__device_id__exact={device.pk}"
        return format_html('<a href="{}">What happened to it</a>', url)

    @admin.display(description="Search keys")
    def keys(self, device: Device) -> str:
        rows = device.search_keys.order_by("kind", "value")
        return format_html_join(", ", "{}: {}", ((key.get_kind_display(), key.value) for key in rows)) or "—"


@admin.register(DeviceModel)
class DeviceModelAdmin(ReadOnlyModelAdmin):
    list_display = ["manufacturer", "model"]
    search_fields = ["manufacturer", "model"]


# --- Device history ----------------------------------------------------------------------------------


@admin.register(DeviceEvent)
class DeviceEventAdmin(IdentifierSearchMixin, LargeTableAdmin, ReadOnlyModelAdmin):
    """Append-only history. Newest first by id (which follows time): the primary key's index gives the
    first page at once, where ordering a million rows by their time would sort them all."""

    device_path = "device_id"
    list_display = ["created_at", "device", "event", "outcome", "source", "actor", "customer_number"]
    list_filter = [
        "kind",
        "outcome",
        "source",
        "failure_kind",
        ("created_at", admin.DateFieldListFilter),
        EventCustomerFilter,
    ]
    list_select_related = ["device", "actor"]
    ordering = ["-id"]

    def get_readonly_fields(self, request: HttpRequest, obj: DeviceEvent | None = None) -> list[str]:
        return _all_fields(DeviceEvent)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The device page's "History" link filters by device without a filter listing every device.
        return lookup == "device__device_id__exact" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="What happened")
    def event(self, event: DeviceEvent) -> str:
        return event.title

    @admin.display(description="Customer")
    def customer_number(self, event: DeviceEvent) -> Any:
        return event.customer_id or "—"


# --- Sync runs ---------------------------------------------------------------------------------------


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyModelAdmin):
    change_list_template = "admin/devices/syncrun/change_list.html"
    list_display = [
        "started_at",
        "scope",
        "status",
        "trigger",
        "duration",
        "customers_fetched",
        "devices_fetched",
        "devices_created",
        "devices_updated",
        "devices_drifted",
        "error_count",
    ]
    list_filter = ["status", "scope"]

    def get_readonly_fields(self, request: HttpRequest, obj: SyncRun | None = None) -> list[str]:
        return ["duration", "error_list", *_all_fields(SyncRun)]

    def get_urls(self) -> list[URLPattern]:
        start = path("start/", self.admin_site.admin_view(self.start_view), name="devices_syncrun_start")
        return [start, *super().get_urls()]

    @admin.display(description="Duration")
    def duration(self, run: SyncRun) -> str:
        end = run.finished_at or timezone.now()
        seconds = int((end - run.started_at).total_seconds())
        hours, rest = divmod(seconds, 3600)
        text = f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
        return text if run.finished_at else f"{text} so far"

    @admin.display(description="Errors")
    def error_count(self, run: SyncRun) -> int:
        return len(run.errors or [])

    @admin.display(description="Errors in words")
    def error_list(self, run: SyncRun) -> str:
        return format_html_join("", "<p>{}</p>", ((error,) for error in run.errors or [])) or "None"

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """The "Start a sync" button: POST only, for admins who may add sync runs."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("devices.add_syncrun"):
            raise PermissionDenied("Only administrators may start a sync.")
        try:
            run = sync_start_request(actor=request.user)
        except SyncAlreadyRunning as exc:
            self.message_user(request, f"No sync was started: {exc}", messages.WARNING)
        else:
            self.message_user(
                request, f"A full sync has started (run {run.pk}); a worker carries it out.", messages.SUCCESS
            )
        return redirect("admin:devices_syncrun_changelist")
