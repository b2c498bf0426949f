"""Finding devices in a real browser: search as you type, the search hints and the did-you-mean link,
and the customer filter's picker, which finds a customer beyond the first ten, and paging."""

import re

from playwright.sync_api import expect

from core.roles import Role
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer, make_imei


def test_search_an_imei_as_you_type_and_open_the_device(page, sign_in):
    make_customer(501, "Acme Ltd")
    cache_store_devices([api_device(n, owner=501 if n % 2 else None, serial=f"SER{n}") for n in range(1, 30)])
    sign_in(Role.SALES)
    page.goto("/devices/")

    search = page.get_by_label("Search devices")
    expect(search).to_be_focused()
    search.fill(make_imei(7))

    results = page.locator("#results tbody tr")
    expect(results).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"q={make_imei(7)}"))  # shareable, reloadable
    expect(results.first).to_contain_text("Acme Ltd")
    page.get_by_role("link", name="7", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(make_imei(7))
    expect(page.locator("#claim")).to_contain_text("Acme Ltd")
    page.go_back()
    expect(page.get_by_label("Search devices")).to_have_value(make_imei(7))
    page.reload()
    expect(page.locator("#results tbody tr")).to_have_count(1)


def test_filter_by_customer_with_the_picker_and_page_through(page, sign_in):
    make_customer(501, "Acme Ltd")
    make_customer(502, "Globex")
    cache_store_devices([api_device(n, owner=501 if n <= 60 else 502) for n in range(1, 80)])
    sign_in(Role.MANAGERS)
    page.goto("/devices/")

    page.get_by_label("Customer", exact=True).fill("glob")
    page.get_by_role("button", name=re.compile("Globex")).click()

    expect(page).to_have_url(re.compile(r"customer=502"))
    expect(page.locator("#results tbody tr")).to_have_count(19)
    page.get_by_label("Customer", exact=True).fill("")
    expect(page.locator("#results tbody tr")).to_have_count(50)
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("#results tbody tr")).to_have_count(29)
    expect(page.get_by_role("link", name="First page")).to_be_visible()
    expect(page.locator("#results")).to_contain_text("79 devices")

    page.get_by_role("link", name="Previous page").click()
    expect(page.locator("#results tbody tr")).to_have_count(50)
    expect(page.locator("#results tbody tr").first).to_contain_text(make_imei(1))
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    expect(page.get_by_role("link", name="Next page")).to_be_visible()


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
    expect(page.locator("#search-hint")).to_contain_text(
        "Searching serial, phone and order numbers starting with"
    )
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
