"""Batch jobs in Django admin: read-only records (jobs change through their services only), with the
same cancel and retry as the job page."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from batches.jobs import BatchRefused, job_cancel, job_retry_failed
from batches.models import BatchChunk, BatchItem, BatchJob, JobEmail
from batches.selectors import retry_plan
from core.admin import LargeTableAdmin, ReadOnlyModelAdmin


class ChunkInline(admin.TabularInline):
    model = BatchChunk
    fields = [
        "number",
        "state",
        "phase",
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
class BatchJobAdmin(ReadOnlyModelAdmin):
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

    def _each(self, request, jobs, act) -> None:
        """``act(job)`` gives the sentence of what it did; a refusal is said as a warning."""
        for job in jobs:
            try:
                self.message_user(request, f"Batch {job.pk}: {act(job)}", messages.SUCCESS)
            except BatchRefused as exc:
                self.message_user(request, f"Batch {job.pk}: {exc}", messages.WARNING)

    @admin.action(description="Cancel the rows not sent yet")
    def cancel(self, request, queryset) -> None:
        self._each(request, queryset, lambda job: job_cancel(job=job, actor=request.user).sentence)

    @admin.action(description="Retry the failed rows a retry can change (a new job to confirm)")
    def retry_failed(self, request, queryset) -> None:
        def retry(job: BatchJob) -> str:
            left_out = retry_plan(job).left_out_sentence
            new = job_retry_failed(job=job, actor=request.user)
            return f"batch {new.pk} with {new.rows:,} failed rows awaits confirmation. {left_out}".strip()

        self._each(request, queryset, retry)

    def has_change_permission(self, request, obj=None) -> bool:
        # The actions above need it; the form itself shows every field read-only.
        return request.user.has_perm("batches.change_batchjob")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in BatchJob._meta.fields] + list(self.readonly_fields)


@admin.register(BatchItem)
class BatchItemAdmin(LargeTableAdmin, ReadOnlyModelAdmin):
    """A job's rows: opened from the job's "items" link (filtered to the job), then narrowed by state
    and failure kind. Searches by exact identifier use the (job, ...) indexes only with a job chosen."""

    list_display = [
        "job",
        "row_number",
        "state",
        "section_type",
        "imei",
        "meid",
        "serial_number",
        "failure_kind",
        "message",
    ]
    list_filter = ["state", "failure_kind"]
    search_fields = ["=job__id", "=imei", "=meid", "=serial_number"]
    list_select_related = ["job"]
    raw_id_fields = ["job", "chunk"]

    def lookup_allowed(self, lookup: str, value: str, request=None) -> bool:
        # The job page's "items" link filters by job without a filter listing every job.
        return lookup in ("job__id__exact", "chunk__id__exact") or super().lookup_allowed(
            lookup, value, request
        )


@admin.register(BatchChunk)
class BatchChunkAdmin(ReadOnlyModelAdmin):
    """One API request of a job each. Chunks "submitted" or "unknown" are the operations the portal
    is waiting on (the API health page counts them)."""

    list_display = ["__str__", "job", "state", "size", "operation_name", "attempts", "progress", "due_at"]
    list_filter = ["state"]
    search_fields = ["=job__id", "operation_name"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]

    def lookup_allowed(self, lookup: str, value: str, request=None) -> bool:
        return lookup == "job__id__exact" or super().lookup_allowed(lookup, value, request)


@admin.register(JobEmail)
class JobEmailAdmin(ReadOnlyModelAdmin):
    """The emails of jobs that ended: to their sender and to customers. One "failed" after its tries is
    also in the audit log (``batch.email_starter`` / ``batch.email_customer``), with why."""

    list_display = ["__str__", "job", "kind", "customer_id", "state", "attempts", "sent_at", "last_error"]
    list_filter = ["state", "kind"]
    search_fields = ["=job__id", "=customer_id"]
    list_select_related = ["job"]
    raw_id_fields = ["job"]
