"""customers.selectors: search by any word of a name (any case, any accents) or by company id, the list
a page at a time, device counts kept by the cache's writers, similar names whatever their legal form or
script, and the picker's order and exact-name look-up."""

from customers.models import Customer, fold_name
from customers.selectors import (
    customer_by_typed_name,
    customer_search,
    customers_page,
    name_core,
    similar_customers,
)
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer


def names(found) -> list[str]:
    """The names of a page of customers (``customers_page``) or of a list of them, in order."""
    return [customer.name for customer in getattr(found, "customers", found)]


def test_names_are_folded_for_search():
    assert fold_name("Müller & Söhne GmbH") == " muller sohne gmbh"
    assert name_core("MULLER, söhne GmbH.") == name_core("Müller & Söhne GmbH") == "muller sohne"


def test_any_word_of_a_name_any_case_any_accents_or_the_company_id(book):
    assert names(customers_page(text="zenith")) == ["North Zenith Foods", "Zenith Logistics Ltd"]
    assert names(customers_page(text="SOHNE")) == ["Müller & Söhne GmbH"]
    assert names(customers_page(text="mull soh")) == ["Müller & Söhne GmbH"]
    assert names(customers_page(text="503")) == ["North Zenith Foods"]
    assert names(customers_page(text="enith")) == []  # words are matched from their start


def test_device_counts_are_kept_by_the_cache_writers(book):
    assert Customer.objects.get(pk=502).device_count == 5
    cache_store_devices([api_device(1, owner=503)])  # a look-up finds device 1 moved to 503
    assert (Customer.objects.get(pk=502).device_count, Customer.objects.get(pk=503).device_count) == (4, 1)
    by_devices = customers_page(sort="-devices")
    assert (
        names(by_devices)[:2] == ["Zenith Logistics Ltd", "Müller & Söhne GmbH"]
        or names(by_devices)[0] == "Zenith Logistics Ltd"
    )


def test_the_list_pages_with_a_keyset_cursor(db):
    for number in range(120):
        make_customer(1000 + number, f"Customer {number:03d}")
    first = customers_page()
    second = customers_page(cursor=first.next_cursor)
    third = customers_page(cursor=second.next_cursor)

    assert len(first.customers) == len(second.customers) == 50 and len(third.customers) == 20
    assert names(second)[0] == "Customer 050" and third.next_cursor is None


def test_similar_names_are_found_whatever_the_legal_form(book):
    assert [c.name for c in similar_customers("ZENITH LOGISTICS GmbH")] == ["Zenith Logistics Ltd"]
    assert [c.name for c in similar_customers("Muller Sohne")] == ["Müller & Söhne GmbH"]
    assert [c.name for c in similar_customers("Zenith Logistic")] == ["Zenith Logistics Ltd"]  # a plural
    assert similar_customers("Globex") == []


def test_a_name_with_a_cyrillic_letter_is_similar_to_the_latin_one(db):
    make_customer(7001, "Trident Security GmbH")
    cyrillic_t = "\u0422rident Security GmbH"

    assert [c.name for c in similar_customers(cyrillic_t)] == ["Trident Security GmbH"]


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


def test_part_of_a_company_id_finds_it_and_the_whole_id_comes_first(db):
    make_customer(1207731, "Harbor Insurance")
    make_customer(773, "Summit Retail Inc.")
    make_customer(8077300, "Cedar Clinics")

    assert names(customers_page(text="0773")) == ["Cedar Clinics", "Harbor Insurance"]
    assert [c.name for c in customer_search("773")] == ["Summit Retail Inc."]  # short: the id itself
    assert [c.name for c in customer_search("7731")] == ["Harbor Insurance"]
    make_customer(7731, "Zeta Mobile")
    assert [c.name for c in customer_search("7731")] == ["Zeta Mobile", "Harbor Insurance"]
