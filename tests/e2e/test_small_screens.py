"""The portal on a phone, in a real browser: tables scroll inside their frame, not the page, and no
page is wider than a phone's screen."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.roles import Role
from customers.models import Customer
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer
from tests.reports.history import record


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


def test_the_customers_table_shows_each_customers_terms_on_a_phone(page, sign_in):
    make_customer(501, "Acme International Holdings and Distribution Ltd")
    Customer.objects.filter(pk=501).update(
        owner_emails=["procurement.department.head@acme-international-holdings.example"]
    )
    sign_in(Role.SALES)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/customers/")

    terms = page.locator(".customers-table tbody tr").first.locator("td").nth(3)
    expect(terms).to_be_visible()
    box = terms.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # on screen, not scrolled out of sight
