"""Claim, metadata and unclaim in a real browser, each confirmed through the emulator: the claim form's
customer picker (typed key by key, kept to the keyboard, a warning of terms not accepted), fields that
fit the device type and say why they refuse, a claim made from the keyboard alone, and a history that
reads as words."""

import re

import pytest
from playwright.sync_api import expect

import zerotouch
from core.roles import Role
from customers.models import Customer
from devices.models import Device
from devices.services import device_lookup
from devices.sync import sync_full
from tests.devices.factories import emulator_device, make_imei
from tests.e2e.conftest import tab_to


@pytest.fixture
def unclaimed_device(emulator, transactional_db):
    """A customer in the cache and a device zero-touch knows but nobody has claimed."""
    emulator.seed(customers=3, vendors=0, devices=10, random_seed=31)
    sync_full()
    imei = make_imei(80001)
    partner = emulator.partner_id
    customer = Customer.objects.order_by("name").first()
    for path, body in [
        (
            "devices:claim",
            {
                "customerId": str(customer.company_id),
                "sectionType": "SECTION_TYPE_ZERO_TOUCH",
                "deviceIdentifier": {"imei": imei},
            },
        ),
        ("devices:unclaim", {"deviceIdentifier": {"imei": imei}, "sectionType": "SECTION_TYPE_ZERO_TOUCH"}),
    ]:
        status, answer = emulator.api("POST", f"/v1/partners/{partner}/{path}", body)
        assert status == 200, answer
    [device] = device_lookup(identifier=zerotouch.DeviceIdentifier(imei=imei))
    return device


def test_claim_edit_metadata_and_unclaim_a_device(page, sign_in, emulator, unclaimed_device):
    customer = Customer.objects.order_by("name").last()
    imei = unclaimed_device.imei
    sign_in(Role.SALES)
    page.goto(f"/devices/{unclaimed_device.device_id}/")

    page.get_by_role("link", name="Claim for a customer").click()
    expect(page.get_by_label("IMEI")).to_have_value(imei)
    page.get_by_label("Customer", exact=True).fill(customer.name[:5])
    page.get_by_role("button", name=re.compile(re.escape(customer.name))).click()
    page.get_by_label("Order number").fill("SO-4242")
    page.get_by_role("button", name="Claim device").click()

    expect(page.get_by_role("status")).to_contain_text(f"for {customer.name}")
    assert emulator_device(emulator, imei)["claims"][0]["ownerCompanyId"] == str(customer.company_id)

    page.get_by_role("status").get_by_role("link").click()
    expect(page.locator("#claim")).to_contain_text(customer.name)
    page.get_by_role("link", name="Edit metadata").click()
    page.get_by_label("Phone number").fill("+44 20 7946 0000")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#metadata")).to_contain_text("Metadata saved.")
    expect(page.locator("#metadata")).to_contain_text("+44 20 7946 0000")
    expect(page.locator("#history")).to_contain_text("Metadata changed")

    page.get_by_role("link", name="Unclaim…").click()
    page.get_by_role("button", name="Unclaim").click()
    expect(page.locator("#claim")).to_contain_text("Unclaimed.")
    expect(page.locator("#claim")).to_contain_text("Not claimed for any customer.")
    assert not emulator_device(emulator, imei).get("claims")
    assert Device.objects.get(imei=imei).owner_id is None


def test_a_refused_claim_is_explained_next_to_the_form(page, sign_in, emulator, unclaimed_device):
    first, second = Customer.objects.order_by("name")[:2]
    status, answer = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(first.company_id),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": unclaimed_device.imei},
        },
    )
    assert status == 200, answer
    sign_in(Role.SALES)
    page.goto("/devices/claim/")

    page.get_by_label("IMEI").fill(unclaimed_device.imei)
    page.get_by_label("Customer", exact=True).fill(second.name[:5])
    page.get_by_role("button", name=re.compile(re.escape(second.name))).click()
    page.get_by_role("button", name="Claim device").click()

    expect(page.get_by_role("alert")).to_contain_text(f"claimed by another customer, {first.name}")


def test_a_manager_sees_devices_without_action_buttons(page, sign_in, emulator, unclaimed_device):
    sign_in(Role.MANAGERS)
    page.goto(f"/devices/{unclaimed_device.device_id}/")

    expect(page.get_by_role("heading", level=1)).to_contain_text(unclaimed_device.imei)
    expect(page.get_by_role("link", name="Claim for a customer")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit metadata")).to_have_count(0)
    expect(page.get_by_role("button", name="Refresh from zero-touch")).to_have_count(0)
    page.goto("/devices/")
    expect(page.get_by_role("link", name="Claim a device")).to_have_count(0)


# --- The claim form's customer picker -------------------------------------------------------------


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
    expect(options).to_have_count(1)  # the list for all that was typed, not one for "Maple" still
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


# --- The claim form and the history ----------------------------------------------------------------


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


def test_a_device_found_and_unclaimed_from_the_keyboard_alone(page, sign_in, emulator, unclaimed_device):
    """Search, open the device, unclaim it and read the result without a mouse (the device here is
    claimed first through the API, as another person would have)."""
    customer = Customer.objects.order_by("name").first()
    imei = unclaimed_device.imei
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(customer.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": imei},
        },
    )
    device_lookup(identifier=zerotouch.DeviceIdentifier(imei=imei))  # the cache learns the claim
    sign_in(Role.SALES)
    page.goto("/devices/")

    search = page.get_by_label("Search devices")
    expect(search).to_be_focused()  # the page opens in its search box
    page.keyboard.type(imei)
    page.keyboard.press("Enter")
    link = page.locator("#results tbody").get_by_role("link", name=str(unclaimed_device.device_id))
    expect(link).to_be_visible()
    tab_to(page, link)
    page.keyboard.press("Enter")
    expect(page.locator("#claim")).to_contain_text(customer.name)

    tab_to(page, page.get_by_role("link", name="Unclaim…"))
    page.keyboard.press("Enter")
    tab_to(page, page.get_by_role("button", name="Unclaim"))
    page.keyboard.press("Enter")

    expect(page.locator("#claim")).to_contain_text("Unclaimed.")
    assert not emulator_device(emulator, imei).get("claims")
