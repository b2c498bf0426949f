"""Writes of the reports app: who gets the weekly summary, and sending it."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.roles import REPORT_ROLES, has_any_role
from devices.models import Device
from reports.forms import ReportFilters
from reports.models import NONE, FleetCount, ReportSubscription
from reports.selectors import Section, activity_section, customers_section, drift_section, failures_section

logger = logging.getLogger(__name__)


def fleet_counts_take() -> int:
    """Count the cache's devices per customer now (one GROUP BY on the owner index) and keep that as
    the latest snapshot, replacing the previous ones in the same transaction."""
    taken_at = timezone.now()
    counts = Device.objects.order_by().values("owner_id").annotate(number=Count("pk"))
    rows = [
        FleetCount(taken_at=taken_at, customer_id=row["owner_id"] or NONE, devices=row["number"])
        for row in counts
    ]
    with transaction.atomic():
        FleetCount.objects.all().delete()
        FleetCount.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def fleet_counts_ensure() -> bool:
    """Take the first snapshot of devices per customer if there is none yet (a new install, before
    beat's first count): the first report page pays for it once, and every page after reads it
    rather than counting the whole cache. Two pages at once count once (a cache lock); the other
    counts live for that one page. True when a snapshot was taken here."""
    if FleetCount.objects.exists():
        return False
    if not cache.add("reports:fleet-counts-taking", True, timeout=60):
        return False
    try:
        fleet_counts_take()
    finally:
        cache.delete("reports:fleet-counts-taking")
    return True


def subscription_set(*, user: AbstractBaseUser, weekly: bool) -> ReportSubscription:
    """Opt a manager in to (or out of) the weekly summary. Opting in again does not resend a week."""
    subscription, _ = ReportSubscription.objects.update_or_create(
        user=user, defaults={"weekly_summary": weekly}
    )
    return subscription


@dataclass(frozen=True)
class WeeklySummary:
    """The week's numbers, as the email states them."""

    start: date
    end: date
    claimed: int
    unclaimed: int
    failed: int
    attempts: int
    drift: int
    top_customers: list[list]
    top_failures: list[list]
    url: str

    @property
    def failure_rate(self) -> str:
        return f"{100 * self.failed / self.attempts:.1f}%" if self.attempts else "-"


def _column_total(section: Section, column: str) -> int:
    table = section.tables[0]
    index = table.columns.index(column)
    return sum(row[index] for row in table.rows)


def weekly_summary(*, week_start: date) -> WeeklySummary:
    """The numbers of the week from Monday ``week_start``, read by the report's own sections."""
    filters = ReportFilters(start=week_start, end=week_start + timedelta(days=6), grain="week", top=5)
    activity = activity_section(filters)
    failures = failures_section(filters)
    drift = drift_section(filters)
    query = urlencode(
        {"preset": "custom", "start": filters.start.isoformat(), "end": filters.end.isoformat()}
    )
    return WeeklySummary(
        start=filters.start,
        end=filters.end,
        claimed=_column_total(activity, "Claimed"),
        unclaimed=_column_total(activity, "Unclaimed"),
        failed=_column_total(failures, "Failed"),
        attempts=_column_total(failures, "Attempts"),
        drift=sum(_column_total(drift, column) for column in drift.tables[0].columns[1:]),
        top_customers=[row for row in customers_section(filters).tables[0].rows if row[1]][:5],
        top_failures=failures.tables[1].rows[:5],
        url=f"{settings.PORTAL_BASE_URL.rstrip('/')}{reverse('reports:index')}?{query}",
    )


def last_week_start(today: date) -> date:
    """The Monday of the last full week before ``today``."""
    return today - timedelta(days=today.weekday() + 7)


def weekly_summaries_send(*, today: date | None = None) -> int:
    """Email last week's summary to every manager or admin who opted in and has an address. Each
    subscription is marked with the week before its email is sent, so a task that runs twice (a
    retry, a second beat) sends a week once at most; a failed send unmarks it for the next run."""
    week_start = last_week_start(today or timezone.localdate())
    subscriptions = ReportSubscription.objects.filter(weekly_summary=True, user__is_active=True).exclude(
        user__email=""
    )
    summary = None
    sent = 0
    for subscription in subscriptions.select_related("user").exclude(last_sent_week=week_start):
        user = subscription.user
        if not has_any_role(user, REPORT_ROLES):
            continue
        claimed = (
            ReportSubscription.objects.filter(pk=subscription.pk)
            .exclude(last_sent_week=week_start)
            .update(last_sent_week=week_start)
        )
        if not claimed:
            continue
        summary = summary or weekly_summary(week_start=week_start)
        context = {"summary": summary, "user": user}
        try:
            send_mail(
                subject=f"Zero-touch claims, week of {week_start:%d %b %Y}",
                message=render_to_string("reports/email/weekly_summary.txt", context),
                from_email=None,
                recipient_list=[user.email],
            )
        except Exception:
            ReportSubscription.objects.filter(pk=subscription.pk).update(
                last_sent_week=subscription.last_sent_week
            )
            logger.exception("The weekly summary to %s could not be sent.", user.get_username())
            continue
        sent += 1
    return sent
