"""Whole tasks done with the keyboard alone, as a person without a mouse does them: Tab and Shift+Tab
to move, Enter and Space to act, arrow keys in lists, Escape to close. The mouse is never used.

Every stop the focus makes on the way is checked: the focused control is on screen, has a size, and
shows a focus ring (an outline the stylesheet or the browser draws), so a control that can be reached
but not seen to be focused fails the walk too.
"""

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from core.roles import Role
from customers.models import Customer
from devices.store import cache_store_devices
from tests.conftest import make_user
from tests.devices.factories import api_device, make_customer, make_imei
from tests.reports.history import record

# What the browser reports about the focused element: enough to tell whether a person sees it. When
# the focus is on a part inside a control (a date box's calendar button), the control itself is not
# ":focus" and the ring is the browser's own, drawn on that part where no script can read it.
_FOCUSED = """() => {
  const element = document.activeElement;
  if (!element || element === document.body || element === document.documentElement) return null;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0
    && !/rgba\\(.*, 0\\)$/.test(style.outlineColor);
  return {
    html: element.outerHTML.slice(0, 160),
    ring: element.matches(":focus") ? outlined : element.matches(":focus-within"),
    sized: box.width > 1 && box.height > 1 && style.visibility !== "hidden",
    onScreen: box.bottom > 0 && box.right > 0 && box.top < window.innerHeight && box.left < window.innerWidth,
  };
}"""


def assert_visibly_focused(page) -> None:
    """The focused element (if any: past the page's last control the focus leaves the page) can be
    seen, and seen to have the focus."""
    focused = page.evaluate(_FOCUSED)
    if focused is None:
        return
    assert focused["sized"] and focused["onScreen"], f"focus is on something not shown: {focused['html']}"
    assert focused["ring"], f"focus is not shown on {focused['html']}"


