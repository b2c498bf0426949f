"""The report's sections: each reads the rollups (never the raw history, apart from a handful of
example devices), buckets days into the chosen grain, and gives a chart and the table of its numbers.

Every section is a function of ``ReportFilters`` alone, so the page, the htmx fragment, the CSV
export, the weekly email and the benchmark all call the same code.
"""

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone
from django.utils.safestring import SafeString

from batches.models import BatchJob
from customers.models import Customer
from devices.models import Device, DeviceEvent, FailureKind
from reports.charts import Series, bar_chart, line_chart
from reports.forms import ReportFilters
from reports.models import DailyActivity, DailyModelActivity, DailyModelTotal, FleetCount

Kind = DeviceEvent.Kind
Outcome = DeviceEvent.Outcome
FAILED = (Outcome.FAILED, Outcome.UNKNOWN)
CHANGES = (Kind.CLAIMED, Kind.MOVED, Kind.UNCLAIMED, Kind.METADATA_CHANGED)
# What the claim figures count: claims, and moves, each counted once as a claim for the customer the
# device went to (its event's customer; devices.selectors.CLAIM_KINDS). The customer it left is not
# counted an unclaim: one event, one count, as the rollups keep them. A move whose claim failed left
# its device unclaimed and is recorded as an unclaim from that customer, so it is counted as one.
CLAIMS = (Kind.CLAIMED, Kind.MOVED)
CLAIMS_AND_UNCLAIMS = [*CLAIMS, Kind.UNCLAIMED]
# A figure that cannot be given (a rate of zero attempts): an en dash, which no spreadsheet reads as
# the start of a formula, so the CSV export keeps it as it is.
NOTHING = "\u2013"
_RATE = re.compile(r"\d+(\.\d+)?%")


# The most rows a table shows on the page (every row is in its CSV); a table this long is scrolled
# and filtered by typing (static/js/reports.js).
SHOWN_ROWS = 500


@dataclass
class Table:
    """A table of numbers: shown under its chart, and exported as CSV under its slug. The table holds
    every row (every customer, model, salesperson); charts show the top few."""

    slug: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    @property
    def searchable(self) -> bool:
        return len(self.rows) > 10

    @property
    def hidden_rows(self) -> int:
        """Rows past ``SHOWN_ROWS``: the page says they are in the CSV."""
        return max(0, len(self.rows) - SHOWN_ROWS)

    @property
    def numeric(self) -> list[bool]:
        """Whether each column holds numbers (counts or rates): those are aligned right, so that
        digits line up. ``NOTHING`` (a rate of nothing, a time never measured) does not make a
        column text."""
        return [
            any(_is_figure(row[index]) for row in self.rows)
            and all(_is_figure(row[index]) or row[index] == NOTHING for row in self.rows)
            for index in range(len(self.columns))
        ]

    @property
    def header(self) -> list[tuple[str, bool]]:
        return list(zip(self.columns, self.numeric, strict=True))

    @property
    def body(self) -> list[list[tuple[object, bool]]]:
        """The rows shown on the page, each cell with its column's alignment."""
        numeric = self.numeric
        return [list(zip(row, numeric, strict=True)) for row in self.rows[:SHOWN_ROWS]]


def _is_figure(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and _RATE.fullmatch(value) is not None)


@dataclass
class Section:
    slug: str
    title: str
    tables: list[Table]
    chart: SafeString | None = None
    note: str = ""


# --- Periods -------------------------------------------------------------------------------------------


def period_of(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def periods(filters: ReportFilters) -> list[date]:
    """Every period of the range, empty ones included, so that a chart's axis has no gaps."""
    found, day = [], period_of(filters.start, filters.grain)
    while day <= filters.end:
        found.append(day)
        if filters.grain == "month":
            day = (day + timedelta(days=32)).replace(day=1)
        else:
            day += timedelta(days=7 if filters.grain == "week" else 1)
    return found


def period_label(day: date, grain: str) -> str:
    if grain == "month":
        return day.strftime("%b %Y")
    if grain == "week":
        return f"Week of {day:%Y-%m-%d}"
    return day.isoformat()


def _axis_label(day: date, grain: str) -> str:
    return day.strftime("%b %Y") if grain == "month" else day.strftime("%d %b")


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else NOTHING


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value at or below which ``fraction`` of the samples lie)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NOTHING
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


