"""Reads of the customer cache for the pages: search by any word, keyset pages, names that look alike,
vendors. (What the pages show of a customer's devices comes from the devices app: ``device_reads``.)

Customers number in the thousands: a search compares the folded name column (``fold_name``) with a
LIKE per typed word, and pages are keyset pages on an index per sort, so that a page costs the same
at page 1 and page 200.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Cast
from django.db.models.lookups import Contains
from django.utils import timezone

from core.converters import MAX_ID
from core.models import AuditEvent
from core.paging import decode_cursor, encode_cursor
from core.text import visible
from customers.device_reads import device_reads
from customers.models import Customer, Vendor, fold_name

PAGE_SIZE = 50

# sort key -> (columns in order, descending)
SORTS = {
    "name": (("name_folded", "company_id"), False),
    "-name": (("name_folded", "company_id"), True),
    "devices": (("device_count", "company_id"), False),
    "-devices": (("device_count", "company_id"), True),
    "terms": (("terms_status", "name_folded", "company_id"), False),
}


def _as_id(text: str) -> int | None:
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)) and int(text) <= MAX_ID:
        return int(text)
    return None


# Typed digits at least this long are looked for anywhere in company ids ("0773" finds 1207731):
# fewer would match a good share of every list.
ID_PART_LENGTH = 4


def matching(text: str) -> Q:
    """Customers whose name has a word starting with each typed word (any case, any accents), or
    whose company id the text is, or holds (``ID_PART_LENGTH`` digits or more)."""
    words = fold_name(text).split()
    match = Q()
    for word in words:
        match &= Q(name_folded__contains=f" {word}")
    typed = text.strip()
    if (company_id := _as_id(typed)) is not None:
        if str(company_id) == typed:  # "0773" is part of an id, not id 773
            match |= Q(company_id=company_id)
        if len(typed) >= ID_PART_LENGTH:
            match |= Q(Contains(Cast("company_id", CharField()), typed))
    return match


def customer_search(text: str, *, limit: int = 10, own_only: bool = False) -> list[Customer]:
    """The picker's customers matching ``text`` (see ``matching``), best first: the name itself, then
    names that begin with the typed words in their order ("maple s": Maple Services Corp before Maple
    Insurance SAS), then names holding them in that order, then the rest, each by name. ``own_only``
    leaves out vendors' customers (devices cannot be claimed for them)."""
    customers = Customer.objects.select_related("vendor")
    if own_only:
        customers = customers.filter(vendor__isnull=True)
    if not text.strip():
        return list(customers.order_by("name_folded", "company_id")[:limit])
    phrase = fold_name(text)
    rank = Case(
        When(company_id=_as_id(text.strip()) or 0, then=Value(0)),
        When(name_folded=phrase, then=Value(0)),
        When(name_folded__startswith=phrase, then=Value(1)),
        When(name_folded__contains=phrase, then=Value(2)),
        default=Value(3),
    )
    ranked = customers.filter(matching(text)).annotate(rank=rank)
    return list(ranked.order_by("rank", "name_folded", "company_id")[:limit])


def vendor_customers_matching(text: str, *, limit: int = 3) -> list[Customer]:
    """Vendors' customers that a picker for claims (own customers only) leaves out, for it to say
    why rather than "no customer matches"."""
    if not text.strip():
        return []
    found = Customer.objects.select_related("vendor").filter(matching(text), vendor__isnull=False)
    return list(found.order_by("name_folded", "company_id")[:limit])


def customer_by_typed_name(text: str) -> Customer | None:
    """The one customer whose name is exactly what was typed (any case, accents, punctuation), for
    a picker whose box was filled but no option chosen; None when no customer or several have it."""
    folded = fold_name(text)
    if not folded:
        return None
    named = list(Customer.objects.select_related("vendor").filter(name_folded=folded)[:2])
    return named[0] if len(named) == 1 else None


def customer_for_value(value: object) -> Customer | None:
    """The cached customer a submitted form value names (None for anything but a known id): for
    pickers that show the chosen customer again when a form comes back with errors."""
    company_id = _as_id(str(value or "").strip())
    return customer_get(company_id) if company_id is not None else None


