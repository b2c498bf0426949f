"""Django admin's shared parts, and the admins of the foundation's own models (audit log, users
with their role, groups).

Every app registers its models in its own ``admin.py``, each ModelAdmin deriving from
``AuditedModelAdmin`` so that what admin changes reaches the audit log. Tables that grow to millions
of rows (devices, device history, batch items, the audit log) page with ``EstimatedCountPaginator``.
"""

import json
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.contrib.auth.models import Group, User
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, connection, models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from core.audit import audit_record
from core.csv import csv_lines
from core.models import AuditEvent, Notice
from core.roles import Role, primary_role


def _changed_fields(message: Any) -> list[str]:
    """The fields named by a structured change message (admin's ``construct_change_message``): the
    object's own, and its inlines' as "<inline object>: <field>"."""
    if not isinstance(message, list):
        return []
    fields: list[str] = []
    for part in message:
        changed = part.get("changed") if isinstance(part, dict) else None
        if not changed:
            continue
        prefix = f"{changed['object']}: " if "object" in changed else ""
        fields.extend(prefix + str(name) for name in changed.get("fields", []))
    return fields


def _relations_after(obj: models.Model, fields: list[str]) -> dict[str, list[str]]:
    """What each changed many-to-many field holds after the change: the groups a user is now in,
    which "Changed Groups." alone does not say."""
    after = {}
    for field in obj._meta.many_to_many:
        label = str(capfirst(field.verbose_name))
        if label in fields:
            after[label] = sorted(str(related) for related in getattr(obj, field.name).all())
    return after


class DateSafeChangeList(ChangeList):
    """A change list that answers a date filter no calendar holds (``created_at__year=99999999999999999999``,
    ``created_at__year=0``, ``created_at__day=99999999999999999999``) as admin answers any other wrong
    filter, by going back to the unfiltered list with "?e=1", rather than with a 500.

    Django admin turns ``ValueError`` into ``IncorrectLookupParameters`` where it builds the date
    hierarchy's bounds, but not ``OverflowError``; and a date part given as a plain filter only fails
    when its SQL is built or run, which is when the list is counted.
    """

    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except OverflowError as error:
            raise IncorrectLookupParameters(error) from error

    def get_results(self, request: HttpRequest) -> None:
        try:
            super().get_results(request)
        except (OverflowError, ValueError, DataError) as error:
            raise IncorrectLookupParameters(error) from error


class AuditedModelAdmin(admin.ModelAdmin):
    """The base of every ModelAdmin in the project: what admin changes goes to the audit log too.

    Django admin writes its own history (LogEntry) through ``log_addition``, ``log_change`` and
    ``log_deletions``; every add, edit and delete, the "delete selected" action included, passes
    through them. They keep doing that, and each also writes an ``AuditEvent``, so the portal's log
    holds every change, whether made through the portal's pages or through admin.
    """

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return DateSafeChangeList

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        entry = super().log_addition(request, obj, message)
        _audit(request, "admin.add", obj, {"change_message": entry.get_change_message()})
        return entry

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        entry = super().log_change(request, obj, message)
        fields = _changed_fields(message)
        details = {"change_message": entry.get_change_message(), "fields": fields}
        details.update(self.audit_details(obj, fields))
        _audit(request, "admin.change", obj, details)
        return entry

    def audit_details(self, obj: models.Model, fields: list[str]) -> dict[str, Any]:
        """What a change's audit row says beyond admin's own message: by default, what each changed
        many-to-many field holds afterwards."""
        if members := _relations_after(obj, fields):
            return {"relations_after": members}
        return {}

    def log_deletions(self, request: HttpRequest, queryset: Iterable[models.Model]) -> list[LogEntry]:
        """Called before the objects are deleted, while they can still be named."""
        objects = list(queryset)
        entries = super().log_deletions(request, objects)
        for obj in objects:
            # "deleted_with": how many went in the same action (more than one: "delete selected").
            _audit(request, "admin.delete", obj, {"deleted_with": len(objects)})
        return entries


def _audit(request: HttpRequest, action: str, obj: models.Model, details: dict[str, Any]) -> None:
    audit_record(actor=request.user, action=action, target=obj, details=details)


# --- Paging tables of millions of rows -----------------------------------------------------------

COUNT_CAP = 10_000


