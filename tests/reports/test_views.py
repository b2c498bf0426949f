"""The reports' pages: who may read them, the filters and the address that keeps them, htmx
fragments, CSV exports that no spreadsheet runs as a formula, and orders."""

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from batches.models import BatchItem, BatchJob
from core.roles import Role
from customers.models import Customer
from devices.models import DeviceEvent, FailureKind
from devices.store import cache_store_devices
from tests.conftest import make_user
from tests.devices.factories import api_device, make_customer, make_imei
from tests.reports.history import record

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
JAN, FEB = date(2026, 1, 15), date(2026, 2, 10)
RANGE_JAN = {"preset": "custom", "start": "2026-01-01", "end": "2026-01-31"}


@pytest.fixture
def history():
    acme = Customer.objects.create(company_id=501, name="Acme")
    hostile = Customer.objects.create(company_id=502, name='=HYPERLINK("http://evil.example","x")')
    sam = make_user(Role.SALES, "sam")
    record(JAN, customer=acme, actor=sam, count=4)
    record(JAN, customer=hostile, actor=sam, count=2)
    record(FEB, customer=acme, actor=sam, count=7)
    record(
        FEB, customer=acme, actor=sam, outcome=DeviceEvent.Outcome.FAILED, failure_kind=FailureKind.NOT_FOUND
    )
    return {"acme": acme, "hostile": hostile, "sam": sam}


def table(response, slug: str) -> list[list[str]]:
    """The body rows of one report table as text, from the page."""
    text = response.text
    start = text.index(f'data-table="{slug}"')
    body = text[text.index("<tbody>", start) : text.index("</table>", start)]
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def section(response, slug: str) -> str:
    text = response.text
    start = text.index(f'id="section-{slug}"')
    return text[start : text.index("</section>", start)]


@pytest.mark.parametrize(
    "path",
    [
        "/reports/",
        "/reports/export/customers.csv",
    ],
)
def test_sales_may_not_read_reports(client_as, orders, path):
    assert client_as(Role.SALES).get(path).status_code == 403
    assert client_as(Role.MANAGERS).get(path).status_code == 200


def test_sales_may_not_ask_for_the_weekly_email(client_as):
    assert client_as(Role.SALES).post("/reports/subscription/", {"weekly": "on"}).status_code == 403


@pytest.mark.parametrize("role", [Role.MANAGERS, Role.ADMINS])
def test_managers_and_admins_read_reports(client_as, role, history):
    response = client_as(role).get("/reports/")

    assert response.status_code == 200
    for title in ["Claims and unclaims", "By customer", "By salesperson", "Failures by reason", "Batch jobs"]:
        assert title in response.text


def test_the_date_range_chooses_what_is_counted(client_as, history):
    client = client_as(Role.MANAGERS)

    january = client.get("/reports/", RANGE_JAN)
    february = client.get("/reports/", {"preset": "custom", "start": "2026-02-01", "end": "2026-02-28"})

    assert table(january, "customers") == [
        ["Acme", "4", "0", "0"],
        ['=HYPERLINK("http://evil.example","x")', "2", "0", "0"],
    ]
    assert table(february, "customers") == [["Acme", "7", "0", "1"]]
    assert section(january, "customers").count('class="bar series-0"') == 2
    assert section(february, "customers").count('class="bar series-0"') == 1


def test_a_customer_and_a_salesperson_narrow_the_report(client_as, history):
    other = make_user(Role.SALES, "olga")
    record(JAN, customer=history["acme"], actor=other, count=5)
    client = client_as(Role.MANAGERS)

    by_customer = client.get("/reports/", {**RANGE_JAN, "customer": 501})
    by_person = client.get("/reports/", {**RANGE_JAN, "salesperson": other.pk})

    assert table(by_customer, "customers") == [["Acme", "9", "0", "0"]]
    assert table(by_person, "salespeople") == [["Olga", "5", "0", "0", "0.0%"]]
    assert "Acme" in by_customer.text.split('id="report-range"')[1].split("</p>")[0]


def test_a_preset_resolves_to_its_dates(client_as, history):
    today = timezone.localdate()

    response = client_as(Role.MANAGERS).get("/reports/", {"preset": "last_7_days"})

    assert f'value="{(today - timedelta(days=6)).isoformat()}"' in response.text
    assert f'value="{today.isoformat()}"' in response.text


