"""What a newcomer found in the browser: the customer picker, search hints, history, small screens."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.roles import Role
from customers.models import Customer
from devices.cache import cache_store_devices
from devices.models import Device
from devices.sync import sync_full
from tests.devices.factories import api_device, emulator_device, make_customer, make_imei
from tests.reports.history import record


@pytest.fixture
def many_customers(transactional_db):
    """More customers than a picker lists at once, all sorting before the one a test looks for."""
    for number in range(1, 15):
        make_customer(500 + number, f"Alpha Trading {number:02d}")


def test_the_picker_lists_the_customer_typed_and_a_claim_goes_to_it(page, sign_in, emulator, many_customers):
    emulator.seed(customers=0, vendors=0, devices=0)
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/customers",
        {"customer": {"companyName": "Zenith Logistics", "ownerEmails": ["it@zenith.example"]}},
    )
    assert status == 200, body
    sync_full()
    zenith = Customer.objects.get(name="Zenith Logistics")
    assert zenith.company_id == int(body["companyId"])
    imei = make_imei(81001)
    sign_in(Role.SALES)
    page.goto("/devices/claim/")

    page.get_by_label("IMEI").fill(imei)
    picker = page.get_by_label("Customer", exact=True)
    picker.press_sequentially("Zenith", delay=40)  # key by key, as a person types
    options = page.locator(".picker-option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Zenith Logistics")
    options.first.click()
    expect(picker).to_have_value("Zenith Logistics")
    page.get_by_role("button", name="Claim device").click()

    expect(page.get_by_role("status")).to_contain_text("Claimed for Zenith Logistics.")
    assert emulator_device(emulator, imei)["claims"][0]["ownerCompanyId"] == str(zenith.company_id)


def test_the_picker_keeps_to_the_keyboard_and_warns_of_terms_before_the_claim(
    page, sign_in, emulator, many_customers
):
    """Escape closes the list and keeps what was typed; Tab goes on to the next field, not into the
    list; the best match comes first; choosing a customer without accepted terms warns before the
    claim; an exact name typed without choosing is taken."""
    emulator.seed(customers=0, vendors=0, devices=0)
    for name in ("Maple Insurance SAS", "Maple Services Corp"):  # zero-touch: terms not accepted yet
        status, body = emulator.api(
            "POST",
            f"/v1/partners/{emulator.partner_id}/customers",
            {"customer": {"companyName": name, "ownerEmails": ["it@maple.example"]}},
        )
        assert status == 200, body
    sync_full()
    sign_in(Role.SALES)
    page.goto("/devices/claim/")
    picker = page.get_by_label("Customer", exact=True)
    options = page.locator(".picker-option")

    picker.press_sequentially("maple s", delay=40)
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("Maple Services Corp")
    expect(options.first).to_contain_text("Terms: not accepted")
    picker.press("Escape")
    expect(options).to_have_count(0)
    expect(picker).to_have_value("maple s")  # kept: the box is not wiped, so no full list opens

    picker.press_sequentially("ervices", delay=40)
    expect(options).to_have_count(1)
    picker.press("Tab")
    expect(page.get_by_label("Order number")).to_be_focused()
    expect(options).to_have_count(0)

    picker.fill("")
    picker.press_sequentially("Maple Serv", delay=40)
    options.first.click()
    warning = page.locator("[data-picker-warning]")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(
        "Maple Services Corp: No one at the customer has accepted zero-touch's terms"
    )

    picker.fill("")
    expect(warning).to_be_hidden()
    picker.fill("Maple Insurance SAS")  # typed in full, never chosen from the list
    picker.press("Escape")
    page.get_by_label("IMEI").fill(make_imei(81002))
    page.get_by_role("button", name="Claim device").click()
    expect(page.get_by_role("status")).to_contain_text("Claimed for Maple Insurance SAS.")


def test_the_devices_filter_picker_finds_a_customer_beyond_the_first_ten(page, sign_in, many_customers):
    make_customer(599, "Zenith Logistics")
    cache_store_devices([api_device(1, owner=501), api_device(2, owner=599), api_device(3, owner=599)])
    sign_in(Role.MANAGERS)
    page.goto("/devices/")

    picker = page.get_by_label("Customer", exact=True)
    picker.press_sequentially("zen", delay=40)
    expect(page.locator(".picker-option")).to_have_count(1)
    # The list opens below the box, not over it.
    box, listing = picker.bounding_box(), page.locator(".picker-results").bounding_box()
    assert listing["y"] >= box["y"] + box["height"] - 1
    picker.press("ArrowDown")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"customer=599"))
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.locator(".result-count")).to_have_text("2 devices")


def test_search_hints_counts_customers_and_the_did_you_mean_link(page, sign_in):
    make_customer(501, "Acme Ltd")
    cache_store_devices(
        [
            api_device(n, owner=501, serial=f"R5FT{n:08d}OG", metadata={"ordernumber": f"SO-2025-{n:07d}"})
            for n in range(1, 4)
        ]
    )
    sign_in(Role.SALES)
    page.goto("/devices/")
    search = page.get_by_label("Search devices")

    search.fill("so-2025-0000002")  # an order number in lower case
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#search-hint")).to_contain_text("Searching serial, order and phone numbers")
    expect(page.locator("#search-hint")).not_to_contain_text("SERIAL")

    search.fill("r5ft")
    expect(page.locator(".result-count")).to_have_text("3 devices")

    search.fill("acme")
    page.get_by_role("link", name="Acme Ltd's devices").click()
    expect(page).to_have_url(re.compile(r"customer=501"))
    expect(page.locator("#results tbody tr")).to_have_count(3)

    typo = make_imei(2)[:-1] + str((int(make_imei(2)[-1]) + 1) % 10)
    page.goto(f"/devices/?q={typo}")
    page.get_by_role("link", name=f"Search for {make_imei(2)}").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)

    page.goto(f"/devices/?q={typo}")
    page.get_by_role("link", name="Look up in zero-touch").click()
    expect(page.locator("#results")).to_contain_text("correct the IMEI first")
    expect(page.locator("#results")).not_to_contain_text("refused")


def test_history_reads_as_words_and_the_claim_form_fits_the_device_type(page, sign_in, emulator):
    emulator.seed(customers=2, vendors=0, devices=5, random_seed=41)
    sync_full()
    customer = Customer.objects.order_by("name").first()
    imei = make_imei(81002)
    sign_in(Role.SALES)
    page.goto("/devices/claim/")

    chrome_only = page.get_by_label("Pre-provisioning token (ChromeOS)")
    expect(chrome_only).to_be_hidden()
    page.get_by_role("radio", name="ChromeOS").check()
    expect(chrome_only).to_be_visible()
    expect(page.get_by_label("Order number")).to_be_hidden()
    page.get_by_role("radio", name="Android").check()
    expect(chrome_only).to_be_hidden()

    page.get_by_label("IMEI").fill(imei)
    page.get_by_label("Customer", exact=True).press_sequentially(customer.name[:4], delay=30)
    page.locator(".picker-option", has_text=customer.name).click()
    page.get_by_label("Order number").fill("SO-1")
    page.get_by_role("button", name="Claim device").click()
    expect(page.get_by_role("status")).to_contain_text("Claimed for")
    device = Device.objects.get(imei=imei)

    page.goto(f"/devices/{device.device_id}/")
    page.get_by_role("link", name="Edit metadata").click()
    page.get_by_label("Order number").fill("SO-2")
    page.get_by_role("button", name="Save metadata").click()
    history = page.locator("#history")
    expect(history).to_contain_text("Order number: SO-1 → SO-2")
    expect(history).to_contain_text(f"Customer: {customer.name} ({customer.company_id})")
    expect(history).not_to_contain_text("{")
    expect(page.locator("#metadata dt").first).to_have_text("Order number")


def test_a_rejected_field_says_why(page, sign_in, emulator):
    emulator.seed(customers=1, vendors=0, devices=1, random_seed=42)
    sync_full()
    customer = Customer.objects.get()
    device = Device.objects.first()
    sign_in(Role.SALES)
    page.goto(f"/devices/{device.device_id}/")

    page.get_by_role("link", name="Edit metadata").click()
    page.get_by_label("Order number").fill("SO-1\tSO-2")  # a tab pasted from a spreadsheet
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#metadata .field-error")).to_contain_text("contains a control character")

    page.goto("/devices/claim/")
    page.get_by_label("IMEI").fill("123")
    page.get_by_label("Customer", exact=True).press_sequentially(customer.name[:4], delay=30)
    page.locator(".picker-option", has_text=customer.name).click()
    page.get_by_role("button", name="Claim device").click()
    expect(page.locator(".field-error").first).to_contain_text("An IMEI is 15 digits")


def test_a_phone_sized_screen_scrolls_tables_not_the_page(browser, live_server, sign_in, page):
    make_customer(501, "Acme Ltd")
    cache_store_devices([api_device(n, owner=501, serial=f"SERIAL-NUMBER-{n:020d}") for n in range(1, 5)])
    sign_in(Role.SALES)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto("/devices/?q=SERIAL")
    expect(page.locator("#results tbody tr")).to_have_count(4)

    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 375
    assert page.request.get("/static/favicon.svg").ok
    expect(page.locator("link[rel=icon]")).to_have_count(1)


@pytest.mark.parametrize("role", [Role.SALES, Role.ADMINS])
def test_no_page_is_wider_than_a_phone(page, sign_in, role):
    """At 390 px no page scrolls sideways: wide tables scroll inside their frame, forms wrap."""
    acme = make_customer(501, "Acme Ltd")
    Customer.objects.filter(pk=501).update(
        owner_emails=["procurement.department.head@acme-international-holdings.example"]
    )
    cache_store_devices([api_device(n, owner=501, serial=f"SERIAL-NUMBER-{n:020d}") for n in range(1, 5)])
    record(timezone.localdate(), customer=acme, count=3)  # the customer page's weekly chart has bars
    sign_in(role)
    page.set_viewport_size({"width": 390, "height": 800})
    paths = [
        "/",
        "/devices/",
        "/devices/?q=SERIAL",
        "/devices/claim/",
        f"/customers/{acme.pk}/",
        "/customers/",
        "/customers/new/",
        "/batches/",
        "/batches/new/",
        "/devices/sync/",
    ]
    if role is Role.ADMINS:
        paths += ["/ops/"]
    wide = {}
    for path in paths:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    assert wide == {}


def test_keyboard_users_skip_to_the_content_and_land_on_a_claims_result(page, sign_in, emulator):
    emulator.seed(customers=1, vendors=0, devices=0)
    sync_full()
    customer = Customer.objects.get()
    sign_in(Role.SALES)
    page.goto(f"/devices/claim/?customer={customer.pk}")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    page.get_by_role("button", name="Claim device").click()  # no identifier: the field says why
    expect(page.get_by_label("IMEI")).to_be_focused()
    page.get_by_label("IMEI").fill(make_imei(81003))
    page.get_by_label("IMEI").press("Enter")
    result = page.get_by_role("status")
    expect(result).to_contain_text(f"Claimed for {customer.name}.")
    expect(result).to_be_focused()