def table_row_estimate(model: type[models.Model]) -> int | None:
    """PostgreSQL's estimate of a table's rows (``pg_class.reltuples``, kept up to date by autovacuum
    and ANALYZE): free to read, unlike ``COUNT(*)``. None on other databases, and for a table that was
    never analysed (PostgreSQL reports -1 then)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] < 0:
        return None
    return int(row[0])


class ResultCount(int):
    """A list's row count that says what kind of count it is where admin prints it ("10,000
    results", "Select all … devices"): exact, or "more than" the cap when counting stopped there, or
    "about" the planner's estimate. Arithmetic (the pages) sees the number."""

    kind: str

    def __new__(cls, value: int, kind: str = "exact") -> "ResultCount":
        count = super().__new__(cls, value)
        count.kind = kind
        return count

    def __str__(self) -> str:
        if self.kind == "capped":
            return f"more than {int(self):,}"
        if self.kind == "estimate":
            return f"about {int(self):,}"
        return f"{int(self):,}"


class EstimatedCountPaginator(Paginator):
    """A paginator for admin lists of large tables that never counts the whole table.

    Admin counts a list's rows on every page view; ``COUNT(*)`` over a million devices takes seconds
    on PostgreSQL and SQLite alike. So an unfiltered list on PostgreSQL takes the planner's estimate
    when it is above the cap, and anything else (a filter, a search, SQLite) is counted exactly up to
    ``COUNT_CAP`` rows, one LIMITed subquery, and reported as "more than" the cap beyond it (the
    estimate as "about": ``ResultCount``). Pages past the cap are out of reach, and the list is
    narrowed with its filters or the search box instead. The ModelAdmins that use it also set
    ``show_full_result_count = False``, which spares the second count admin makes for "N results (M
    total)".
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> ResultCount:
        queryset: QuerySet = self.object_list
        if not queryset.query.where:
            estimate = table_row_estimate(queryset.model)
            if estimate is not None and estimate > self.cap:
                return ResultCount(estimate, "estimate")
        counted = queryset.order_by()[: self.cap + 1].count()
        return ResultCount(self.cap, "capped") if counted > self.cap else ResultCount(counted)


class LargeTableAdmin:
    """Mixin of the settings every admin of a table of millions shares."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