def test_htmx_gets_the_report_alone_and_the_address_to_keep(client_as, history):
    response = client_as(Role.MANAGERS).get(
        "/reports/", {**RANGE_JAN, "grain": "week", "customer": ""}, headers=HTMX
    )

    assert response.status_code == 200
    assert "<html" not in response.text and 'id="report-filters"' in response.text
    assert (
        response.headers["HX-Push-Url"]
        == "/reports/?preset=custom&start=2026-01-01&end=2026-01-31&grain=week"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"preset": "custom", "start": "2026-02-01", "end": "2026-01-01"},
            "The range ends before it starts.",
        ),
        ({"preset": "custom", "start": "2026-02-01"}, "A custom range needs both dates."),
        ({"preset": "custom", "start": "2020-01-01", "end": "2026-01-01"}, "at most three years"),
        ({"start": "yesterday", "end": "2026-01-01"}, "Enter a valid date."),
    ],
)
def test_a_range_that_makes_no_sense_is_refused_in_words(client_as, query, message):
    response = client_as(Role.MANAGERS).get("/reports/", query)

    assert response.status_code == 400
    assert message in response.text


def test_each_table_exports_as_csv_with_no_formula_a_spreadsheet_would_run(client_as, history):
    response = client_as(Role.MANAGERS).get("/reports/export/customers.csv", RANGE_JAN)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="customers-2026-01-01-2026-01-31.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [
        ["Customer", "Claimed", "Unclaimed", "Failed"],
        ["Acme", "4", "0", "0"],
        ['\'=HYPERLINK("http://evil.example","x")', "2", "0", "0"],
    ]


@pytest.mark.parametrize(
    "slug",
    [
        "activity",
        "salespeople",
        "models",
        "failure-rate",
        "failure-kinds",
        "batch-outcomes",
        "batch-jobs",
        "drift",
        "fleet",
        "vendors",
    ],
)
def test_every_table_exports_the_numbers_the_page_shows(client_as, history, slug):
    client = client_as(Role.MANAGERS)
    record(JAN, customer=history["acme"], actor=history["sam"], outcome="failed", failure_kind="temporary")
    record(JAN, "drift_unclaimed", customer=history["acme"], source="sync")

    response = client.get(f"/reports/export/{slug}.csv", RANGE_JAN)
    page = client.get("/reports/", RANGE_JAN)

    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())  # Excel then reads it as UTF-8
    header, *rows = csv.reader(io.StringIO(response.content.decode("utf-8-sig")))
    assert f'<h3 id="table-{slug}">' in page.text
    if rows:
        assert table(page, slug) == rows
        assert f'<th scope="col">{header[0]}</th>' in page.text
    else:
        assert f'data-table="{slug}"' not in page.text


def test_an_unknown_table_is_not_found(client_as):
    assert client_as(Role.MANAGERS).get("/reports/export/secrets.csv").status_code == 404


def test_failures_are_given_by_reason_with_example_devices(client_as, history):
    response = client_as(Role.MANAGERS).get(
        "/reports/", {"preset": "custom", "start": "2026-02-01", "end": "2026-02-28"}
    )

    [row] = table(response, "failure-kinds")
    assert row[:3] == ["Unknown to zero-touch", "1", "100.0%"]
    assert row[3].startswith("35")


def test_batch_jobs_give_their_success_rate_and_time_to_done(client_as, history):
    created = timezone.make_aware(timezone.datetime(2026, 1, 10, 9, 0))
    for minutes, (ok, bad) in [(10, (90, 10)), (30, (100, 0))]:
        BatchJob.objects.create(
            action="claim",
            state="done",
            created_by=history["sam"],
            created_at=created,
            finished_at=created + timedelta(minutes=minutes),
            ready=ok + bad,
            succeeded=ok,
            failed=bad,
        )
    BatchJob.objects.create(action="claim", state="draft", created_at=created)  # never sent: not counted

    response = client_as(Role.MANAGERS).get("/reports/", RANGE_JAN)

    assert table(response, "batch-jobs") == [
        ["Claim", "2", "190", "10", "95.0%", "10 min 00 s", "30 min 00 s"]
    ]


# --- Orders ------------------------------------------------------------------------------------------