# --- Reading the rollups -------------------------------------------------------------------------------


def _rollup(filters: ReportFilters, model=DailyActivity, *, person: bool = True) -> QuerySet:
    rows = model.objects.filter(day__gte=filters.start, day__lte=filters.end).order_by()
    if filters.customer_id:
        rows = rows.filter(customer_id=filters.customer_id)
    if filters.user_id and person:
        rows = rows.filter(user_id=filters.user_id)
    return rows


def _counts(rows: QuerySet, *by: str) -> Iterable[tuple]:
    return rows.values(*by).annotate(number=Sum("count")).values_list(*by, "number")


def _by_period(filters: ReportFilters, rows: Iterable[tuple[date, int]]) -> dict[date, int]:
    totals: dict[date, int] = defaultdict(int)
    for day, number in rows:
        totals[period_of(day, filters.grain)] += number
    return totals


def _time_section(
    filters: ReportFilters,
    *,
    slug: str,
    title: str,
    columns: dict[str, dict[date, int]],
    charted: list[str],
    rate: tuple[str, dict[date, int], dict[date, int]] | None = None,
    note: str = "",
) -> Section:
    """A section of numbers per period: a line per charted column, and the table of all columns
    (plus a rate column: its name, the part and the whole)."""
    spans = periods(filters)
    table = Table(slug, title, ["Period", *columns, *([rate[0]] if rate else [])])
    for period in spans:
        row = [period_label(period, filters.grain), *(values.get(period, 0) for values in columns.values())]
        if rate:
            row.append(_rate(rate[1].get(period, 0), rate[2].get(period, 0)))
        table.rows.append(row)
    chart = line_chart(
        title,
        [_axis_label(p, filters.grain) for p in spans],
        [Series(name, [columns[name].get(p, 0) for p in spans]) for name in charted],
    )
    return Section(slug, title, [table], chart, note)


def _ranked(rows: dict, key=lambda values: values[0]) -> list[list]:
    """Every entry as a row, by its first number (most first), then by name."""
    ordered = sorted(rows.items(), key=lambda item: (-key(item[1]), str(item[0])))
    return [[name, *values] for name, values in ordered]


def _top(ranked: list[list], top: int, other: Callable[[int, list], list]) -> list[list]:
    """For a chart: the ``top`` rows of ``_ranked``, then one "Other" row summing the rest."""
    head, rest = ranked[:top], ranked[top:]
    if rest:
        sums = [sum(row[i] for row in rest) for i in range(1, len(rest[0]))]
        head = [*head, other(len(rest), sums)]
    return head


def _change_counts(rows: Iterable[tuple], width: int = 1) -> dict[tuple, list[int]]:
    """claimed / unclaimed / failed per key, from (key…, kind, outcome, number) rows."""
    found: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for *key, kind, outcome, number in rows:
        counts = found[tuple(key[:width])]
        if outcome in FAILED:
            counts[2] += number
        elif outcome == Outcome.SUCCEEDED:
            counts[0 if kind in CLAIMS else 1] += number
    return found


# --- Sections --------------------------------------------------------------------------------------------


def activity_section(filters: ReportFilters) -> Section:
    rows = _counts(_rollup(filters).filter(kind__in=CLAIMS_AND_UNCLAIMS), "day", "kind", "outcome")
    claimed, unclaimed, failed = defaultdict(int), defaultdict(int), defaultdict(int)
    for day, kind, outcome, number in rows:
        period = period_of(day, filters.grain)
        if outcome in FAILED:
            failed[period] += number
        elif outcome == Outcome.SUCCEEDED:
            (claimed if kind in CLAIMS else unclaimed)[period] += number
    return _time_section(
        filters,
        slug="activity",
        title="Claims and unclaims",
        columns={"Claimed": claimed, "Unclaimed": unclaimed, "Failed attempts": failed},
        charted=["Claimed", "Unclaimed"],
        note="Devices changed through the portal and batches; repeats that changed nothing are not counted.",
    )


def customer_names(ids: Iterable[int]) -> dict[int, str]:
    names = dict(Customer.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "name"))
    return {i: names.get(i) or (f"Customer {i}" if i else "No customer") for i in ids}


