"""Reads of batch jobs for the pages: lists a page at a time, a job's rows by state and kind."""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, Sum
from django.utils import timezone

from batches.models import BatchChunk, BatchItem, BatchJob
from core.roles import person_name
from customers.models import Customer
from devices.claims import METADATA_LABELS
from devices.failures import RETRY_MAY_CHANGE
from devices.models import FailureKind, SectionType
from devices.selectors import metadata_of

PAGE_SIZE = 50
# Chunks whose request has left (or may have): their rows are sent, their results not in yet.
IN_FLIGHT = (BatchChunk.State.SUBMITTING, BatchChunk.State.SUBMITTED, BatchChunk.State.UNKNOWN)


@dataclass
class Page:
    rows: list
    next_after: int | None  # the key the next page starts after


def jobs_page(
    *,
    user_name: str = "",
    customer_id: int | None = None,
    file_name: str = "",
    state: str = "",
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Jobs newest first (keyset on id), optionally only one person's, one customer's (the job's
    customer, or one its rows name), those whose file name holds ``file_name``, or in one state."""
    jobs = BatchJob.objects.exclude(state=BatchJob.State.DISCARDED).select_related("customer", "created_by")
    if user_name:
        jobs = jobs.filter(created_by_name=user_name)
    if customer_id is not None:
        named = BatchItem.objects.filter(customer_id=customer_id).values("job_id")
        jobs = jobs.filter(Q(customer_id=customer_id) | Q(pk__in=named))
    if file_name:
        jobs = jobs.filter(source_name__icontains=file_name)
    if state:
        jobs = jobs.filter(state=state)
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


def job_users() -> list[tuple[str, str]]:
    """Who made jobs, for the list's filter: (username, their full name), by name. A job keeps its
    maker's username; one whose account is gone is listed by it."""
    usernames = list(
        BatchJob.objects.exclude(created_by_name="").values_list("created_by_name", flat=True).distinct()
    )
    makers = get_user_model().objects.filter(username__in=usernames)
    people = {user.get_username(): person_name(user) for user in makers}
    return sorted(((name, people.get(name, name)) for name in usernames), key=lambda pair: pair[1].casefold())


def time_left(job: BatchJob) -> timedelta | None:
    """The time the job still needs at the pace it has gone so far (None before any result)."""
    done = job.ready - job.pending
    if job.finished or not job.submitted_at or done <= 0 or not job.pending:
        return None
    elapsed = timezone.now() - job.submitted_at
    return elapsed * job.pending / done


@dataclass(frozen=True)
class RetryPlan:
    """Which failed rows a retry would send again, and which stay out because a retry meets the same
    refusal (by kind, most frequent first)."""

    retried: int
    left_out_kinds: list[tuple[str, int]]

    @property
    def left_out(self) -> int:
        return sum(count for _, count in self.left_out_kinds)

    @property
    def left_out_sentence(self) -> str:
        if not self.left_out:
            return ""
        reasons = ", ".join(f"{label.lower()}: {count:,}" for label, count in self.left_out_kinds)
        rows = "row stays" if self.left_out == 1 else "rows stay"
        return f"{self.left_out:,} failed {rows} out, since a retry would meet the same refusal ({reasons})."


def retry_plan(job: BatchJob) -> RetryPlan:
    """What "Retry failed items" would do with this job's failures (the page and the admin action).
    A move's half-done rows are not among them: their devices are unclaimed now, and the page offers
    them claims of their own (``batches.jobs.job_claim_back``, ``job_retry_claims``)."""
    labels = dict(FailureKind.choices)
    retried, left_out = 0, []
    counts = (
        job.items.filter(state=BatchItem.State.FAILED, half_done=False)
        .values_list("failure_kind")
        .annotate(count=Count("id"))
        .order_by("-count")
    )
    for kind, count in counts:
        if kind in RETRY_MAY_CHANGE:
            retried += count
        else:
            left_out.append((labels.get(kind, kind or "Unknown"), count))
    return RetryPlan(retried=retried, left_out_kinds=left_out)


@dataclass(frozen=True)
class Progress:
    """Where a sent job's rows stand, from the items' real states: rows not sent yet (their chunk waits,
    or a lost answer's rows wait to be sent again) and rows sent whose result has not come back. Of
    those, a move's ``moving`` rows are unclaimed already, their claim waiting or under way."""

    not_sent: int
    in_flight: int
    moving: int = 0


def job_progress(job: BatchJob) -> Progress:
    """One small query over the job's chunks (a hundred at most for a 100,000-row job)."""
    if job.state in (BatchJob.State.DRAFT, BatchJob.State.DISCARDED) or not job.pending:
        return Progress(not_sent=0, in_flight=0)
    sizes = list(
        job.chunks.filter(state__in=[BatchChunk.State.PENDING, *IN_FLIGHT])
        .values_list("state", "phase")
        .annotate(items=Sum("size"))
    )
    claim_half = BatchChunk.Phase.CLAIM  # a move's second request: its rows were sent once already
    not_sent = sum(
        n for state, phase, n in sizes if state == BatchChunk.State.PENDING and phase != claim_half
    )
    sent = sum(n for state, phase, n in sizes if state in IN_FLIGHT or phase == claim_half)
    in_flight = min(sent, max(0, job.pending - not_sent))
    moving = min(in_flight, sum(n for _, phase, n in sizes if phase == claim_half))
    return Progress(not_sent=max(0, job.pending - in_flight), in_flight=in_flight, moving=moving)


@dataclass(frozen=True)
class JobCustomer:
    """One customer a job's rows are for (claims) or held by (unclaims, metadata), with its rows."""

    company_id: int | None
    name: str
    rows: int
    terms_attention: bool = False
    terms_sentence: str = ""


def job_customers(job: BatchJob, *, limit: int = 50) -> list[JobCustomer]:
    """The customers of a job's rows that are sent (or to be sent), most rows first."""
    counts = (
        job.items.exclude(state__in=[BatchItem.State.INVALID, BatchItem.State.SKIPPED])
        .values_list("customer_id")
        .annotate(rows=Count("id"))
        .order_by("-rows", "customer_id")[:limit]
    )
    counts = list(counts)
    known = Customer.objects.in_bulk([pk for pk, _ in counts if pk is not None])
    result = []
    for pk, rows in counts:
        customer = known.get(pk)
        if customer is None:
            name = "Unknown to the portal" if pk is None else f"customer id {pk}"
            result.append(JobCustomer(company_id=pk, name=name, rows=rows))
        else:
            result.append(
                JobCustomer(
                    company_id=pk,
                    name=customer.name,
                    rows=rows,
                    terms_attention=customer.terms_need_attention,
                    terms_sentence=customer.terms_sentence,
                )
            )
    return result


def sim_lock_rows(job: BatchJob) -> int:
    """How many of the job's rows to send (or sent) act on the devices' SIM-lock claims: the page and
    ``zt_batch`` say so beside the rows' count. One count over the job's rows."""
    if job.action not in (BatchJob.Action.CLAIM, BatchJob.Action.UNCLAIM):
        return 0
    return (
        job.items.exclude(state__in=[BatchItem.State.INVALID, BatchItem.State.SKIPPED])
        .filter(section_type=SectionType.SIM_LOCK)
        .count()
    )


@dataclass(frozen=True)
class HalfDone:
    """A move job's rows whose device was unclaimed and whose claim then failed, for its page: how
    many, and whom they were moved from (one customer's name when they all were, for the button)."""

    rows: int
    from_name: str  # empty when they came from several customers

    @property
    def sentence(self) -> str:
        devices = "device is" if self.rows == 1 else "devices are"
        return (
            f"{self.rows:,} {devices} half done: unclaimed from "
            f"{self.from_name or 'their customers'}, but the claim for the new customer failed. "
            "They are unclaimed now: claim them back, or try the claim again."
        )


def half_done_rows(job: BatchJob) -> HalfDone | None:
    """The move's half-done rows (None when it has none): one query over its failed rows."""
    if not job.half_done:
        return None
    sources = list(
        job.items.filter(state=BatchItem.State.FAILED, half_done=True)
        .order_by()
        .values_list("from_customer_id", flat=True)
        .distinct()[:2]
    )
    name = customer_names(sources).get(sources[0], "") if len(sources) == 1 else ""
    return HalfDone(rows=job.half_done, from_name=name)


def customer_names(company_ids) -> dict[int, str]:
    """Names of customers by id, for a page of rows."""
    ids = {pk for pk in company_ids if pk is not None}
    return dict(Customer.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def describe_rows(job: BatchJob, items: list[BatchItem]) -> list[BatchItem]:
    """A page of rows made ready to show: each row's customer by name (whom a claim is for, who holds
    the device of an unclaim or a metadata change) and, for a metadata job still to be sent, each
    value as the cache has it now beside the new one. Two queries for the page."""
    names = customer_names([item.customer_id for item in items] + [item.from_customer_id for item in items])
    now = {}
    if job.action == BatchJob.Action.METADATA and job.state == BatchJob.State.DRAFT:
        now = metadata_of([item.device_id for item in items if item.device_id])
    for item in items:
        item.customer_name = names.get(item.customer_id, f"customer id {item.customer_id}")
        if item.from_customer_id is not None:  # a move's row: where the device moves from
            item.from_customer_name = names.get(item.from_customer_id, f"customer id {item.from_customer_id}")
        if item.device_id in now:
            item.metadata_changes = [
                (METADATA_LABELS.get(key, key), str(now[item.device_id].get(key, "")), value)
                for key, value in item.metadata.items()
            ]
    return items


def job_pasted_text(job: BatchJob) -> str:
    """The text a pasted (or scanned) job was made from, rebuilt from its rows in order: what
    "Discard" gives back to the form so that nothing typed is lost. Empty for a file's job."""
    if job.source not in (BatchJob.Source.PASTE, BatchJob.Source.SCAN):
        return ""
    raws = job.items.order_by("row_number", "id").values_list("raw", flat=True)
    first = raws.first()
    if not first:
        return ""
    if list(first) == ["identifier"]:
        return "\n".join(raw.get("identifier", "") for raw in raws.iterator(chunk_size=2000)) + "\n"
    columns = [name for name in first if not name.startswith("(column ")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for raw in raws.iterator(chunk_size=2000):
        writer.writerow([raw.get(column, "") for column in columns])
    return buffer.getvalue()


def jobs_running_for(user_id: int) -> bool:
    """Whether the person has a job queued or running: the layout then looks for its end's notice
    every few seconds. (Few jobs run at once: the state index finds them, whoever made them.)"""
    running = (BatchJob.State.QUEUED, BatchJob.State.RUNNING)
    return BatchJob.objects.filter(state__in=running, created_by_id=user_id).exists()