@pytest.fixture
def orders(history):
    acme, sam = history["acme"], history["sam"]
    record(JAN, customer=acme, actor=sam, order_number="SO-100", identifier="A#", count=3)
    record(FEB, customer=acme, actor=sam, order_number="SO-200", identifier="B#", count=2)
    record(
        FEB,
        customer=acme,
        actor=sam,
        order_number="SO-200",
        identifier="C1",
        outcome=DeviceEvent.Outcome.FAILED,
        failure_kind=FailureKind.INVALID_IDENTIFIER,
    )
    record(FEB, customer=acme, actor=sam, order_number="PO-7", identifier="D1")
    job = BatchJob.objects.create(action="claim", state="running", created_by=sam)
    BatchItem.objects.create(
        job=job, row_number=2, state="pending", imei="E1", metadata={"ordernumber": "SO-100"}
    )


def test_orders_with_failures_come_first_and_a_prefix_finds_them(client_as, orders):
    client = client_as(Role.MANAGERS)

    everything = client.get("/orders/")
    so = client.get("/orders/", {"q": "so-"}, headers=HTMX)

    assert [row[0] for row in table(everything, "orders")] == ["SO-200", "PO-7", "SO-100"]
    assert "<html" not in so.text
    assert [row[:6] for row in table(so, "orders")] == [
        ["SO-200", "Acme", "2", "1 failed", "0", "0"],
        ["SO-100", "Acme", "3", "0", "1", "0"],
    ]


def test_an_order_lists_its_devices_failures_first_and_what_is_pending(client_as, orders):
    response = client_as(Role.MANAGERS).get("/orders/SO-200/")

    lines = table(response, "order-lines")
    assert [line[:2] for line in lines] == [["C1", "Failed"], ["B0", "Claimed"], ["B1", "Claimed"]]
    assert lines[0][2] == "Invalid device identifier"
    pending = client_as(Role.MANAGERS).get("/orders/SO-100/")
    assert "Pending in running batches" in pending.text and "E1" in pending.text


def test_the_orders_export_is_formula_safe(client_as, orders):
    record(FEB, customer=history_customer(), order_number="=cmd|' /C calc'!A0", identifier="Z1")

    response = client_as(Role.MANAGERS).get("/orders/export.csv")

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Order number", "Customer", "Claimed", "Failed", "Pending"]
    assert ["'=cmd|' /C calc'!A0"] == [row[0] for row in rows if "calc" in row[0]]


def history_customer() -> Customer:
    return Customer.objects.get(pk=501)


def test_counts_and_rates_line_up_on_the_right_and_names_on_the_left(client_as, history):
    response = client_as(Role.MANAGERS).get("/reports/", RANGE_JAN)

    people = section(response, "salespeople")
    header = re.findall(r'<th scope="col"( class="num")?>([^<]*)</th>', people)
    assert header == [
        ("", "Salesperson"),
        (' class="num"', "Claimed"),
        (' class="num"', "Unclaimed"),
        (' class="num"', "Failed"),
        (' class="num"', "Failure rate"),
    ]
    assert '<td class="num">0.0%</td>' in people


def test_a_rate_of_nothing_is_a_dash_that_the_export_keeps_as_it_is(client_as, history):
    response = client_as(Role.MANAGERS).get("/reports/export/failure-rate.csv", RANGE_JAN)

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1] == ["2026-01-01", "0", "0", "\u2013"]  # no attempts that day: no rate, no formula
    assert rows[15] == ["2026-01-15", "6", "0", "0.0%"]


def test_a_customer_with_three_claims_is_found_among_many_in_the_table_and_the_csv(client_as):
    """The tables and exports used to hold the top 10 and "Other (24 customers)": a customer with a
    few claims could not be found. Now every customer is listed, with a box to find one."""
    sam = make_user(Role.SALES, "sam")
    for number in range(30):
        big = Customer.objects.create(company_id=600 + number, name=f"Big Buyer {number:02d}")
        record(JAN, customer=big, actor=sam, count=10 + number)
    small = Customer.objects.create(company_id=700, name="Quiet Dental Practice")
    record(JAN, customer=small, actor=sam, count=3)
    client = client_as(Role.MANAGERS)

    page = client.get("/reports/", RANGE_JAN)
    exported = client.get("/reports/export/customers.csv", RANGE_JAN)

    rows = table(page, "customers")
    assert len(rows) == 31 and ["Quiet Dental Practice", "3", "0", "0"] in rows
    assert 'data-table-find="customers"' in page.text and "31 rows" in page.text
    assert not any(row[0].startswith("Other") for row in rows)
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert ["Quiet Dental Practice", "3", "0", "0"] in lines and len(lines) == 32
    assert "Other (21 customers)" in section(page, "customers")  # the chart keeps the top 10


