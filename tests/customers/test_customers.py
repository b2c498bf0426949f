"""Customers in the browser's terms: search by any word, the list and its export, a customer's page,
creating a customer (the Gmail rule, similar names, the confirmation step, a lost answer)."""

import pytest

from core.api import zerotouch_client
from core.models import AuditEvent
from core.roles import Role
from customers.forms import CustomerCreateForm
from customers.models import Customer, Vendor, fold_name
from customers.selectors import customers_page, name_core, similar_customers
from customers.services import customers_sync
from devices.cache import cache_store_devices
from devices.models import Device, DeviceEvent
from devices.sync import sync_full
from tests.devices.factories import api_device, make_customer

HTMX = {"HX-Request": "true"}


@pytest.fixture
def book(db):
    vendor = Vendor.objects.create(company_id=77, name="Regional Phones")
    make_customer(501, "Müller & Söhne GmbH")
    make_customer(502, "Zenith Logistics Ltd")
    make_customer(503, "North Zenith Foods")
    Customer.objects.create(
        company_id=601, name="Initech", vendor=vendor, terms_status="TERMS_STATUS_NOT_ACCEPTED"
    )
    cache_store_devices([api_device(n, owner=502) for n in range(1, 6)] + [api_device(9, owner=501)])


def names(page) -> list[str]:
    return [customer.name for customer in page.customers]


def test_names_are_folded_for_search():
    assert fold_name("Müller & Söhne GmbH") == " muller sohne gmbh"
    assert name_core("MULLER, söhne GmbH.") == name_core("Müller & Söhne GmbH") == "muller sohne"


def test_any_word_of_a_name_any_case_any_accents_or_the_company_id(book):
    assert names(customers_page(text="zenith")) == ["North Zenith Foods", "Zenith Logistics Ltd"]
    assert names(customers_page(text="SOHNE")) == ["Müller & Söhne GmbH"]
    assert names(customers_page(text="mull soh")) == ["Müller & Söhne GmbH"]
    assert names(customers_page(text="503")) == ["North Zenith Foods"]
    assert names(customers_page(text="enith")) == []  # words are matched from their start


def test_device_counts_are_kept_by_the_cache_writers(book):
    assert Customer.objects.get(pk=502).device_count == 5
    cache_store_devices([api_device(1, owner=503)])  # a look-up finds device 1 moved to 503
    assert (Customer.objects.get(pk=502).device_count, Customer.objects.get(pk=503).device_count) == (4, 1)
    by_devices = customers_page(sort="-devices")
    assert (
        names(by_devices)[:2] == ["Zenith Logistics Ltd", "Müller & Söhne GmbH"]
        or names(by_devices)[0] == "Zenith Logistics Ltd"
    )


def test_the_list_pages_with_a_keyset_cursor(db):
    for number in range(120):
        make_customer(1000 + number, f"Customer {number:03d}")
    first = customers_page()
    second = customers_page(cursor=first.next_cursor)
    third = customers_page(cursor=second.next_cursor)

    assert len(first.customers) == len(second.customers) == 50 and len(third.customers) == 20
    assert names(second)[0] == "Customer 050" and third.next_cursor is None


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


# --- Creating a customer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owners", "problem"),
    [
        ("", "This field is required."),
        ("not-an-email", "is not an email address"),
        ("boss@gmail.com", "personal Gmail address"),
        ("it@acme.example, boss@GoogleMail.com", "personal Gmail address"),
    ],
)
def test_owner_emails_are_checked_before_the_call(owners, problem):
    form = CustomerCreateForm({"company_name": "Acme", "owner_emails": owners})

    assert not form.is_valid()
    assert problem in " ".join(form.errors["owner_emails"])


def test_similar_names_are_found_whatever_the_legal_form(book):
    assert [c.name for c in similar_customers("ZENITH LOGISTICS GmbH")] == ["Zenith Logistics Ltd"]
    assert [c.name for c in similar_customers("Muller Sohne")] == ["Müller & Söhne GmbH"]
    assert [c.name for c in similar_customers("Zenith Logistic")] == ["Zenith Logistics Ltd"]  # a plural
    assert similar_customers("Globex") == []


