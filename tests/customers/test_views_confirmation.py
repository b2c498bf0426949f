"""The new-customer page's confirmation step (customers.views.customer_create_view): "Change something"
leads back to the form as typed, and the confirmation still creates the customer."""

from html.parser import HTMLParser

from core.roles import Role
from customers.models import Customer


class ConfirmationForm(HTMLParser):
    """What the confirmation page's form sends when one of its buttons is pressed: its hidden fields
    and the pressed button's own name and value, in the page's order (as a browser sends them)."""

    def __init__(self, button_text: str):
        super().__init__()
        self.button_text = button_text
        self.fields: list[tuple[str, str]] = []
        self._button: dict | None = None
        self.button: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.fields.append((attributes["name"], attributes.get("value") or ""))
        elif tag == "button":
            self._button = {**attributes, "text": "", "position": len(self.fields)}

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button" and self._button is not None:
            if self._button["text"].strip() == self.button_text:
                self.button = self._button
            self._button = None

    def sent(self) -> dict[str, list[str]]:
        assert self.button is not None, f"no {self.button_text!r} button on the page"
        fields = [pair for pair in self.fields if pair[0] != "csrfmiddlewaretoken"]
        if self.button.get("name"):
            fields.insert(self.button["position"], (self.button["name"], self.button.get("value") or ""))
        data: dict[str, list[str]] = {}
        for name, value in fields:
            data.setdefault(name, []).append(value)
        return data


TYPED = {
    "company_name": "Blue  Harbour Freight",
    "owner_emails": "it@blueharbour.example\nboss@blueharbour.example",
    "admin_emails": "ops@blueharbour.example",
    "language_code": "en-GB",
}


def test_change_something_goes_back_to_the_filled_editable_form(world, client_as):
    client = client_as(Role.SALES)
    confirmation = client.post("/customers/new/", TYPED)
    assert "Check the name" in confirmation.text

    page = ConfirmationForm("Change something")
    page.feed(confirmation.text)
    back = client.post("/customers/new/", page.sent())

    assert back.status_code == 200
    assert "Check the name" not in back.text
    assert "Change something" not in back.text
    form = back.context["form"]
    assert not form.errors
    assert form["company_name"].value() == "Blue  Harbour Freight"
    assert form["owner_emails"].value().split() == ["it@blueharbour.example", "boss@blueharbour.example"]
    assert form["admin_emails"].value() == "ops@blueharbour.example"
    assert form["language_code"].value() == "en-GB"
    assert 'name="company_name"' in back.text and 'value="Blue  Harbour Freight"' in back.text
    assert '<button type="submit" class="button primary">Check</button>' in back.text
    assert world.requests_log(method="partners.customers.create") == []
    assert not Customer.objects.filter(name="Blue Harbour Freight").exists()


def test_the_confirmation_still_creates_the_customer(world, client_as):
    client = client_as(Role.SALES)
    confirmation = client.post("/customers/new/", TYPED)

    page = ConfirmationForm("Create “Blue Harbour Freight” in zero-touch")
    page.feed(confirmation.text)
    created = client.post("/customers/new/", page.sent())

    customer = Customer.objects.get(name="Blue Harbour Freight")
    assert created.status_code == 302 and created["Location"] == f"/customers/{customer.pk}/"
    assert customer.owner_emails == ["it@blueharbour.example", "boss@blueharbour.example"]
    assert len(world.requests_log(method="partners.customers.create")) == 1


def test_fields_left_out_come_back_empty(world, client_as):
    client = client_as(Role.SALES)
    confirmation = client.post(
        "/customers/new/", {"company_name": "Blue Harbour Freight", "owner_emails": "it@blueharbour.example"}
    )

    page = ConfirmationForm("Change something")
    page.feed(confirmation.text)
    back = client.post("/customers/new/", page.sent())

    assert not back.context["form"].errors
    assert back.context["form"]["admin_emails"].value() == ""
    assert "None" not in back.text
