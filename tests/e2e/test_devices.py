import re

from playwright.sync_api import expect

from core.roles import Role
from devices.cache import cache_store_devices
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
