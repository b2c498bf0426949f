"""Customers in a real browser: find one by any word of its name, create one through the
confirmation step, and claim a device for it."""

import re

from playwright.sync_api import expect

from core.roles import Role
from customers.models import Customer
from devices.sync import sync_full
from tests.devices.factories import emulator_device, make_customer, make_imei


def test_find_create_and_claim_for_a_new_customer(page, sign_in, emulator):
    emulator.seed(customers=3, vendors=0, devices=5, random_seed=111)
    sync_full()
    make_customer(900001, "Müller & Söhne GmbH")
    sign_in(Role.SALES)

    page.goto("/customers/")
    page.get_by_label("Search customers").press_sequentially("sohne", delay=30)
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text("Müller & Söhne GmbH")
    expect(page).to_have_url(re.compile(r"q=sohne"))

    page.get_by_role("link", name="New customer").click()
    page.get_by_label("Company name").fill("Muller Sohne Logistik")
    page.get_by_label("Owner emails").fill("boss@gmail.com")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".field-error")).to_contain_text("personal Gmail address")
    page.get_by_label("Owner emails").fill("it@muller-logistik.example")
    page.get_by_role("button", name="Check").click()

    heading = page.get_by_role("heading", name="Check the name: it cannot be changed afterwards")
    expect(heading).to_be_visible()
    expect(page.locator(".shown-name")).to_have_text("Muller Sohne Logistik")
    expect(page.get_by_role("alert")).to_contain_text("Müller & Söhne GmbH")  # a similar name exists
    page.get_by_role("button", name=re.compile("Create")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Muller Sohne Logistik")
    customer = Customer.objects.get(name="Muller Sohne Logistik")
    status, body = emulator.api("GET", f"/v1/partners/{emulator.partner_id}/customers")
    assert status == 200
    assert "Muller Sohne Logistik" in [c["companyName"] for c in body["customers"]]
    expect(page.locator("body")).to_contain_text("Not accepted")

    page.get_by_role("link", name="Claim a device for this customer").click()
    expect(page.get_by_label("Customer", exact=True)).to_have_value("Muller Sohne Logistik")
    imei = make_imei(111001)
    page.get_by_label("IMEI").fill(imei)
    page.get_by_role("button", name="Claim device").click()
    expect(page.get_by_role("status")).to_contain_text("Claimed for Muller Sohne Logistik.")
    assert emulator_device(emulator, imei)["claims"][0]["ownerCompanyId"] == str(customer.pk)
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator("body")).to_contain_text(imei)


def test_change_something_returns_to_the_form_as_typed(page, sign_in, emulator):
    sign_in(Role.SALES)

    page.goto("/customers/new/")
    page.get_by_label("Company name").fill("Harbour  Freight")
    page.get_by_label("Owner emails").fill("it@harbour.example")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".shown-name")).to_have_text("Harbour Freight")
    page.get_by_role("button", name="Change something").click()

    expect(page.get_by_role("heading", name="Check the name")).to_have_count(0)
    expect(page.get_by_label("Company name")).to_have_value("Harbour  Freight")
    expect(page.get_by_label("Company name")).to_be_editable()
    expect(page.get_by_label("Owner emails")).to_have_value("it@harbour.example")
    page.get_by_label("Company name").fill("Harbour Freight Ltd")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".shown-name")).to_have_text("Harbour Freight Ltd")
    assert emulator.requests_log(method="partners.customers.create") == []