def customer_get(company_id: int | None) -> Customer | None:
    if company_id is None:
        return None
    return Customer.objects.select_related("vendor").filter(pk=company_id).first()


# --- The customers page ------------------------------------------------------------------------


@dataclass
class CustomerPage:
    customers: list[Customer]
    next_cursor: str | None


# The sort columns that hold whole numbers; the others hold text.
_NUMBER_COLUMNS = {"company_id", "device_count"}


def _decode(cursor: str, columns: tuple[str, ...]) -> list:
    kinds = [int if column in _NUMBER_COLUMNS else str for column in columns]
    return decode_cursor(cursor, kinds, longest_text=300)


def _after(columns: tuple[str, ...], values: list, descending: bool) -> Q:
    """Rows after the cursor in (columns) order: a keyset condition."""
    op = "lt" if descending else "gt"
    condition = Q()
    for index, column in enumerate(columns):
        step = Q(**{f"{column}__{op}": values[index]})
        for earlier, value in zip(columns[:index], values[:index], strict=True):
            step &= Q(**{earlier: value})
        condition |= step
    return condition


def customers_filtered(
    *, text: str = "", seller: str = "", terms: str = "", vendor: int | None = None
) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if text.strip():
        customers = customers.filter(matching(text))
    if vendor is not None:
        customers = customers.filter(vendor_id=vendor)
    if seller == "own":
        customers = customers.filter(vendor__isnull=True)
    elif seller == "vendor":
        customers = customers.filter(vendor__isnull=False)
    if terms == "attention":
        customers = customers.filter(
            terms_status__in=[Customer.TermsStatus.NOT_ACCEPTED, Customer.TermsStatus.STALE]
        )
    return customers


