"""An order in a real browser, with a real worker: found by a part of its number, its page lists the
devices carrying it, and "Move to another customer" moves every one of them (from two customers) to
the customer typed in the picker; the emulator then holds exactly those devices for that customer."""

import pytest
from playwright.sync_api import expect

from batches.models import BatchJob
from core.roles import Role
from devices.models import Device
from devices.sync import sync_full
from tests.devices.factories import emulator_device
from tests.e2e.test_batches import holders, pick_customer_by_typing, worker  # noqa: F401 - fixtures

ORDER = "SO-2026-E2E-7731"


@pytest.fixture
def order(emulator, holders):  # noqa: F811
    """Order ORDER on customer a's two devices and on one of another customer's (not b's)."""
    a, b = holders["a"], holders["b"]
    other = (
        Device.objects.exclude(owner__in=[a, b])
        .filter(owner__vendor__isnull=True, owner__isnull=False)
        .exclude(imei="")
        .order_by("device_id")
    )
    third = next(d for d in other if len(emulator_device(emulator, d.imei).get("claims", [])) == 1)
    carrying = [*holders["a_imeis"], third.imei]
    for imei in carrying:
        device_id = emulator_device(emulator, imei)["deviceId"]
        status, body = emulator.api(
            "POST",
            f"/v1/partners/{emulator.partner_id}/devices/{device_id}/metadata",
            {"deviceMetadata": {"entries": {"ordernumber": ORDER}}},
        )
        assert status == 200, body
    sync_full()
    return {**holders, "carrying": carrying, "third_owner": third.owner}


def test_an_order_found_by_part_of_its_number_is_moved_whole_to_another_customer(
    page,
    sign_in,
    emulator,
    order,
    worker,  # noqa: F811
):
    a, b, third_owner = order["a"], order["b"], order["third_owner"]
    untouched = order["b_imei"]
    sign_in(Role.SALES)

    page.goto("/orders/")
    page.get_by_label("Order number, or any part of it").press_sequentially("E2E-77", delay=30)
    page.get_by_role("link", name=ORDER).click()
    expect(page.locator("main")).to_contain_text("3 devices")
    expect(page.locator("main")).to_contain_text(a.name)
    expect(page.locator("main")).to_contain_text(third_owner.name)
    page.get_by_role("link", name="Move to another customer").click()

    expect(page.get_by_role("radio", name="Move to another customer")).to_be_checked()
    pick_customer_by_typing(page, b)
    page.get_by_role("button", name="Check the rows").click()
    expect(page.get_by_role("heading", name="Checked: nothing has been sent yet")).to_be_visible()
    expect(page.locator("#preview .count-ok dd")).to_have_text("3")
    page.get_by_role("button", name="Send 3 devices to zero-touch").click()
    expect(page.locator("#progress h2")).to_have_text("Finished", timeout=60_000)
    expect(page.locator("#progress .count-ok dd")).to_have_text("3")

    for imei in order["carrying"]:
        claims = emulator_device(emulator, imei)["claims"]
        assert [c["ownerCompanyId"] for c in claims] == [str(b.pk)], imei
    assert emulator_device(emulator, untouched)["claims"][0]["ownerCompanyId"] == str(b.pk)  # was b's
    job = BatchJob.objects.get()
    assert (job.action, job.customer_id, job.succeeded, job.failed) == ("move", b.pk, 3, 0)
    page.goto(f"/orders/{ORDER}/")
    expect(page.locator("main")).to_contain_text(f"{b.name} 3")
