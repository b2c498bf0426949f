"""The customer picker: what it lists for what is typed, best first, with each customer's terms; why a
vendor's customer cannot be chosen for a claim; and forms that take an exact name typed in full."""

import pytest

from core.roles import Role
from customers.models import Customer, Vendor
from customers.selectors import customer_by_typed_name, customer_search
from tests.devices.factories import make_customer

HTMX = {"HX-Request": "true"}


@pytest.fixture
def maples(db):
    make_customer(701, "Maple Insurance SAS")
    make_customer(702, "Maple Services Corp")
    make_customer(703, "Old Maple Services")
    make_customer(704, "Maple")
    make_customer(705, "Twin Names Ltd")
    make_customer(706, "Twin Names Ltd")
    vendor = Vendor.objects.create(company_id=88, name="Coastal Devices")
    Customer.objects.create(company_id=801, name="Harbor Insurance AG", vendor=vendor)
    Customer.objects.filter(pk=702).update(terms_status=Customer.TermsStatus.NOT_ACCEPTED)
    Customer.objects.filter(pk=701).update(terms_status=Customer.TermsStatus.ACCEPTED)


def names(customers) -> list[str]:
    return [customer.name for customer in customers]


def test_names_beginning_with_the_typed_words_in_order_come_first(maples):
    assert names(customer_search("maple s")) == [
        "Maple Services Corp",
        "Old Maple Services",
        "Maple Insurance SAS",
    ]
    assert names(customer_search("maple")) == [
        "Maple",
        "Maple Insurance SAS",
        "Maple Services Corp",
        "Old Maple Services",
    ]


def test_an_exact_unique_name_is_found_and_a_shared_one_is_not(maples):
    assert customer_by_typed_name("maple services CORP").pk == 702
    assert customer_by_typed_name("Twin Names Ltd") is None  # two customers have it: choose from the list
    assert customer_by_typed_name("Maple Serv") is None
    assert customer_by_typed_name("  ") is None


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


def test_the_claim_form_takes_an_exact_name_typed_without_choosing(maples, client_as):
    client = client_as(Role.SALES)
    data = {"device_type": "android", "imei": "", "customer": ""}

    exact = client.post("/devices/claim/", {**data, "customer__typed": "maple services corp"}, headers=HTMX)
    shared = client.post("/devices/claim/", {**data, "customer__typed": "Twin Names Ltd"}, headers=HTMX)

    assert "Choose a customer." not in exact.text and 'value="Maple Services Corp"' in exact.text
    assert "Choose a customer." in shared.text


def test_the_claim_form_warns_before_a_claim_for_a_customer_without_terms(maples, client_as):
    page = client_as(Role.SALES).get("/devices/claim/", {"customer": 702}).text

    assert "Maple Services Corp: No one at the customer has accepted zero-touch&#x27;s terms yet" in page
    accepted = client_as(Role.SALES).get("/devices/claim/", {"customer": 701}).text
    assert 'data-picker-warning role="status" hidden></p>' in accepted  # nothing to warn of
