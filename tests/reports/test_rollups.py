"""The rollups against numbers counted by hand from a small known history, and a rebuild from the
history giving exactly what the incremental counting gave."""

import io
import random
from datetime import date

import pytest
from django.core.management import call_command

import reports.rollups
from core.roles import Role
from customers.models import Customer
from devices.models import DeviceEvent, FailureKind
from reports.forms import ReportFilters
from reports.models import DailyActivity, DailyModelActivity, DailyModelTotal, Order, OrderLine
from reports.rollups import rollups_rebuild
from reports.selectors import activity_section, customers_section, failures_section, models_section
from tests.conftest import make_user
from tests.reports.history import record

pytestmark = pytest.mark.django_db

MON, TUE, NEXT_MON = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 10)
Kind, Outcome, Source = DeviceEvent.Kind, DeviceEvent.Outcome, DeviceEvent.Source


@pytest.fixture
def history():
    acme = Customer.objects.create(company_id=501, name="Acme")
    globex = Customer.objects.create(company_id=502, name="Globex")
    sam = make_user(Role.SALES, "sam")
    sara = make_user(Role.SALES, "sara")
    record(MON, customer=acme, actor=sam, count=3)
    record(
        MON,
        customer=acme,
        actor=sam,
        outcome=Outcome.FAILED,
        failure_kind=FailureKind.CLAIMED_BY_ANOTHER_CUSTOMER,
    )
    record(
        MON,
        customer=globex,
        actor=sara,
        source=Source.BATCH,
        manufacturer="samsung",
        model="SM-A546B",
        count=2,
    )
    record(TUE, Kind.UNCLAIMED, customer=acme, actor=sam)
    record(TUE, customer=acme, actor=sam, outcome=Outcome.NO_OP)
    record(NEXT_MON, Kind.DRIFT_UNCLAIMED, customer=acme, source=Source.SYNC)
    return {"acme": acme, "globex": globex, "sam": sam, "sara": sara}


def activity_rows() -> set[tuple]:
    return set(
        DailyActivity.objects.values_list(
            "day", "customer_id", "user_id", "kind", "source", "outcome", "failure_kind", "count"
        )
    )


def test_daily_counts_are_those_counted_by_hand(history):
    sam, sara = history["sam"].pk, history["sara"].pk

    assert activity_rows() == {
        (MON, 501, sam, "claimed", "ui", "succeeded", "", 3),
        (MON, 501, sam, "claimed", "ui", "failed", "other_customer", 1),
        (MON, 502, sara, "claimed", "batch", "succeeded", "", 2),
        (TUE, 501, sam, "unclaimed", "ui", "succeeded", "", 1),
        (TUE, 501, sam, "claimed", "ui", "noop", "", 1),
        (NEXT_MON, 501, 0, "drift_unclaimed", "sync", "succeeded", "", 1),
    }
    by_model = set(
        DailyModelActivity.objects.filter(kind="claimed").values_list(
            "manufacturer", "model", "outcome", "count"
        )
    )
    assert by_model == {
        ("Google", "Pixel 8", "succeeded", 3),
        ("Google", "Pixel 8", "failed", 1),
        ("Google", "Pixel 8", "noop", 1),
        ("samsung", "SM-A546B", "succeeded", 2),
    }


def test_a_second_write_adds_to_the_days_count(history):
    record(MON, customer=history["acme"], actor=history["sam"], count=2)

    row = DailyActivity.objects.get(
        day=MON, customer_id=501, kind="claimed", outcome="succeeded", source="ui"
    )
    assert row.count == 5


