from django.db.models import Q

from customers.models import Customer
from portal.converters import MAX_ID


def customer_search(text: str, *, limit: int = 10) -> list[Customer]:
    """Customers whose name contains ``text`` (any case), or whose company id it is, by name.

    Customers number in the thousands, not millions: a scan of the name column is fast enough.
    """
    text = text.strip()
    customers = Customer.objects.select_related("vendor").order_by("name")
    if text:
        match = Q(name__icontains=text)
        if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)) and int(text) <= MAX_ID:
            match |= Q(company_id=int(text))
        customers = customers.filter(match)
    return list(customers[:limit])


def customer_for_value(value: object) -> Customer | None:
    """The cached customer a submitted form value names (None for anything but a known id): for
    pickers that show the chosen customer again when a form comes back with errors."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))) or int(text) > MAX_ID:
        return None
    return Customer.objects.filter(pk=int(text)).first()
