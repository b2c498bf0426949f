"""Reads of batch jobs for the pages: lists a page at a time, a job's rows by state and kind."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from batches.models import BatchItem, BatchJob
from devices.models import FailureKind

PAGE_SIZE = 50


@dataclass
class Page:
    rows: list
    next_after: int | None  # the key the next page starts after


def jobs_page(*, user_name: str = "", before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Jobs newest first (keyset on id), optionally only one person's."""
    jobs = BatchJob.objects.exclude(state=BatchJob.State.DISCARDED).select_related("customer")
    if user_name:
        jobs = jobs.filter(created_by_name=user_name)
    if before:
        jobs = jobs.filter(pk__lt=before)
    rows = list(jobs.order_by("-pk")[: size + 1])
    return Page(rows=rows[:size], next_after=rows[size - 1].pk if len(rows) > size else None)


def job_items_page(
    job: BatchJob, *, state: str = "", kind: str = "", after: int | None = None, size: int = PAGE_SIZE
) -> Page:
    """A job's rows in file order (keyset on the row number), optionally of one state and failure kind."""
    items = job.items.select_related("chunk")
    if state:
        items = items.filter(state=state)
    if kind:
        items = items.filter(failure_kind=kind)
    if after:
        items = items.filter(row_number__gt=after)
    rows = list(items.order_by("row_number", "id")[: size + 1])
    return Page(rows=rows[:size], next_after=rows[size - 1].row_number if len(rows) > size else None)


def failure_kinds(job: BatchJob) -> list[tuple[str, str, int]]:
    """(kind, kind in words, count) of the job's failed items, most frequent first."""
    counts = (
        job.items.filter(state=BatchItem.State.FAILED)
        .values_list("failure_kind")
        .annotate(count=Count("id"))
        .order_by("-count")
    )
    labels = dict(FailureKind.choices)
    return [(kind, labels.get(kind, kind or "Unknown"), count) for kind, count in counts]


def job_users() -> list[str]:
    """Who made jobs, for the list's filter."""
    return list(
        BatchJob.objects.exclude(created_by_name="")
        .order_by("created_by_name")
        .values_list("created_by_name", flat=True)
        .distinct()
    )


def time_left(job: BatchJob) -> timedelta | None:
    """The time the job still needs at the pace it has gone so far (None before any result)."""
    done = job.ready - job.pending
    if job.finished or not job.submitted_at or done <= 0 or not job.pending:
        return None
    elapsed = timezone.now() - job.submitted_at
    return elapsed * job.pending / done