def test_sections_read_the_counts(history):
    filters = ReportFilters(start=MON, end=NEXT_MON, grain="day")

    activity = activity_section(filters).tables[0]
    assert activity.columns == ["Period", "Claimed", "Unclaimed", "Failed attempts"]
    assert activity.rows[0] == ["2026-03-02", 5, 0, 1]
    assert activity.rows[1] == ["2026-03-03", 0, 1, 0]
    assert len(activity.rows) == 9  # every day of the range, empty ones too

    assert customers_section(filters).tables[0].rows == [["Acme", 3, 1, 1], ["Globex", 2, 0, 0]]
    assert models_section(filters).tables[0].rows == [
        ["Google", "Pixel 8", 3, 1, 1],
        ["samsung", "SM-A546B", 2, 0, 0],
    ]
    rate, kinds = failures_section(filters).tables
    assert rate.rows[0] == ["2026-03-02", 6, 1, "16.7%"]
    assert kinds.rows[0][:3] == ["Claimed by another customer", 1, "100.0%"]
    assert kinds.rows[0][3].startswith("35")  # an example device, by its identifier


def test_weeks_and_months_sum_their_days(history):
    weeks = activity_section(ReportFilters(start=MON, end=NEXT_MON, grain="week")).tables[0]
    months = activity_section(ReportFilters(start=MON, end=NEXT_MON, grain="month")).tables[0]

    assert weeks.rows == [["Week of 2026-03-02", 5, 1, 1], ["Week of 2026-03-09", 0, 0, 0]]
    assert months.rows == [["Mar 2026", 5, 1, 1]]


def test_customer_and_salesperson_filters_narrow_every_count(history):
    only_globex = ReportFilters(start=MON, end=TUE, customer_id=502)
    only_sam = ReportFilters(start=MON, end=TUE, user_id=history["sam"].pk)

    assert activity_section(only_globex).tables[0].rows[0] == ["2026-03-02", 2, 0, 0]
    assert activity_section(only_sam).tables[0].rows[0] == ["2026-03-02", 3, 0, 1]


def test_the_table_lists_every_customer_and_the_chart_the_top_then_the_rest(history):
    """A manager looks for a customer with a few claims: the table and its CSV hold every customer;
    only the chart folds the rest into one bar."""
    section = customers_section(ReportFilters(start=MON, end=TUE, top=1))

    assert section.tables[0].rows == [["Acme", 3, 1, 1], ["Globex", 2, 0, 0]]
    assert "Other (1 customers)" in section.chart and "Globex" not in section.chart


# --- Orders ------------------------------------------------------------------------------------------


def test_an_order_counts_each_device_in_the_state_its_latest_change_left_it(history):
    acme, sam = history["acme"], history["sam"]
    order = {"customer": acme, "actor": sam, "order_number": "SO-1"}
    record(MON, identifier="A", **order)
    record(MON, identifier="B", **order)
    record(MON, identifier="C", outcome=Outcome.FAILED, failure_kind=FailureKind.TEMPORARY, **order)
    record(MON, identifier="D", outcome=Outcome.FAILED, failure_kind=FailureKind.INVALID_IDENTIFIER, **order)
    record(TUE, identifier="C", **order)  # claimed on a second try
    record(
        TUE, identifier="B", outcome=Outcome.FAILED, failure_kind=FailureKind.TEMPORARY, **order
    )  # stays claimed
    record(TUE, Kind.UNCLAIMED, identifier="A", **order)
    record(TUE, identifier="E", customer=history["globex"], actor=sam, order_number="SO-2")

    first = Order.objects.get(number="SO-1")
    assert (first.claimed, first.failed, first.unclaimed, first.has_failures) == (2, 1, 1, True)
    assert first.customer_id == 501
    states = dict(OrderLine.objects.filter(order=first).values_list("device_key", "state"))
    assert states == {"A": "unclaimed", "B": "claimed", "C": "claimed", "D": "failed"}
    assert list(Order.objects.values_list("number", flat=True)) == ["SO-1", "SO-2"]  # failures first


# --- Rebuild -----------------------------------------------------------------------------------------


