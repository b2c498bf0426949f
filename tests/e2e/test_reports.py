import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from playwright.sync_api import expect

from core.roles import Role
from devices.models import DeviceEvent
from tests.conftest import make_user
from tests.devices.factories import make_customer
from tests.reports.history import record


def test_a_manager_changes_the_date_range_and_sees_the_chart_and_table_change(page, sign_in):
    acme, globex = make_customer(501, "Acme Ltd"), make_customer(502, "Globex")
    sam = make_user(Role.SALES, "sam")
    today = timezone.localdate()
    long_ago = today - timedelta(days=200)
    record(today, customer=acme, actor=sam, count=3)
    record(long_ago, customer=globex, actor=sam, count=5)
    record(long_ago, customer=globex, actor=sam, outcome=DeviceEvent.Outcome.FAILED, failure_kind="not_found")
    sign_in(Role.MANAGERS)
    page.goto("/reports/")

    customers = page.locator("#section-customers")
    expect(customers.locator("tbody tr")).to_have_count(1)
    expect(customers.locator("tbody tr").first).to_contain_text("Acme Ltd")
    expect(customers.locator("svg .bar")).to_have_count(1)

    page.get_by_label("Period", exact=True).select_option("last_12_months")

    expect(page).to_have_url(re.compile(r"preset=last_12_months"))  # bookmarkable
    expect(customers.locator("tbody tr")).to_have_count(2)
    expect(customers.locator("tbody tr").first).to_contain_text("Globex")
    expect(customers.locator("svg .bar")).to_have_count(2)
    expect(page.locator("#section-failures")).to_contain_text("Unknown to zero-touch")

    sam_claimed = page.locator("#section-salespeople tbody tr").first.locator("td").first
    expect(sam_claimed).to_have_text("8")

    # A customer chosen by typing part of its name narrows every section, and the address says so.
    page.get_by_label("Customer", exact=True).press_sequentially("glob", delay=40)
    page.get_by_role("button", name=re.compile("Globex")).click()
    expect(page).to_have_url(re.compile(r"customer=502"))
    expect(customers.locator("tbody tr")).to_have_count(1)
    expect(customers.locator("tbody tr").first).to_contain_text("Globex")
    expect(page.locator("#report-range")).to_contain_text("Globex")
    expect(sam_claimed).to_have_text("5")  # Globex's devices alone
    page.get_by_label("Customer", exact=True).fill("")  # emptied: every customer again
    expect(page).not_to_have_url(re.compile(r"customer="))
    expect(customers.locator("tbody tr")).to_have_count(2)
    expect(sam_claimed).to_have_text("8")

    # A date typed makes the range custom: only the day long ago.
    page.get_by_label("From", exact=True).fill(long_ago.isoformat())
    page.get_by_label("To", exact=True).fill(long_ago.isoformat())
    page.get_by_label("To", exact=True).dispatch_event("change")

    expect(page).to_have_url(re.compile(rf"preset=custom&start={long_ago}&end={long_ago}"))
    expect(customers.locator("tbody tr")).to_have_count(1)
    expect(customers.locator("tbody tr").first).to_contain_text("Globex")
    expect(page.get_by_label("Period", exact=True)).to_have_value("custom")

    page.reload()  # the address alone shows the same report
    expect(customers.locator("tbody tr").first).to_contain_text("Globex")
    with page.expect_download() as download:
        customers.get_by_role("link", name="Download as CSV").click()
    assert download.value.suggested_filename == f"customers-{long_ago}-{long_ago}.csv"
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert list(csv.reader(io.StringIO(exported))) == [
        ["Customer", "Claimed", "Unclaimed", "Failed"],
        ["Globex", "5", "0", "1"],
    ]

    page.emulate_media(media="print")  # the print stylesheet: the report without the controls
    expect(page.locator("#report-filters")).to_be_hidden()
    expect(customers.get_by_role("link", name="Download as CSV")).to_be_hidden()
    expect(customers.locator("table")).to_be_visible()
    expect(page.locator("#report-range")).to_be_visible()


def test_a_manager_finds_an_order_and_sees_its_failures(page, sign_in):
    acme = make_customer(501, "Acme Ltd")
    sam = make_user(Role.SALES, "sam")
    today = timezone.localdate()
    record(today, customer=acme, actor=sam, order_number="SO-123", identifier="35000000000000#", count=2)
    record(
        today,
        customer=acme,
        actor=sam,
        order_number="SO-123",
        identifier="359999999999999",
        outcome=DeviceEvent.Outcome.FAILED,
        failure_kind="invalid_identifier",
    )
    record(today, customer=acme, actor=sam, order_number="PO-9", identifier="351111111111111")
    sign_in(Role.MANAGERS)
    page.goto("/reports/")
    page.locator("#main").get_by_role("link", name="Orders").click()  # the reports page's own link

    page.get_by_label("Order number, or any part of it").fill("so-1")
    expect(page.locator("#orders tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=so-1"))
    page.get_by_role("link", name="SO-123").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("SO-123")
    expect(page.locator("tbody tr").first).to_contain_text("Invalid device identifier")


def test_a_manager_finds_a_small_customer_among_many_by_typing(page, sign_in):
    sam = make_user(Role.SALES, "sam")
    today = timezone.localdate()
    for number in range(14):
        record(today, customer=make_customer(600 + number, f"Big Buyer {number:02d}"), actor=sam, count=20)
    record(today, customer=make_customer(700, "Quiet Dental Practice"), actor=sam, count=3)
    sign_in(Role.MANAGERS)
    page.goto("/reports/")

    rows = page.locator("#section-customers tbody tr")
    expect(rows).to_have_count(15)
    page.get_by_label("Find in this table").first.press_sequentially("dental", delay=30)

    expect(rows.filter(visible=True)).to_have_count(1)
    expect(rows.filter(visible=True).first).to_contain_text("Quiet Dental Practice")