def customers_section(filters: ReportFilters) -> Section:
    rows = _counts(_rollup(filters).filter(kind__in=CLAIMS_AND_UNCLAIMS), "customer_id", "kind", "outcome")
    counts = {key[0]: values for key, values in _change_counts(rows).items()}
    names = customer_names(counts)
    ranked = _ranked({names[i]: values for i, values in counts.items()})
    top = _top(ranked, filters.top, lambda n, sums: [f"Other ({n:,} customers)", *sums])
    table = Table("customers", "By customer", ["Customer", "Claimed", "Unclaimed", "Failed"], ranked)
    chart = bar_chart("Devices claimed, by customer", [r[0] for r in top], [r[1] for r in top])
    return Section("customers", "By customer", [table], chart if top else None)


def person_names(ids: Iterable[int]) -> dict[int, str]:
    people = {
        u.pk: u.get_full_name() or u.get_username() for u in get_user_model().objects.filter(pk__in=ids)
    }
    return {i: people.get(i) or (f"User {i} (deleted)" if i else "No one (command line)") for i in ids}


def salespeople_section(filters: ReportFilters) -> Section:
    rows = _counts(_rollup(filters).filter(kind__in=CLAIMS_AND_UNCLAIMS), "user_id", "kind", "outcome")
    counts = {key[0]: values for key, values in _change_counts(rows).items()}
    names = person_names(counts)
    ordered = sorted(counts.items(), key=lambda item: (-item[1][0], names[item[0]]))
    table = Table(
        "salespeople",
        "By salesperson",
        ["Salesperson", "Claimed", "Unclaimed", "Failed", "Failure rate"],
        [[names[i], *values, _rate(values[2], sum(values))] for i, values in ordered],
    )
    chart = bar_chart(
        "Devices claimed, by salesperson", [r[0] for r in table.rows], [r[1] for r in table.rows]
    )
    return Section("salespeople", "By salesperson", [table], chart if ordered else None)


def models_section(filters: ReportFilters) -> Section:
    narrowed = filters.customer_id or filters.user_id
    rows = _counts(
        _rollup(filters, DailyModelActivity if narrowed else DailyModelTotal).filter(
            kind__in=CLAIMS_AND_UNCLAIMS
        ),
        "manufacturer",
        "model",
        "kind",
        "outcome",
    )
    counts = _change_counts(rows, width=2)
    ranked = _ranked(
        {(make or "Unknown", model or "Unknown"): values for (make, model), values in counts.items()}
    )
    top = _top(ranked, filters.top, lambda n, sums: [("Other", f"{n:,} models"), *sums])
    top = [[make, model, *values] for (make, model), *values in top]
    table = Table(
        "models",
        "By manufacturer and model",
        ["Manufacturer", "Model", "Claimed", "Unclaimed", "Failed"],
        [[make, model, *values] for (make, model), *values in ranked],
    )
    chart = bar_chart("Devices claimed, by model", [f"{r[0]} {r[1]}" for r in top], [r[2] for r in top])
    return Section("models", "By manufacturer and model", [table], chart if top else None)


