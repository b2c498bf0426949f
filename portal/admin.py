from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst

from portal.models import AuditEvent
from portal.services import audit_record


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


class AuditedModelAdmin(admin.ModelAdmin):
    """The base of every ModelAdmin in the project: what admin changes goes to the audit log too.

    Django admin writes its own history (LogEntry) through ``log_addition``, ``log_change`` and
    ``log_deletions``; every add, edit and delete, the "delete selected" action included, passes
    through them. They keep doing that, and each also writes an ``AuditEvent``, so the portal's log
    holds every change, whether made through the portal's pages or through admin.
    """

    def log_addition(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        entry = super().log_addition(request, obj, message)
        _audit(request, "admin.add", obj, {"change_message": entry.get_change_message()})
        return entry

    def log_change(self, request: HttpRequest, obj: models.Model, message: Any) -> LogEntry:
        entry = super().log_change(request, obj, message)
        fields = _changed_fields(message)
        details = {"change_message": entry.get_change_message(), "fields": fields}
        if members := _relations_after(obj, fields):
            details["relations_after"] = members
        _audit(request, "admin.change", obj, details)
        return entry

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


@admin.register(AuditEvent)
class AuditEventAdmin(AuditedModelAdmin):
    """Read-only: the audit log is written by the portal's services, never by hand."""

    list_display = ["created_at", "actor_username", "action", "target_type", "target_label", "outcome"]
    list_filter = ["outcome", "action", "target_type"]
    search_fields = ["actor_username", "action", "target_id", "target_label"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    list_select_related = ["actor"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# django.contrib.auth registers its own admins for users and groups (imported above, so registered by
# now); they are put back with the audited base.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedModelAdmin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedModelAdmin, GroupAdmin):
    pass
