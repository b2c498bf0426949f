"""A customer's notification addresses: who at the customer is emailed when a batch claims devices for
it. Typed by sales on the customer's page, checked and stored normalised, audited, and kept by syncs
(zero-touch knows nothing of them)."""

import pytest

import zerotouch
from core.models import AuditEvent
from core.roles import Role
from customers.forms import NotificationAddressesForm
from customers.models import Customer
from customers.services import customers_store
from tests.devices.factories import make_customer

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def acme():
    return make_customer(501, "Acme Ltd")


def cleaned(text: str) -> list[str]:
    form = NotificationAddressesForm({"addresses": text})
    assert form.is_valid(), form.errors
    return form.cleaned_data["addresses"]


def test_addresses_are_stored_as_they_are_meant():
    typed = "Ops@Acme.EXAMPLE, it@acme.example;\n\nops@acme.example\u200b\n  boss@gmail.com  "

    # Invisible characters gone, the domain in lower case, each address once whatever its case;
    # personal addresses are fine here (the portal's email, not a zero-touch account).
    assert cleaned(typed) == ["Ops@acme.example", "it@acme.example", "boss@gmail.com"]
    assert cleaned("  ") == []


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("ops@acme.example, not-an-address", "'not-an-address' is not an email address."),
        ("ops@", "'ops@' is not an email address."),
        (", ".join(f"a{n}@acme.example" for n in range(21)), "At most 20 addresses."),
    ],
)
def test_wrong_addresses_are_refused_with_the_reason(typed, said):
    form = NotificationAddressesForm({"addresses": typed})

    assert not form.is_valid()
    assert form.errors["addresses"] == [said]


def test_sales_set_them_on_the_customers_page_and_the_audit_log_keeps_the_change(client_as, acme):
    client = client_as(Role.SALES)
    page = client.get(f"/customers/{acme.pk}/")
    assert "Email when a batch claims devices for this customer" in page.text

    response = client.post(
        f"/customers/{acme.pk}/notifications/", {"addresses": "ops@Acme.example\nit@acme.example"}
    )

    assert response.status_code == 302 and response["Location"] == f"/customers/{acme.pk}/"
    acme.refresh_from_db()
    assert acme.notification_emails == ["ops@acme.example", "it@acme.example"]
    event = AuditEvent.objects.get(action="customer.notification_emails")
    assert event.actor_username == "sales" and event.target_id == str(acme.pk)
    assert (event.details["before"], event.details["after"]) == ([], ["ops@acme.example", "it@acme.example"])
    shown = client.get(f"/customers/{acme.pk}/")
    assert "ops@acme.example\nit@acme.example</textarea>" in shown.text
    assert "Saved who is emailed" in shown.text


def test_with_htmx_the_card_comes_back_saved_or_with_the_reason(client_as, acme):
    client = client_as(Role.SALES)

    saved = client.post(
        f"/customers/{acme.pk}/notifications/", {"addresses": "ops@acme.example"}, headers=HTMX
    )
    refused = client.post(f"/customers/{acme.pk}/notifications/", {"addresses": "ops@"}, headers=HTMX)
    again = client.post(
        f"/customers/{acme.pk}/notifications/", {"addresses": "ops@acme.example"}, headers=HTMX
    )

    assert saved.status_code == 200 and "<html" not in saved.text and "Saved." in saved.text
    assert refused.status_code == 400 and "&#x27;ops@&#x27; is not an email address." in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert again.status_code == 200
    acme.refresh_from_db()
    assert acme.notification_emails == ["ops@acme.example"]  # the refused list changed nothing
    assert AuditEvent.objects.filter(action="customer.notification_emails").count() == 1  # nor the same again


def test_without_htmx_a_refusal_shows_the_page_with_the_reason(client_as, acme):
    response = client_as(Role.SALES).post(f"/customers/{acme.pk}/notifications/", {"addresses": "x"})

    assert response.status_code == 400
    assert "<html" in response.text and "&#x27;x&#x27; is not an email address." in response.text


def test_managers_read_them_and_cannot_change_them(client_as, acme):
    Customer.objects.filter(pk=acme.pk).update(notification_emails=["ops@acme.example"])
    client = client_as(Role.MANAGERS)

    page = client.get(f"/customers/{acme.pk}/")

    assert "emails ops@acme.example" in page.text and "<textarea" not in page.text
    assert client.post(f"/customers/{acme.pk}/notifications/", {"addresses": ""}).status_code == 403


def test_a_sync_keeps_them(acme):
    Customer.objects.filter(pk=acme.pk).update(notification_emails=["ops@acme.example"])

    customers_store([zerotouch.Company(company_id=str(acme.pk), company_name="Acme Ltd (renamed)")])

    acme.refresh_from_db()
    assert acme.name == "Acme Ltd (renamed)" and acme.notification_emails == ["ops@acme.example"]
