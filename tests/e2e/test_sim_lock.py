"""SIM lock in a real browser: from a device's page, claim it in the SIM-lock section with a profile id
(the form asks for the id only for SIM lock, and says what is wrong with one), see the SIM-lock claim
beside the zero-touch one, look up the SIM lock state, and find the claim in the emulator."""

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

ZERO_TOUCH = "SECTION_TYPE_ZERO_TOUCH"
SIM_LOCK = "SECTION_TYPE_SIM_LOCK"


@pytest.fixture
def claimed_device(emulator, transactional_db):
    """A device claimed in zero-touch for the first customer (through the API, as another person
    would have), in the cache."""
    emulator.seed(customers=3, vendors=0, devices=10, random_seed=24)
    sync_full()
    imei = make_imei(82001)
    customer = Customer.objects.order_by("name").first()
    status, answer = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {"customerId": str(customer.pk), "sectionType": ZERO_TOUCH, "deviceIdentifier": {"imei": imei}},
    )
    assert status == 200, answer
    [device] = device_lookup(identifier=zerotouch.DeviceIdentifier(imei=imei))
    return device


def test_claim_a_device_in_sim_lock_and_look_up_its_state(page, sign_in, emulator, claimed_device):
    owner = Customer.objects.order_by("name").first()
    buyer = Customer.objects.order_by("name").last()
    imei = claimed_device.imei
    sign_in(Role.SALES)
    page.goto(f"/devices/{claimed_device.device_id}/")
    expect(page.locator("#sim-lock")).to_contain_text("No SIM-lock claim.")

    page.get_by_role("link", name="Claim in SIM lock…").click()
    expect(page.get_by_label("IMEI")).to_have_value(imei)
    expect(page.get_by_role("radio", name="SIM lock")).to_be_checked()
    profile = page.get_by_label("SIM-lock profile id")
    expect(profile).to_be_visible()
    page.get_by_role("radio", name="Zero-touch enrollment").check()
    expect(profile).to_be_hidden()  # asked for only in SIM lock
    page.get_by_role("radio", name="SIM lock").check()
    box = page.get_by_label("Customer", exact=True)
    expect(box).to_have_value(owner.name)  # the device's own customer comes first; here, another
    box.fill("")
    box.press_sequentially(buyer.name[:5], delay=30)
    page.locator(".picker-option", has_text=buyer.name).click()

    profile.fill("42a")
    page.get_by_role("button", name="Claim device").click()
    expect(page.locator(".field-error").first).to_contain_text("The SIM-lock profile id is a whole number")
    page.get_by_label("SIM-lock profile id").fill("4242")
    page.get_by_role("button", name="Claim device").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Claimed in SIM lock for {buyer.name}, with SIM-lock profile 4242."
    )

    page.get_by_role("status").get_by_role("link").click()
    sim_lock = page.locator("#sim-lock")
    expect(sim_lock).to_contain_text(buyer.name)
    expect(page.locator("#claim")).to_contain_text(owner.name)  # the zero-touch claim is as it was
    expect(page.locator("#history")).to_contain_text("SIM-lock claimed")
    expect(page.locator("#history")).to_contain_text("SIM-lock profile: 4242")

    page.get_by_role("button", name="Look up SIM lock state").click()
    expect(sim_lock.get_by_role("status")).to_contain_text("SIM lock state: SIM-locked by us")

    remote = emulator_device(emulator, imei)
    assert {claim["sectionType"]: claim["ownerCompanyId"] for claim in remote["claims"]} == {
        ZERO_TOUCH: str(owner.pk),
        SIM_LOCK: str(buyer.pk),
    }
    [sent] = emulator.requests_log(method="partners.devices.claim")[-1:]
    assert sent["body"]["simlockProfileId"] == "4242"
    assert Device.objects.get(imei=imei).owner_id == owner.pk


def test_unclaim_the_sim_lock_and_read_that_it_is_off(page, sign_in, emulator, claimed_device):
    owner = Customer.objects.order_by("name").first()
    imei = claimed_device.imei
    status, answer = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(owner.pk),
            "sectionType": SIM_LOCK,
            "simlockProfileId": "9",
            "deviceIdentifier": {"imei": imei},
        },
    )
    assert status == 200, answer
    device_lookup(identifier=zerotouch.DeviceIdentifier(imei=imei))  # the cache learns the SIM lock
    sign_in(Role.SALES)
    page.goto(f"/devices/{claimed_device.device_id}/")
    sim_lock = page.locator("#sim-lock")

    page.get_by_role("link", name="Unclaim SIM lock…").click()
    expect(sim_lock).to_contain_text(re.compile(f"Remove the SIM-lock claim for {re.escape(owner.name)}"))
    page.get_by_role("button", name="Unclaim SIM lock").click()
    expect(sim_lock).to_contain_text("SIM-lock claim removed")
    expect(sim_lock).to_contain_text("No SIM-lock claim.")
    page.get_by_role("button", name="Look up SIM lock state").click()
    expect(sim_lock.get_by_role("status").last).to_contain_text("Not SIM-locked")

    expect(page.locator("#claim")).to_contain_text(owner.name)
    assert [claim["sectionType"] for claim in emulator_device(emulator, imei)["claims"]] == [ZERO_TOUCH]