def _moment(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def failure_examples(filters: ReportFilters, failure_kind: str, limit: int = 3) -> list[str]:
    """A few recent devices that failed this way (from the history, through its index of failures)."""
    events = DeviceEvent.objects.filter(
        failure_kind=failure_kind,
        created_at__gte=_moment(filters.start),
        created_at__lt=_moment(filters.end + timedelta(days=1)),
    ).exclude(failure_kind="")  # the index's own condition, word for word: SQLite then uses it
    if filters.customer_id:
        events = events.filter(customer_id=filters.customer_id)
    if filters.user_id:
        events = events.filter(actor_id=filters.user_id)
    return list(events.order_by("-created_at").values_list("identifier", flat=True)[:limit])


def failures_section(filters: ReportFilters) -> Section:
    changes = _rollup(filters).filter(kind__in=CHANGES).exclude(outcome=Outcome.NO_OP)
    attempts, failed = defaultdict(int), defaultdict(int)
    for day, outcome, number in _counts(changes, "day", "outcome"):
        period = period_of(day, filters.grain)
        attempts[period] += number
        if outcome in FAILED:
            failed[period] += number
    section = _time_section(
        filters,
        slug="failure-rate",
        title="Failures",
        columns={"Attempts": attempts, "Failed": failed},
        charted=["Attempts", "Failed"],
        rate=("Failure rate", failed, attempts),
        note="Claims, unclaims and metadata changes; an outcome that stayed unknown counts as failed.",
    )
    by_kind = sorted(
        _counts(changes.filter(outcome__in=FAILED), "failure_kind"), key=lambda row: (-row[1], row[0])
    )
    total = sum(number for _, number in by_kind)
    kinds = Table("failure-kinds", "Failures by reason", ["Reason", "Failures", "Share", "Example devices"])
    for index, (kind, number) in enumerate(by_kind):
        label = FailureKind(kind).label if kind in FailureKind.values else (kind or "Reason not recorded")
        examples = ", ".join(failure_examples(filters, kind)) if index < 8 and kind else ""
        kinds.rows.append([label, number, _rate(number, total), examples])
    section.tables.append(kinds)
    section.slug = "failures"
    return section


def batches_section(filters: ReportFilters) -> Section:
    rows = _counts(
        _rollup(filters).filter(source=DeviceEvent.Source.BATCH, kind__in=CHANGES), "day", "outcome"
    )
    succeeded, failed, both = defaultdict(int), defaultdict(int), defaultdict(int)
    for day, outcome, number in rows:
        period = period_of(day, filters.grain)
        if outcome == Outcome.SUCCEEDED:
            succeeded[period] += number
        elif outcome in FAILED:
            failed[period] += number
        both[period] += number if outcome != Outcome.NO_OP else 0
    section = _time_section(
        filters,
        slug="batch-outcomes",
        title="Batch outcomes",
        columns={"Devices succeeded": succeeded, "Devices failed": failed},
        charted=["Devices succeeded", "Devices failed"],
        rate=("Success rate", succeeded, both),
    )
    section.tables.append(batch_jobs_table(filters))
    section.slug = "batches"
    return section


def batch_jobs_table(filters: ReportFilters) -> Table:
    """Per action: jobs uploaded in the range, devices, success rate, and how long a job took from its
    upload to its last device done (p50 and p95 over the finished jobs)."""
    jobs = BatchJob.objects.filter(
        created_at__gte=_moment(filters.start), created_at__lt=_moment(filters.end + timedelta(days=1))
    ).exclude(state__in=[BatchJob.State.DRAFT, BatchJob.State.DISCARDED])
    if filters.customer_id:
        jobs = jobs.filter(customer_id=filters.customer_id)
    if filters.user_id:
        jobs = jobs.filter(created_by_id=filters.user_id)
    table = Table(
        "batch-jobs",
        "Batch jobs",
        [
            "Action",
            "Jobs",
            "Devices succeeded",
            "Devices failed",
            "Success rate",
            "Upload to done, p50",
            "p95",
        ],
    )
    per_action: dict[str, list] = defaultdict(lambda: [0, 0, 0, []])
    for action, state, ok, bad, created, finished in jobs.values_list(
        "action", "state", "succeeded", "failed", "created_at", "finished_at"
    ).iterator():
        entry = per_action[action]
        entry[0] += 1
        entry[1] += ok
        entry[2] += bad
        if state == BatchJob.State.DONE and finished:
            entry[3].append((finished - created).total_seconds())
    for action, label in BatchJob.Action.choices:
        if action in per_action:
            count, ok, bad, times = per_action[action]
            table.rows.append(
                [
                    label,
                    count,
                    ok,
                    bad,
                    _rate(ok, ok + bad),
                    duration(percentile(times, 0.5) if times else None),
                    duration(percentile(times, 0.95) if times else None),
                ]
            )
    return table


def drift_section(filters: ReportFilters) -> Section:
    rows = _counts(
        _rollup(filters, person=False).filter(kind__in=[Kind.DRIFT_CLAIMED, Kind.DRIFT_UNCLAIMED]),
        "day",
        "kind",
    )
    claimed, unclaimed = defaultdict(int), defaultdict(int)
    for day, kind, number in rows:
        (claimed if kind == Kind.DRIFT_CLAIMED else unclaimed)[period_of(day, filters.grain)] += number
    return _time_section(
        filters,
        slug="drift",
        title="Changes found by sync",
        columns={"Claimed outside the portal": claimed, "Unclaimed outside the portal": unclaimed},
        charted=["Claimed outside the portal", "Unclaimed outside the portal"],
        note="Devices the sync found changed outside the portal (the salesperson filter does not apply).",
    )


def fleet_counts(customer_id: int | None = None) -> tuple[dict[int | None, int], datetime | None]:
    """Devices per customer (None: unclaimed) from the latest snapshot beat took, and when; counted
    from the cache itself while there is no snapshot yet (a new install)."""
    latest = FleetCount.objects.order_by("-taken_at").values_list("taken_at", flat=True).first()
    if latest is None:
        devices = Device.objects.order_by()
        if customer_id:
            devices = devices.filter(owner_id=customer_id)
        rows = devices.values("owner_id").annotate(number=Count("pk")).values_list("owner_id", "number")
        return dict(rows), None
    counts = FleetCount.objects.filter(taken_at=latest)
    if customer_id:
        counts = counts.filter(customer_id=customer_id)
    return {(i or None): n for i, n in counts.values_list("customer_id", "devices")}, latest


def fleet_section(filters: ReportFilters) -> Section:
    """Devices per customer as the cache holds them (the date range does not apply)."""
    counts, taken_at = fleet_counts(filters.customer_id)
    unclaimed = counts.pop(None, 0)
    customers = {
        c["pk"]: c for c in Customer.objects.filter(pk__in=counts).values("pk", "name", "vendor__name")
    }
    claimed = sum(counts.values())
    per_customer = {customers.get(i, {}).get("name") or f"Customer {i}": [n] for i, n in counts.items()}
    ranked = _ranked(per_customer)
    top = _top(ranked, filters.top, lambda n, sums: [f"Other ({n:,} customers)", *sums])
    fleet = Table("fleet", "Devices per customer now", ["Customer", "Devices", "Share of claimed"])
    fleet.rows = [[name, number, _rate(number, claimed)] for name, number in ranked]
    if not filters.customer_id:
        fleet.rows.append(["Unclaimed", unclaimed, ""])
    sellers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, number in counts.items():
        seller = customers.get(i, {}).get("vendor__name") or f"{settings.PORTAL_RESELLER_NAME} itself"
        sellers[seller][0] += 1
        sellers[seller][1] += number
    vendors = Table("vendors", "Vendors' share", ["Sold by", "Customers", "Devices", "Share of claimed"])
    vendors.rows = [
        [seller, n, number, _rate(number, claimed)]
        for seller, (n, number) in sorted(sellers.items(), key=lambda item: -item[1][1])
    ]
    chart = bar_chart("Devices per customer now", [r[0] for r in top], [r[1] for r in top])
    return Section(
        "fleet",
        "Devices per customer now",
        [fleet, vendors],
        chart if top else None,
        (
            f"As the cache held them at {timezone.localtime(taken_at):%H:%M} (counted every few minutes)"
            if taken_at
            else "As the cache holds them now"
        )
        + "; the date range and salesperson do not apply.",
    )


SECTIONS: dict[str, Callable[[ReportFilters], Section]] = {
    "activity": activity_section,
    "customers": customers_section,
    "salespeople": salespeople_section,
    "models": models_section,
    "failures": failures_section,
    "batches": batches_section,
    "drift": drift_section,
    "fleet": fleet_section,
}
# Each table's slug (the CSV export's name) → the section that makes it.
TABLES = {
    "activity": "activity",
    "customers": "customers",
    "salespeople": "salespeople",
    "models": "models",
    "failure-rate": "failures",
    "failure-kinds": "failures",
    "batch-outcomes": "batches",
    "batch-jobs": "batches",
    "drift": "drift",
    "fleet": "fleet",
    "vendors": "fleet",
}


def report_sections(filters: ReportFilters) -> list[Section]:
    return [build(filters) for build in SECTIONS.values()]


def report_table(filters: ReportFilters, slug: str) -> Table:
    section = SECTIONS[TABLES[slug]](filters)
    return next(table for table in section.tables if table.slug == slug)