def test_any_part_of_an_order_number_finds_it(client_as, orders):
    client = client_as(Role.MANAGERS)

    assert [row[0] for row in table(client.get("/orders/", {"q": "200"}), "orders")] == ["SO-200"]
    assert [row[0] for row in table(client.get("/orders/", {"q": "o-"}), "orders")] == [
        "SO-200",
        "PO-7",
        "SO-100",
    ]


def test_an_order_lists_the_devices_that_carry_its_number_now(client_as, orders):
    make_customer(503, "Harbor Insurance")
    cache_store_devices(
        [
            api_device(1, owner=501, metadata={"ordernumber": "SO-200"}),
            api_device(2, owner=503, metadata={"ordernumber": "SO-200"}),
            api_device(3, owner=503, metadata={"ordernumber": "so-200"}),  # the same order to a person
            api_device(4, metadata={"ordernumber": "SO-200"}),
            api_device(5, owner=503, metadata={"ordernumber": "SO-2001"}),
        ]
    )
    client = client_as(Role.MANAGERS)

    page = client.get("/orders/SO-200/")
    devices = table(page, "order-devices")

    assert sorted(row[0] for row in devices) == sorted(make_imei(n) for n in (1, 2, 3, 4))
    assert "4 devices: Acme 1, Harbor Insurance 2, Unclaimed 1." in page.text
    assert "Claims made with this order number" in page.text  # the history's lines stay below
    assert (
        'href="/devices/?order=SO-200"' in page.text
        and 'href="/devices/export.csv?order=SO-200"' in page.text
    )
    search = client.get("/devices/", {"order": "SO-200"})
    assert "The devices of order" in search.text and make_imei(5) not in search.text  # SO-2001 is another
    listed = {row[0]: row for row in table(client.get("/orders/"), "orders")}
    assert listed["SO-200"][6] == "4" and listed["PO-7"][6] == "0"  # devices that carry it now
    # A device given another order number leaves this one and appears under its new one, which has
    # no claim recorded with it: its page exists all the same.
    cache_store_devices([api_device(2, owner=503, metadata={"ordernumber": "SO-777"})])
    assert make_imei(2) not in client.get("/orders/SO-200/").text
    moved = client.get("/orders/SO-777/")
    assert moved.status_code == 200 and make_imei(2) in moved.text
    assert "Claims made with this order number" not in moved.text
    assert client.get("/orders/SO-404/").status_code == 404


def test_an_order_number_only_devices_carry_is_found_by_any_part_of_it(client_as, orders):
    cache_store_devices(
        [
            api_device(11, owner=501, metadata={"ordernumber": "RMA-2026-0773100"}),
            api_device(12, owner=501, metadata={"ordernumber": "rma-2026-0773100"}),  # the same order
            api_device(13, owner=501, metadata={"ordernumber": "SO-200"}),  # recorded already
        ]
    )
    client = client_as(Role.SALES)

    by_part = table(client.get("/orders/", {"q": "0773100"}), "orders")
    by_start = table(client.get("/orders/", {"q": "so-2"}), "orders")

    assert [(row[0], row[6]) for row in by_part] == [("RMA-2026-0773100", "2")]
    assert [row[0] for row in by_start] == ["SO-200"]  # listed once, with what was recorded
    assert client.get("/orders/RMA-2026-0773100/").status_code == 200
    exported = client.get("/orders/export.csv", {"q": "0773100"}).content.decode("utf-8-sig")
    assert "RMA-2026-0773100" in exported


def test_everyone_who_sells_reads_orders_at_their_own_address(client_as, orders):
    sales = client_as(Role.SALES)

    listing = sales.get("/orders/")
    assert listing.status_code == 200 and "SO-200" in listing.text
    assert 'href="/reports/"' not in listing.text  # no way into the reports sales may not read
    assert sales.get("/orders/SO-200/").status_code == 200
    assert sales.get("/orders/export.csv").status_code == 200
    assert 'href="/orders/"' in sales.get("/").text  # in the navigation
    # Old links and bookmarks of the managers' orders still lead there.
    assert sales.get("/reports/orders/", {"q": "so"}).url == "/orders/?q=so"
    assert sales.get("/reports/orders/SO-200/").url == "/orders/SO-200/"
