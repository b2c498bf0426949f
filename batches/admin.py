"""Batch jobs in Django admin: read-only records, with the same cancel and retry as the job page."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from batches.models import BatchChunk, BatchItem, BatchJob
from batches.services import BatchRefused, job_cancel, job_retry_failed
from portal.admin import AuditedModelAdmin


class ReadOnlyAdmin(AuditedModelAdmin):
    """Jobs are changed by their services (pages, tasks, zt_batch), never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ChunkInline(admin.TabularInline):
    model = BatchChunk
    fields = [
        "number",
        "state",
        "size",
        "operation_name",
        "attempts",
        "attempted_at",
        "progress",
        "last_error",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "created_by_name",
        "action",
        "state",
        "source_name",
        "rows",
        "ready",
        "succeeded",
        "failed",
        "invalid",
        "skipped",
    ]
    list_filter = ["state", "action", "source"]
    search_fields = ["=id", "created_by_name", "source_name"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [ChunkInline]
    readonly_fields = ["page", "items_link"]
    actions = ["cancel", "retry_failed"]

    @admin.display(description="Job page")
    def page(self, job: BatchJob) -> str:
        return format_html('<a href="{}">Open the job page</a>', reverse("batches:detail", args=[job.pk]))

    @admin.display(description="Items")
    def items_link(self, job: BatchJob) -> str:
        url = reverse("admin:batches_batchitem_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">{} items</a>', url, job.rows)

    def _each(self, request, jobs, service, done: str) -> None:
        for job in jobs:
            try:
                service(job=job, actor=request.user)
            except BatchRefused as exc:
                self.message_user(request, f"Batch {job.pk}: {exc}", messages.WARNING)
            else:
                self.message_user(request, f"Batch {job.pk}: {done}", messages.SUCCESS)

    @admin.action(description="Cancel the rows not sent yet")
    def cancel(self, request, queryset) -> None:
        self._each(request, queryset, job_cancel, "rows not sent yet cancelled.")

    @admin.action(description="Retry failed items (a new job to confirm)")
    def retry_failed(self, request, queryset) -> None:
        self._each(request, queryset, job_retry_failed, "a new job with its failed rows awaits confirmation.")

    def has_change_permission(self, request, obj=None) -> bool:
        # The actions above need it; the form itself shows every field read-only.
        return request.user.has_perm("batches.change_batchjob")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in BatchJob._meta.fields] + list(self.readonly_fields)


@admin.register(BatchItem)
class BatchItemAdmin(ReadOnlyAdmin):
    list_display = ["job", "row_number", "state", "imei", "meid", "serial_number", "failure_kind", "message"]
    list_filter = ["state", "failure_kind"]
    search_fields = ["=job__id", "imei", "meid", "serial_number"]
    list_select_related = ["job"]
    show_full_result_count = False
    raw_id_fields = ["job", "chunk"]
