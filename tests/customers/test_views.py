"""customers.views in the browser's terms: the list (highlighted terms, fragments, its export), the
vendors, a customer's page, the customer picker, and who may create a customer."""

import pytest

from core.roles import Role
from customers.models import Customer, Vendor
from customers.selectors import customers_page
from devices.models import Device, DeviceEvent
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(synced_world):
    """This module's zero-touch: two customers and ten devices, synced (tests/customers/conftest.py)."""
    return synced_world


def names(page) -> list[str]:
    return [customer.name for customer in page.customers]


def test_the_page_highlights_terms_and_answers_fragments(book, client_as):
    client = client_as(Role.MANAGERS)

    page = client.get("/customers/")
    fragment = client.get("/customers/", {"q": "initech"}, headers={**HTMX, "HX-Target": "results"})
    attention = client.get("/customers/", {"terms": "attention"})

    assert page.status_code == 200 and "Zenith Logistics Ltd" in page.text and "New customer" not in page.text
    assert (
        "<html" not in fragment.text
        and 'class="attention"' in fragment.text
        and "via Regional Phones" in fragment.text
    )
    assert "Initech" in attention.text and "Zenith" not in attention.text
    assert client.get("/customers/", {"cursor": "WzEsMl0="}).status_code == 400


def test_the_export_is_formula_safe(db, client_as):
    make_customer(700, "=cmd|' /C calc'!A0")
    response = client_as(Role.SALES).get("/customers/export.csv")

    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeffcompany id,name")
    assert "'=cmd" in text and ",=cmd" not in text


def test_an_export_of_a_bad_search_is_refused_not_widened(db, client_as):
    make_customer(701, "Acme Ltd")
    response = client_as(Role.SALES).get("/customers/export.csv", {"vendor": "x"})

    assert response.status_code == 400 and "not valid" in response.text


def test_vendors_list_their_biggest_customers_and_lead_to_all_of_them(book, client_as):
    vendor = Vendor.objects.get(company_id=77)
    for number in range(12):
        Customer.objects.create(
            company_id=610 + number, name=f"Branch {number:02d}", vendor=vendor, device_count=number
        )

    page = client_as(Role.MANAGERS).get("/customers/vendors/").text

    assert "13 customers" in page and "Branch 11" in page and "Branch 02" in page
    assert "Branch 01" not in page and "Initech" not in page  # only the ten with the most devices
    assert f"/customers/?vendor={vendor.pk}" in page
    listed = client_as(Role.MANAGERS).get("/customers/", {"vendor": vendor.pk, "q": "branch"}).text
    assert "Branch 01" in listed and "Regional Phones" in listed and "Zenith" not in listed
    assert names(customers_page(vendor=vendor.pk))[:2] == ["Branch 00", "Branch 01"]
    assert len(customers_page(vendor=vendor.pk).customers) == 13


def test_a_customers_page_shows_facts_terms_devices_claims_and_history(book, client_as):
    device = Device.objects.filter(owner_id=502).first()
    DeviceEvent.objects.create(
        device=device, kind="claimed", outcome="succeeded", source="ui", customer_id=502
    )

    page = client_as(Role.SALES).get("/customers/502/")
    vendor_customer = client_as(Role.SALES).get("/customers/601/")

    assert "Zenith Logistics Ltd" in page.text and "Claims per week" in page.text
    assert "Claim a device for this customer" in page.text and "Sync this customer now" in page.text
    assert f"/devices/{device.device_id}/" in page.text
    assert "<svg" in page.text and "<rect" in page.text and "(1 in all)" in page.text
    assert "No device was claimed" not in page.text
    assert "No device was claimed" in client_as(Role.SALES).get("/customers/503/").text  # no chart of zeros
    assert "will not enrol" in vendor_customer.text and "Call the customer" in vendor_customer.text
    assert "Claim a device for this customer" not in vendor_customer.text  # a vendor's customer
    assert client_as(Role.SALES).get("/customers/999/").status_code == 404


# --- The customer picker ------------------------------------------------------------------------