def snapshot() -> dict:
    return {
        "activity": activity_rows(),
        "models": set(
            DailyModelActivity.objects.values_list(
                "day", "customer_id", "user_id", "manufacturer", "model", "kind", "outcome", "count"
            )
        ),
        "model_totals": set(
            DailyModelTotal.objects.values_list("day", "manufacturer", "model", "kind", "outcome", "count")
        ),
        "orders": set(
            Order.objects.values_list(
                "number",
                "customer_id",
                "claimed",
                "failed",
                "unclaimed",
                "has_failures",
                "first_at",
                "last_at",
            )
        ),
        "lines": set(
            OrderLine.objects.values_list(
                "order__number",
                "device_key",
                "device_id",
                "identifier",
                "customer_id",
                "state",
                "failure_kind",
                "updated_at",
            )
        ),
    }


def test_a_rebuild_from_the_history_equals_the_counts_kept_as_it_was_written(history):
    sam = history["sam"]
    for n, outcome in enumerate([Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN, Outcome.SUCCEEDED]):
        record(
            TUE,
            identifier=f"X{n % 2}",
            customer=history["acme"],
            actor=sam,
            outcome=outcome,
            order_number="SO-9",
        )
    record(
        NEXT_MON,
        Kind.DRIFT_UNCLAIMED,
        identifier="X0",
        customer=history["acme"],
        source=Source.SYNC,
        order_number="SO-9",
    )
    incremental = snapshot()
    DailyActivity.objects.filter(day=MON).update(count=99)  # damage that the rebuild must repair
    DailyModelTotal.objects.all().delete()
    Order.objects.all().delete()

    counts = rollups_rebuild()

    assert snapshot() == incremental
    assert counts.activity_rows == len(incremental["activity"])
    assert counts.orders == 1


@pytest.mark.parametrize(("seed", "batch"), [(1, 5000), (2, 5000), (3, 5000), (1, 2), (2, 3)])
def test_the_rebuild_command_recounts_a_random_history_to_the_same_numbers(
    seed, batch, settings, monkeypatch
):
    """Hundreds of events of every kind and outcome, at every hour of the day, some of them on the
    same order's devices. The portal's time zone is not UTC here: the incremental counts (Python) and
    the rebuild (the database) must cut days at the same local midnight. The rebuild reads and writes
    in batches (memory flat): with batches of two or three groups and lines, every boundary falls
    somewhere, and the numbers are the same."""
    settings.TIME_ZONE = "America/Los_Angeles"
    monkeypatch.setattr(reports.rollups, "_REBUILD_BATCH", batch)
    rng = random.Random(seed)
    customers = [Customer.objects.create(company_id=600 + n, name=f"C{n}") for n in range(3)]
    people = [make_user(Role.SALES, f"seller{n}") for n in range(2)]
    kinds = [Kind.CLAIMED, Kind.CLAIMED, Kind.UNCLAIMED, Kind.METADATA_CHANGED, Kind.DRIFT_UNCLAIMED]
    outcomes = [Outcome.SUCCEEDED, Outcome.SUCCEEDED, Outcome.FAILED, Outcome.UNKNOWN, Outcome.NO_OP]
    for _ in range(300):
        outcome = rng.choice(outcomes)
        record(
            date(2026, 3, rng.randint(1, 5)),
            rng.choice(kinds),
            outcome=outcome,
            failure_kind=FailureKind.TEMPORARY if outcome == Outcome.FAILED else "",
            customer=rng.choice([*customers, None]),
            actor=rng.choice([*people, None]),
            source=rng.choice([Source.UI, Source.BATCH, Source.SYNC]),
            identifier=f"D{rng.randrange(20)}",
            order_number=rng.choice(["", "SO-1", "SO-2"]),
            manufacturer=rng.choice(["Google", "samsung"]),
            hour=rng.randrange(24),
            count=rng.randint(1, 3),
        )
    incremental = snapshot()
    assert sum(count for *_, count in incremental["activity"]) == DeviceEvent.objects.count()

    output = io.StringIO()
    call_command("reports_rebuild", stdout=output)

    assert snapshot() == incremental
    assert f"{len(incremental['activity']):,} daily rows" in output.getvalue()
    assert f"{len(incremental['orders'])} orders" in output.getvalue()