def _with_last_claim(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Each customer with the time of its latest successful claim: one indexed look-up per row of
    the page (the devices' history by customer, newest first; ``customers.device_reads``)."""
    return customers.annotate(last_claim_at=device_reads().last_claim())


def customers_page(
    *,
    text: str = "",
    seller: str = "",
    terms: str = "",
    vendor: int | None = None,
    sort: str = "name",
    cursor: str | None = None,
) -> CustomerPage:
    columns, descending = SORTS.get(sort, SORTS["name"])
    customers = customers_filtered(text=text, seller=seller, terms=terms, vendor=vendor)
    if cursor:
        customers = customers.filter(_after(columns, _decode(cursor, columns), descending))
    order = [f"-{column}" if descending else column for column in columns]
    rows = list(_with_last_claim(customers.select_related("vendor")).order_by(*order)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_cursor = encode_cursor(*(getattr(rows[-1], column) for column in columns)) if more else None
    return CustomerPage(customers=rows, next_cursor=next_cursor)


def customers_export(*, text: str = "", seller: str = "", terms: str = "", vendor: int | None = None):
    """Every matching customer, by name, for the CSV export (streamed)."""
    customers = customers_filtered(text=text, seller=seller, terms=terms, vendor=vendor).select_related(
        "vendor"
    )
    return _with_last_claim(customers).order_by("name_folded", "company_id").iterator(chunk_size=1000)


# --- Creating a customer: names that look alike ------------------------------------------------

_LEGAL_SUFFIXES = {
    "ab", "ag", "as", "asa", "bv", "co", "company", "corp", "corporation", "gmbh", "inc", "incorporated",
    "kg", "kk", "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc", "pte", "pty", "sa", "sarl", "sas",
    "spa", "srl", "the", "and",
}  # fmt: skip


# Cyrillic and Greek letters drawn like Latin ones (written as escapes, each with the Latin letter it
# passes for): "Trident" spelt with a Cyrillic capital Te (U+0422) is "Trident" to the eye, and to a
# salesperson looking for an existing customer.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic capitals
        "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K", "\u041c": "M", "\u041d": "H",
        "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0425": "X", "\u0405": "S",
        "\u0406": "I", "\u0408": "J", "\u04ae": "Y",
        # Cyrillic small letters
        "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y",
        "\u0445": "x", "\u0455": "s", "\u0456": "i", "\u0458": "j", "\u04bb": "h",
        # Greek capitals
        "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I",
        "\u039a": "K", "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T",
        "\u03a5": "Y", "\u03a7": "X",
        # Greek small letters
        "\u03bf": "o",
    }
)  # fmt: skip


def fold_confusables(text: str) -> str:
    """``text`` with Cyrillic and Greek look-alikes of Latin letters written as the Latin letters."""
    return visible(text).translate(_CONFUSABLES)


def name_core(name: str) -> str:
    """A company name without case, accents, punctuation, legal form or look-alike letters: "Müller
    GmbH", "MULLER, gmbh." and "Muller GmbH" with a Cyrillic M are the same company to a salesperson."""
    return " ".join(word for word in fold_name(fold_confusables(name)).split() if word not in _LEGAL_SUFFIXES)


def _stem(word: str) -> str:
    """A word without a plural "s", so that "Harbor Clinics" and "Harbor Clinic" meet."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _core_words(name: str) -> set[str]:
    return {_stem(word) for word in name_core(name).split()}


def similar_customers(name: str, *, limit: int = 10) -> list[Customer]:
    """Cached customers that may be the same company: once normalised (``name_core``, plurals
    dropped), one name's words are all among the other's ("Müller & Söhne GmbH" and "Muller Sohne
    Logistik"; "Harbor Clinics Pty Ltd" and "Harbor Clinic"). Google advises reusing an existing
    customer rather than making a second."""
    core = _core_words(name)
    if not core:
        return []
    candidates = Customer.objects.select_related("vendor")
    match = Q()
    # The folded column keeps look-alike letters as they are: look for the words both ways.
    for word in core | set(fold_name(name).split()):
        match |= Q(name_folded__contains=f" {word}")
    found = []
    for customer in candidates.filter(match).order_by("name_folded").iterator(chunk_size=500):
        theirs = _core_words(customer.name)
        if theirs and (theirs <= core or core <= theirs):
            found.append(customer)
            if len(found) == limit:
                break
    return found


RECENT_CREATE_MINUTES = 10


@dataclass
class RecentCreation:
    customer: Customer
    created_at: datetime


def customer_created_recently(name: str, *, minutes: int = RECENT_CREATE_MINUTES) -> RecentCreation | None:
    """The customer of this very name (once normalised: ``core.text.visible``, spaces, case) that the
    portal created in the last ``minutes``, if any. A second one so soon is a form sent twice, not a
    second company, and zero-touch can neither delete nor rename it."""
    wanted = _exact(name)
    since = timezone.now() - timedelta(minutes=minutes)
    events = AuditEvent.objects.filter(
        action="customer.create",
        outcome=AuditEvent.Outcome.SUCCEEDED,
        target_type=Customer._meta.label_lower,
        created_at__gte=since,
    ).order_by("-created_at")
    for event in events[:200]:
        if _exact(event.target_label) != wanted:
            continue
        customer = customer_get(int(event.target_id)) if event.target_id.isdigit() else None
        if customer is not None and _exact(customer.name) == wanted:
            return RecentCreation(customer=customer, created_at=event.created_at)
    return None


def _exact(name: str) -> str:
    return " ".join(visible(name).split()).casefold()


# --- Vendors -------------------------------------------------------------------------------------


VENDOR_CUSTOMERS_SHOWN = 10


def vendor_get(company_id: int | None) -> Vendor | None:
    if company_id is None:
        return None
    return Vendor.objects.filter(pk=company_id).first()


def vendors_with_customers() -> list[Vendor]:
    """The reseller's vendors by name, each with its number of customers (``customer_total``) and
    its customers with the most devices (``top_customers``, at most ``VENDOR_CUSTOMERS_SHOWN``; the
    customers page lists the rest): the page stays small whatever a vendor sells."""
    top = Customer.objects.order_by("-device_count", "name_folded")[:VENDOR_CUSTOMERS_SHOWN]
    return list(
        Vendor.objects.annotate(customer_total=Count("customers"))
        .prefetch_related(Prefetch("customers", queryset=top, to_attr="top_customers"))
        .order_by("name")
    )


def customers_notification_emails(company_ids: Iterable[int]) -> dict[int, list[str]]:
    """The notification addresses of those of ``company_ids`` that have any, by company id."""
    found = Customer.objects.filter(pk__in=list(company_ids)).exclude(notification_emails=[])
    return {company_id: emails for company_id, emails in found.values_list("pk", "notification_emails")}
