"""Claim, metadata and unclaim in a real browser, each confirmed through the emulator."""

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
