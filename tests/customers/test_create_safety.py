"""Creating a customer safely: zero-touch can neither delete nor rename one, so a form sent twice must
make one customer, and what a name or an address looks like must be what it is."""

import re

import pytest

from core.roles import Role
from customers.forms import CustomerCreateForm
from customers.models import Customer
from customers.selectors import similar_customers
from tests.devices.factories import make_customer

TYPED = {
    "company_name": "Blue Harbour Freight",
    "owner_emails": "it@blueharbour.example",
    "admin_emails": "",
    "language_code": "",
}
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@pytest.fixture
def world(emulator, db):
    return emulator


def confirmation_fields(client, **typed) -> dict[str, str]:
    """What the confirmation page's "Create" button sends: its hidden fields."""
    page = client.post("/customers/new/", {**TYPED, **typed})
    assert "Check the name" in page.text
    return {name: value for name, value in HIDDEN.findall(page.text) if name != "csrfmiddlewaretoken"}


def creates(world) -> int:
    return len(world.requests_log(method="partners.customers.create"))


def test_a_confirmation_sent_twice_creates_one_customer_and_leads_to_it(world, client_as):
    client = client_as(Role.SALES)
    confirmed = confirmation_fields(client)

    first = client.post("/customers/new/", confirmed)
    second = client.post("/customers/new/", confirmed)  # Back and send again, or a second tab

    customer = Customer.objects.get(name="Blue Harbour Freight")
    assert first.status_code == 302 and first["Location"] == f"/customers/{customer.pk}/"
    assert second.status_code == 409
    assert "sent already" in second.text
    assert f'href="/customers/{customer.pk}/"' in second.text
    assert creates(world) == 1


def test_a_name_created_minutes_ago_is_refused_with_a_link_to_it(world, client_as):
    client = client_as(Role.SALES)
    client.post("/customers/new/", confirmation_fields(client))
    customer = Customer.objects.get(name="Blue Harbour Freight")

    # Another tab, a fresh confirmation: the same name, typed with other spacing and case.
    again = client.post("/customers/new/", {**TYPED, "company_name": " blue  HARBOUR freight "})
    # A form from another tab that already showed its confirmation (its own token).
    other_tab = client_as(Role.SALES).post("/customers/new/", {**TYPED, "confirmed": "yes"})

    for refused in (again, other_tab):
        assert refused.status_code == 409
        assert "Blue Harbour Freight was created less than a minute ago:" in refused.text
        assert f'<a href="/customers/{customer.pk}/">open it</a>' in refused.text
    assert "Check the name" not in again.text
    assert creates(world) == 1
    assert Customer.objects.filter(name="Blue Harbour Freight").count() == 1


def test_invisible_and_control_characters_are_left_out_of_the_name(world, client_as):
    client = client_as(Role.SALES)
    typed = "\u202eBlue\u200b Harbour\x07 Freight\ufeff\u2066"

    confirmed = confirmation_fields(client, company_name=typed)
    created = client.post("/customers/new/", confirmed)

    customer = Customer.objects.get(pk=int(created["Location"].strip("/").rsplit("/", 1)[1]))
    assert customer.name == "Blue Harbour Freight"
    status, body = world.api("GET", f"/v1/partners/{world.partner_id}/customers")
    assert status == 200
    assert "Blue Harbour Freight" in [c["companyName"] for c in body["customers"]]


def test_a_name_of_nothing_visible_is_refused_in_words(world, client_as):
    response = client_as(Role.SALES).post(
        "/customers/new/", {**TYPED, "company_name": "\u202e\u200b\u200c\u2060\x01"}
    )

    assert response.status_code == 400
    assert response.context["form"].errors["company_name"] == [
        "Give the company's name in letters or digits (invisible and control characters are left out)."
    ]
    assert creates(world) == 0


@pytest.mark.parametrize(
    "owner",
    [
        "a@gmail.com\u200b",  # a zero-width space after it
        "a@\uff47\uff4d\uff41\uff49\uff4c.com",  # "gmail" in full-width letters
        "a@GOOGLEMAIL.com\u2060",
    ],
)
def test_personal_gmail_is_refused_however_it_is_written(owner):
    form = CustomerCreateForm({"company_name": "Acme", "owner_emails": owner})

    assert not form.is_valid()
    assert "personal Gmail address" in " ".join(form.errors["owner_emails"])


def test_a_name_with_a_cyrillic_letter_is_similar_to_the_latin_one(db):
    make_customer(7001, "Trident Security GmbH")
    cyrillic_t = "\u0422rident Security GmbH"

    assert [c.name for c in similar_customers(cyrillic_t)] == ["Trident Security GmbH"]


def test_the_confirmation_shows_the_latin_look_alike(world, client_as):
    latin = make_customer(7001, "Trident Security GmbH")

    page = client_as(Role.SALES).post("/customers/new/", {**TYPED, "company_name": "\u0422rident Security"})

    assert "similar name exist" in page.text
    assert f'href="/customers/{latin.pk}/"' in page.text
