from django.contrib import admin

from portal.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
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
