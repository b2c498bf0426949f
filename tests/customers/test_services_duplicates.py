"""A customer is made once: zero-touch can neither delete nor rename one, so a confirmation sent twice
makes one customer, a name created minutes ago is refused with a link to it, and a look-alike name in
another script is shown before anything is created (customers.services' one-time token and recent
check, customers.selectors' similar names)."""

from core.roles import Role
from customers.models import Customer
from tests.customers.creating import TYPED, confirmation_fields, creates
from tests.devices.factories import make_customer


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


def test_the_confirmation_shows_the_latin_look_alike(world, client_as):
    latin = make_customer(7001, "Trident Security GmbH")

    page = client_as(Role.SALES).post("/customers/new/", {**TYPED, "company_name": "\u0422rident Security"})

    assert "similar name exist" in page.text
    assert f'href="/customers/{latin.pk}/"' in page.text
