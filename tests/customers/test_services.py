"""customers.services against the emulator: a customer created through the confirmation step, the
language it was created in kept across syncs, a lost answer settled by listing the customers, and
refusals told in words."""

import pytest

from core.api import zerotouch_client
from core.models import AuditEvent
from core.roles import Role
from customers.models import Customer
from customers.services import customers_sync
from tests.devices.factories import make_customer


@pytest.fixture
def world(synced_world):
    """This module's zero-touch: two customers and ten devices, synced (tests/customers/conftest.py)."""
    return synced_world


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
    assert AuditEvent.objects.get(action="customer.create").outcome == "succeeded"


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
    assert AuditEvent.objects.get(action="customer.create").outcome in ("failed", "unknown")