@pytest.fixture
def world(emulator, db):
    emulator.seed(customers=2, vendors=0, devices=10, random_seed=101)
    sync_full()
    return emulator


def new_customer(client, confirmed: bool, **fields):
    data = {"company_name": "Blue Harbour Freight", "owner_emails": "it@blueharbour.example", **fields}
    if confirmed:
        data["confirmed"] = "yes"
    return client.post("/customers/new/", data)


def test_creating_a_customer_goes_through_a_confirmation_step(world, client_as):
    client = client_as(Role.SALES)
    make_customer(9001, "Blue Harbour Freight Ltd")

    confirm = new_customer(client, False)
    assert "cannot be changed afterwards" in confirm.text and "Blue Harbour Freight Ltd" in confirm.text
    assert world.requests_log(method="partners.customers.create") == []

    created = new_customer(client, True, admin_emails="ops@blueharbour.example", language_code="en-GB")

    customer = Customer.objects.get(name="Blue Harbour Freight")
    assert created.status_code == 302 and created["Location"] == f"/customers/{customer.pk}/"
    status, body = world.api("GET", f"/v1/partners/{world.partner_id}/customers")
    assert status == 200
    assert "Blue Harbour Freight" in [c["companyName"] for c in body["customers"]]
    assert customer.owner_emails == ["it@blueharbour.example"]
    assert customer.terms_status == "TERMS_STATUS_NOT_ACCEPTED"
    assert AuditEvent.objects.get(action="customer.create").outcome == "success"


def test_the_language_a_customer_was_created_in_is_kept_and_named(world, client_as):
    """Zero-touch takes a language on creation and never lists it back: the portal keeps the one it
    sent, a sync does not wipe it, and the pages name it."""
    client = client_as(Role.SALES)
    confirm = new_customer(client, False, language_code="de")
    assert "German (de)" in confirm.text

    new_customer(client, True, language_code="de")
    customer = Customer.objects.get(name="Blue Harbour Freight")
    customers_sync(client=zerotouch_client())

    customer.refresh_from_db()
    assert customer.language_code == "de"
    page = client.get(f"/customers/{customer.pk}/").text
    assert "German (de)" in page
    other = Customer.objects.exclude(pk=customer.pk).first()
    assert (
        "Not known: zero-touch only takes it when a customer is created"
        in client.get(f"/customers/{other.pk}/").text
    )


def test_a_lost_answer_is_settled_by_listing_the_customers(world, client_as, settings):
    world.set_faults(drop_after_rate=1.0, methods=["partners.customers.create"])

    response = new_customer(client_as(Role.SALES), True)

    world.clear_faults()
    customer = Customer.objects.get(name="Blue Harbour Freight")
    assert response.status_code == 302 and response["Location"] == f"/customers/{customer.pk}/"
    assert len(world.requests_log(method="partners.customers.create")) == 1


def test_api_refusals_come_back_in_words(world, client_as):
    world.set_faults(
        error_rate=1.0, error_codes=[503], methods=["partners.customers.create", "partners.customers.list"]
    )

    response = new_customer(client_as(Role.SALES), True)

    assert "did not confirm the new customer" in response.text or "temporary problem" in response.text
    assert not Customer.objects.filter(name="Blue Harbour Freight").exists()
    assert AuditEvent.objects.get(action="customer.create").outcome in ("failure", "unknown")


def test_only_sales_and_admins_create(world, client_as):
    assert client_as(Role.MANAGERS).get("/customers/new/").status_code == 403
    assert client_as(Role.MANAGERS).post("/customers/new/", {"company_name": "X"}).status_code == 403
    assert client_as(Role.SALES).get("/customers/new/").status_code == 200
    assert client_as(Role.MANAGERS).get("/customers/vendors/").status_code == 200
