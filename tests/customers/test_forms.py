"""customers.forms: owner emails checked before any call (no personal Gmail, however it is written),
a company name without what cannot be seen, and a picker that takes an exact name typed in full."""

import pytest

from core.roles import Role
from customers.forms import CustomerCreateForm
from customers.models import Customer
from tests.customers.creating import TYPED, confirmation_fields, creates

HTMX = {"HX-Request": "true"}


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


def test_the_claim_form_takes_an_exact_name_typed_without_choosing(maples, client_as):
    client = client_as(Role.SALES)
    data = {"device_type": "android", "imei": "", "customer": ""}

    exact = client.post("/devices/claim/", {**data, "customer__typed": "maple services corp"}, headers=HTMX)
    shared = client.post("/devices/claim/", {**data, "customer__typed": "Twin Names Ltd"}, headers=HTMX)

    assert "Choose a customer." not in exact.text and 'value="Maple Services Corp"' in exact.text
    assert "Choose a customer." in shared.text
