"""Creating a customer through its page: the form as a salesperson types it, and what the confirmation
page's "Create" button sends (its hidden fields, with the one-time token)."""

import re

TYPED = {
    "company_name": "Blue Harbour Freight",
    "owner_emails": "it@blueharbour.example",
    "admin_emails": "",
    "language_code": "",
}


HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def confirmation_fields(client, **typed) -> dict[str, str]:
    """What the confirmation page's "Create" button sends: its hidden fields."""
    page = client.post("/customers/new/", {**TYPED, **typed})
    assert "Check the name" in page.text
    return {name: value for name, value in HIDDEN.findall(page.text) if name != "csrfmiddlewaretoken"}


def creates(world) -> int:
    return len(world.requests_log(method="partners.customers.create"))