class ReadOnlyModelAdmin(AuditedModelAdmin):
    """Rows the portal's services write (the cache of the API's state, histories, logs): admin shows
    them and never adds, edits or deletes them by hand. What may change them is an action that calls
    the same service as the portal's pages."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


# --- The audit log --------------------------------------------------------------------------------


class ActorFilter(admin.SimpleListFilter):
    """Events by the person who made them (accounts that still exist), or by the system: the sync,
    beat, failed sign-ins. Events of deleted accounts are found by name with the search box."""

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        people = User.objects.order_by("username").values_list("pk", "username")
        return [("system", "System (no person)"), *((str(pk), username) for pk, username in people)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "system":
            return queryset.filter(actor__isnull=True, actor_username="")
        if value and value.isdigit():
            return queryset.filter(actor_id=int(value))
        return queryset


AUDIT_CSV_COLUMNS = [
    "created_at",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "outcome",
    "details",
]


@admin.register(AuditEvent)
class AuditEventAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """Read-only: the audit log is written by the portal's services, never by hand. Dates are filtered
    by fixed ranges rather than admin's date hierarchy, which reads every row's date to offer them."""

    list_display = ["created_at", "actor_username", "action", "target_type", "target_label", "outcome"]
    list_filter = [ActorFilter, "action", "outcome", ("created_at", admin.DateFieldListFilter), "target_type"]
    search_fields = ["actor_username", "action", "target_id", "target_label"]
    list_select_related = ["actor"]
    actions = ["export_csv"]

    @admin.action(description="Export the selected events as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        """Streams every selected event ("select all" included) as CSV, written as it is read; each
        cell is made safe to open in a spreadsheet. Reading the audit log out is itself audited."""
        audit_record(
            actor=request.user,
            action="audit.export",
            target_type=AuditEvent._meta.label_lower,
            details={"all_matching": request.POST.get("select_across") == "1", "filters": request.GET.dict()},
        )
        rows = (
            [getattr(event, column) for column in AUDIT_CSV_COLUMNS[:-1]] + [_json(event.details)]
            for event in queryset.order_by("-created_at", "-id").iterator(chunk_size=2000)
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return StreamingHttpResponse(
            csv_lines(AUDIT_CSV_COLUMNS, rows),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
        )


def _json(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)


# --- Users, with their role -----------------------------------------------------------------------

# django.contrib.auth registers its own admins for users and groups (imported above, so registered by
# now); they are put back with the audited base.
admin.site.unregister(User)
admin.site.unregister(Group)

ROLE_CHOICES = [("", "No role: may sign in, sees only the home page"), *((r.value, r.value) for r in Role)]
_ROLES_BY_POWER = (Role.ADMINS, Role.MANAGERS, Role.SALES)


def _group_role(user: User) -> Role | None:
    """The most powerful role group the user is in (prefetched groups are used when there)."""
    names = {group.name for group in user.groups.all()}
    return next((role for role in _ROLES_BY_POWER if role.value in names), None)


def user_role_assign(*, user: User, role: Role | None) -> None:
    """Make ``role`` the user's only role group (None: no role), and let exactly admins (and
    superusers) into Django admin, which wants ``is_staff``. Groups that are not roles stay."""
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role]))
        if role is not None:
            user.groups.add(Group.objects.get(name=role.value))
        staff = role is Role.ADMINS or user.is_superuser
        if user.is_staff != staff:
            user.is_staff = staff
            user.save(update_fields=["is_staff"])
    user.__dict__.pop("_portal_roles", None)  # core.roles caches the roles on the object


class UserRoleChangeForm(UserChangeForm):
    """The user form with one role to choose instead of a list of groups: a person holds one role,
    and the portal's pages and admin both read it from the groups."""

    role = forms.ChoiceField(
        label="Role",
        choices=ROLE_CHOICES,
        required=False,
        help_text="Sales: devices, customers and batches. Managers: read everything, reports included. "
        "Admins: everything, Django admin included.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            role = _group_role(self.instance)
            self.fields["role"].initial = role.value if role else ""


@admin.register(Notice)
class NoticeAdmin(ReadOnlyModelAdmin):
    """The lines shown to a person at the top of their pages (``core.notices``): what they were told,
    and whether they have seen it."""

    list_display = ["created_at", "user", "text", "seen_at"]
    list_filter = [("seen_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "=key"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(User)
class AuditedUserAdmin(AuditedModelAdmin, UserAdmin):
    form = UserRoleChangeForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active", "role", "is_superuser")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    list_display = ("username", "first_name", "last_name", "email", "role", "is_active", "last_login")
    list_filter = ("groups", "is_active", "is_superuser")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Role")
    def role(self, user: User) -> str:
        role = _group_role(user)
        if role is None and user.is_superuser:
            return f"{Role.ADMINS.value} (superuser)"
        return role.value if role else "—"

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if "role" in form.cleaned_data:
            chosen = form.cleaned_data["role"]
            user_role_assign(user=form.instance, role=Role(chosen) if chosen else None)

    def audit_details(self, obj: models.Model, fields: list[str]) -> dict[str, Any]:
        details = super().audit_details(obj, fields)
        if "Role" in fields:
            role = primary_role(obj)
            details["role_after"] = role.value if role else None
        return details


ROLE_NAMES = frozenset(role.value for role in Role)


@admin.register(Group)
class AuditedGroupAdmin(AuditedModelAdmin, GroupAdmin):
    """Groups, with the three role groups' names fixed: a role is found by its group's name (here,
    in ``core.roles``, in the migrations and the reports), so renaming "Admins" would take every
    admin's role away at once. Their permissions stay editable; other groups are edited freely."""

    def get_readonly_fields(self, request: HttpRequest, obj: Group | None = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and obj.name in ROLE_NAMES:
            return (*fields, "name")
        return fields

    def save_model(self, request: HttpRequest, obj: Group, form: forms.ModelForm, change: bool) -> None:
        if change:
            stored = Group.objects.filter(pk=obj.pk).values_list("name", flat=True).first()
            if stored is not None and stored in ROLE_NAMES and obj.name != stored:
                messages.error(request, f"The role group {stored!r} keeps its name; the rest was saved.")
                obj.name = stored
        super().save_model(request, obj, form, change)
