"""Select and act in a real browser, with a real worker: tick devices on two pages of the devices
list, start an unclaim batch with them, and exactly those devices are unclaimed in the emulator."""

import pytest
from playwright.sync_api import expect

from core.roles import Role
from devices.models import Device
from devices.selectors import DEFAULT_PAGE_SIZE
from devices.sync import sync_full
from tests.devices.factories import emulator_device
from tests.e2e.test_batches import worker  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def fleet(emulator, transactional_db):
    """More devices than one page of the list shows, most of them claimed by a few customers."""
    emulator.seed(customers=4, vendors=0, devices=80, random_seed=73)
    sync_full()


def test_three_devices_ticked_across_two_pages_are_unclaimed_and_no_other(page, sign_in, emulator, worker):  # noqa: F811
    every = list(Device.objects.order_by("device_id"))
    assert len(every) > DEFAULT_PAGE_SIZE, "the seed fills more than one page"
    first_page = [d for d in every[:DEFAULT_PAGE_SIZE] if d.owner_id and d.imei][:2]
    second_page = [d for d in every[DEFAULT_PAGE_SIZE:] if d.owner_id and d.imei][:1]
    chosen = first_page + second_page
    untouched = [d for d in every if d.owner_id and d.imei and d not in chosen]
    sign_in(Role.SALES)

    page.goto("/devices/")
    for device in first_page:
        page.get_by_label(f"Select device {device.device_id}", exact=True).check()
        expect(page.locator("#selection-bar")).to_contain_text(
            f"{first_page.index(device) + 1} device{'s' if first_page.index(device) else ''} selected"
        )
    page.get_by_role("link", name="Next page").first.click()
    page.get_by_label(f"Select device {second_page[0].device_id}", exact=True).check()
    expect(page.locator("#selection-bar")).to_contain_text("3 devices selected")
    page.get_by_role("link", name="Previous page").first.click()
    expect(page.get_by_label(f"Select device {first_page[0].device_id}", exact=True)).to_be_checked()

    page.locator("#selection-bar").get_by_role("link", name="Unclaim", exact=True).click()
    expect(page.get_by_role("radio", name="Unclaim", exact=True)).to_be_checked()
    pasted = page.get_by_label("Identifiers or CSV").input_value()
    assert all(device.display_identifier in pasted for device in chosen)
    page.get_by_label("Unclaim from whichever customer holds each device").check()
    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("#preview")).to_contain_text("Ready to send")
    page.get_by_role("button", name="Send 3 devices to zero-touch").click()
    expect(page.locator("#progress h2")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("#progress .count-ok dd")).to_have_text("3")

    def zero_touch_owners(device: Device) -> list[str]:
        claims = emulator_device(emulator, device.imei).get("claims", [])
        return [c["ownerCompanyId"] for c in claims if c["sectionType"] == "SECTION_TYPE_ZERO_TOUCH"]

    for device in chosen:
        assert zero_touch_owners(device) == [], device.device_id
    for device in untouched:
        assert zero_touch_owners(device) == [str(device.owner_id)], device.device_id
    page.goto("/devices/")
    expect(page.locator("#selection-bar")).to_contain_text("Tick devices to act on them together")