def walk_to(page, target, *, backwards: bool = False, most: int = 80) -> None:
    """``tests.e2e.conftest.tab_to``, both ways and stricter: press Tab (Shift+Tab when ``backwards``)
    until ``target`` has the focus, checking that every stop on the way is visibly focused; fail if
    the focus never gets there."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(most):
        if target.evaluate("element => element === document.activeElement"):
            assert_visibly_focused(page)
            return
        page.keyboard.press(key)
        assert_visibly_focused(page)
    raise AssertionError(f"{target} is not reachable with {key}")


def sign_in_by_keyboard(page, role: Role):
    """The sign-in form, typed into: the page opens in the username box."""
    user = make_user(role)
    page.goto("/")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you")
    return user


def test_sales_creates_a_customer_with_the_keyboard_alone(page, transactional_db, emulator):
    sign_in_by_keyboard(page, Role.SALES)

    walk_to(page, page.get_by_role("navigation", name="Main").get_by_role("link", name="Customers"))
    page.keyboard.press("Enter")
    expect(page.get_by_label("Search customers")).to_be_focused()  # the list opens in its search box
    walk_to(page, page.get_by_role("link", name="New customer"), backwards=True)
    page.keyboard.press("Enter")

    # A new page starts at the top: the skip link leads past the navigation to the form.
    expect(page.get_by_role("heading", level=1)).to_have_text("New zero-touch customer")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    assert_visibly_focused(page)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    name = page.get_by_label("Company name")
    walk_to(page, name, most=3)  # past the link back to the list, and no further
    page.keyboard.type("Kestrel  Couriers")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Owner emails")).to_be_focused()
    page.keyboard.type("it@kestrel.example")
    page.keyboard.press("Enter")  # a new line, not a submission: one address a line
    page.keyboard.type("ops@kestrel.example")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Admin emails (optional)")).to_be_focused()
    page.keyboard.type("desk@kestrel.example")
    page.keyboard.press("Tab")
    language = page.get_by_label("Language")
    expect(language).to_be_focused()
    assert_visibly_focused(page)
    page.keyboard.type("Fre")  # a closed list picks the option whose name is typed
    expect(language).to_have_value("fr")
    page.keyboard.press("Tab")
    check = page.get_by_role("button", name="Check")
    expect(check).to_be_focused()
    assert_visibly_focused(page)
    page.keyboard.press("Enter")

    confirmation = page.get_by_role("heading", name="Check the name: it cannot be changed afterwards")
    expect(confirmation).to_be_visible()
    expect(page.locator(".shown-name")).to_have_text("Kestrel Couriers")
    walk_to(page, page.get_by_role("button", name="Change something"))
    page.keyboard.press("Space")

    # The form again, as typed, and nothing created yet.
    expect(confirmation).to_have_count(0)
    expect(name).to_have_value("Kestrel  Couriers")
    expect(page.get_by_label("Owner emails")).to_have_value("it@kestrel.example\nops@kestrel.example")
    expect(page.get_by_label("Admin emails (optional)")).to_have_value("desk@kestrel.example")
    expect(language).to_have_value("fr")
    assert emulator.requests_log(method="partners.customers.create") == []
    walk_to(page, name)
    page.keyboard.press("Control+A")
    page.keyboard.type("Kestrel Couriers Ltd")
    walk_to(page, check)
    page.keyboard.press("Enter")

    expect(page.locator(".shown-name")).to_have_text("Kestrel Couriers Ltd")
    create = page.get_by_role("button", name="Create “Kestrel Couriers Ltd” in zero-touch")
    walk_to(page, create)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Kestrel Couriers Ltd")
    customer = Customer.objects.get(name="Kestrel Couriers Ltd")
    expect(page).to_have_url(re.compile(rf"/customers/{customer.pk}/$"))
    assert (customer.owner_emails, customer.admin_emails, customer.language_code) == (
        ["it@kestrel.example", "ops@kestrel.example"],
        ["desk@kestrel.example"],
        "fr",
    )


def test_a_manager_reads_the_reports_with_the_keyboard_alone(page, transactional_db):
    sam = make_user(Role.SALES, "sam")
    today = timezone.localdate()
    last_month = today.replace(day=1) - timedelta(days=1)
    record(today, customer=make_customer(501, "Acme Ltd"), actor=sam, count=2)
    for number in range(30):
        buyer = make_customer(600 + number, f"Big Buyer {number:02d}")
        record(last_month, customer=buyer, actor=sam, count=20)
    record(last_month, customer=make_customer(700, "Quiet Dental Practice"), actor=sam, count=3)
    manager = sign_in_by_keyboard(page, Role.MANAGERS)
    manager.email = "manager@example.com"  # so that the page offers the weekly email
    manager.save()
    walk_to(page, page.get_by_role("link", name="Read reports"))
    page.keyboard.press("Enter")

    customers = page.locator("#section-customers")
    rows = customers.locator("tbody tr")
    expect(rows).to_have_count(1)  # this month: Acme alone
    period = page.get_by_label("Period", exact=True)
    walk_to(page, period)
    page.keyboard.press("ArrowDown")  # a closed list steps to the next period, and the report follows
    expect(page).to_have_url(re.compile(r"preset=last_month"))
    expect(rows).to_have_count(31)
    expect(period).to_be_focused()  # the filters were redrawn under the focus, which stayed put
    expect(period).to_have_value("last_month")

    show = page.get_by_role("button", name="Show")
    walk_to(page, show)
    with page.expect_response(re.compile(r"/reports/\?")):
        page.keyboard.press("Enter")
    expect(show).to_be_focused()
    assert_visibly_focused(page)

    csv_link = customers.get_by_role("link", name="Download as CSV")
    walk_to(page, csv_link)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("customers-")

    find = customers.get_by_label("Find in this table")
    walk_to(page, find)
    page.keyboard.type("dental")
    expect(rows.filter(visible=True)).to_have_count(1)
    expect(rows.filter(visible=True)).to_contain_text("Quiet Dental Practice")
    page.keyboard.press("Escape")  # the search box empties, and every row is back
    expect(find).to_have_value("")
    expect(rows.filter(visible=True)).to_have_count(31)

    # The long table scrolls in a region of its own, which the keyboard reaches and pages through.
    table = customers.get_by_role("region", name="By customer")
    walk_to(page, table, most=2)
    last, first = rows.last, rows.first
    expect(last).not_to_be_in_viewport()
    page.keyboard.press("PageDown")
    expect(first).not_to_be_in_viewport()
    page.keyboard.press("End")
    expect(last).to_be_in_viewport()
    page.keyboard.press("Home")
    expect(first).to_be_in_viewport()
    expect(table).to_be_focused()

    # The weekly email, asked for and stopped: the button that answers has the focus each time.
    walk_to(page, page.get_by_role("button", name="Email me every Monday"))
    page.keyboard.press("Enter")
    stop = page.get_by_role("button", name="Stop the weekly email")
    expect(stop).to_be_focused()
    assert_visibly_focused(page)
    # The answer is swapped in and focused before htmx has finished setting it up (its settle step):
    # a key pressed in those milliseconds would send the form without htmx. A person is slower.
    expect(page.locator(".htmx-swapping, .htmx-settling, .htmx-request")).to_have_count(0)
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Email me every Monday")).to_be_focused()


def test_an_admin_finds_a_device_in_django_admin_with_the_keyboard_alone(page, transactional_db):
    make_customer(501, "Acme Ltd")
    cache_store_devices([api_device(n, owner=501 if n % 2 else None) for n in [*range(1, 7), 21, 22, 23]])
    sign_in_by_keyboard(page, Role.ADMINS)
    walk_to(page, page.get_by_role("link", name="Open Django admin"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    devices = page.locator("#content-main tr.model-device").get_by_role("link", name="Devices")
    walk_to(page, devices, most=40)
    page.keyboard.press("Enter")

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(9)
    search = page.get_by_role("textbox", name="Search")
    walk_to(page, search)
    page.keyboard.type("3500000000000")  # the first digits of devices 1 to 9's IMEIs
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q=3500000000000(&|$)"))
    expect(rows).to_have_count(6)
    claimed = page.locator("#changelist-filter").get_by_role("link", name="Claimed", exact=True)
    walk_to(page, claimed)  # from the top of the new page: the navigation, then the filters
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"claim=claimed"))
    expect(rows).to_have_count(3)

    device = rows.get_by_role("link", name="3", exact=True)
    walk_to(page, device)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("View device")
    expect(page).to_have_url(re.compile(r"/admin/devices/device/3/change/"))
    expect(page.locator("#content")).to_contain_text(make_imei(3))

    # Back to the list, with the search and the filter kept.
    back = page.get_by_role("button", name="Close", exact=True)  # a link that admin presents as a button
    walk_to(page, back)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"claim=claimed"))
    expect(page).to_have_url(re.compile(r"q=3500000000000"))
    expect(rows).to_have_count(3)