def test_the_claim_pickers_never_offer_vendors_customers(book, client_as):
    client = client_as(Role.SALES)

    everyone = client.get("/customers/picker/", {"q": "ini"}, headers=HTMX)
    own = client.get("/customers/picker/", {"q": "ini", "own": "on"}, headers=HTMX)
    claim_page = client.get("/devices/claim/", {"customer": 502})

    assert 'data-name="Initech"' in everyone.text and "picker-option" not in own.text
    # Not "no customer matches": the picker says why the customer typed cannot be chosen.
    assert (
        'Initech <span class="muted">601</span> is a customer of the vendor Regional Phones: '
        "only that vendor can claim devices for it."
    ) in own.text
    assert "customers/picker/?own=on" in claim_page.text and 'value="Zenith Logistics Ltd"' in claim_page.text


def test_the_claim_picker_says_why_a_vendors_customer_cannot_be_chosen(maples, client_as):
    client = client_as(Role.SALES)

    own = client.get("/customers/picker/", {"q": "harbor ins", "own": "on"}, headers=HTMX).text
    nothing = client.get("/customers/picker/", {"q": "zzz", "own": "on"}, headers=HTMX).text

    assert "picker-option" not in own
    assert "Harbor Insurance AG" in own and "is a customer of the vendor Coastal Devices" in own
    assert "No customer matches." in nothing


def test_options_show_terms_and_stay_out_of_the_tab_order(maples, client_as):
    listed = client_as(Role.SALES).get("/customers/picker/", {"q": "maple s", "own": "on"}, headers=HTMX).text

    assert listed.count('tabindex="-1"') == listed.count("picker-option") == 3
    assert "Terms: not accepted" in listed and "Terms: accepted" in listed
    assert 'data-terms-warning="Maple Services Corp: No one at the customer has accepted' in listed


def test_an_emptied_box_lists_nothing(maples, client_as):
    response = client_as(Role.SALES).get("/customers/picker/", {"q": "", "own": "on"}, headers=HTMX)

    assert response.status_code == 200 and response.text == ""


def test_the_claim_form_warns_before_a_claim_for_a_customer_without_terms(maples, client_as):
    page = client_as(Role.SALES).get("/devices/claim/", {"customer": 702}).text

    assert "Maple Services Corp: No one at the customer has accepted zero-touch&#x27;s terms yet" in page
    accepted = client_as(Role.SALES).get("/devices/claim/", {"customer": 701}).text
    assert 'data-picker-warning role="status" hidden></p>' in accepted  # nothing to warn of


# --- Creating a customer --------------------------------------------------------------------------


def test_only_sales_and_admins_create(world, client_as):
    assert client_as(Role.MANAGERS).get("/customers/new/").status_code == 403
    assert client_as(Role.MANAGERS).post("/customers/new/", {"company_name": "X"}).status_code == 403
    assert client_as(Role.SALES).get("/customers/new/").status_code == 200
    assert client_as(Role.MANAGERS).get("/customers/vendors/").status_code == 200


def test_the_reseller_is_named_by_its_own_name(db, client_as, settings):
    settings.PORTAL_RESELLER_NAME = "Northwind Mobile"
    make_customer(702, "Acme Ltd")
    client = client_as(Role.SALES)

    export = b"".join(client.get("/customers/export.csv").streaming_content).decode()
    detail = client.get("/customers/702/").text

    assert "Acme Ltd,Northwind Mobile," in export and "the reseller" not in export
    assert "Northwind Mobile" in detail and "The reseller<" not in detail and "(the reseller)" not in detail
    assert "Northwind Mobile" in client.get("/customers/vendors/").text


def test_a_device_and_the_home_page_name_the_reseller_too(db, client_as, settings):
    settings.PORTAL_RESELLER_NAME = "Northwind Mobile"
    make_customer(703, "Acme Ltd")
    cache_store_devices([api_device(70, owner=703)])
    client = client_as(Role.SALES)

    assert "Northwind Mobile" in client.get("/devices/70/").text
    assert "Northwind Mobile's customers" in client.get("/").text
