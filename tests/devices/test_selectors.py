import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.paging import InvalidCursor
from customers.models import Customer, Vendor
from devices.models import Device
from devices.selectors import (
    DeviceFilters,
    bounded_count,
    device_export,
    device_search,
    manufacturer_models,
)
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer, make_imei

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    vendor = Vendor.objects.create(company_id=77, name="Regional Phones")
    make_customer(501, "Acme Ltd")
    make_customer(502, "Globex")
    make_customer(601, "Initech", vendor=vendor)
    cache_store_devices(
        [
            api_device(1, owner=501, model="Pixel 8", serial="R58N1", metadata={"ordernumber": "SO-1001"}),
            api_device(2, owner=501, model="Pixel 7a", imei2=make_imei(900), serial="R58N2"),
            api_device(
                3,
                owner=502,
                manufacturer="samsung",
                model="SM-S911B",
                serial="ab-12",
                metadata={"phonenumber": "+447700900123"},
            ),
            api_device(4, imei="", meid="A0000012345678", serial="ZX9", model="Pixel 8"),
            api_device(5, owner=601, model="Pixel 8", serial="R58N5"),
        ]
    )


def ids(page) -> list[int]:
    return [device.device_id for device in page.devices]


def test_exact_imei(fleet):
    page = device_search(DeviceFilters(text=make_imei(3)))

    assert ids(page) == [3]
    assert page.matched == {3: "imei"}


def test_an_imei_in_the_second_slot_is_found_too(fleet):
    page = device_search(DeviceFilters(text=make_imei(900)))

    assert ids(page) == [2]
    assert page.matched == {2: "imei2"}


def test_an_imei_prefix_finds_every_device_starting_with_it(fleet):
    page = device_search(DeviceFilters(text=make_imei(1)[:10]))

    assert set(ids(page)) == {1, 2, 3, 5}  # 35000000000x...; device 2 also by its IMEI2


def test_a_meid_typed_in_lower_case(fleet):
    assert ids(device_search(DeviceFilters(text="a0000012345678"))) == [4]


def test_a_serial_prefix_is_found_whatever_the_case_it_is_typed_in(fleet):
    assert ids(device_search(DeviceFilters(text="R58N"))) == [1, 2, 5]
    assert ids(device_search(DeviceFilters(text="r58n"))) == [1, 2, 5]
    assert ids(device_search(DeviceFilters(text="ab-"))) == [3]
    assert ids(device_search(DeviceFilters(text="AB-"))) == [3]
    assert Device.objects.get(device_id=3).serial_number.startswith("ab-")  # the device keeps its case


def test_order_and_phone_numbers(fleet):
    assert ids(device_search(DeviceFilters(text="SO-10"))) == [1]
    assert ids(device_search(DeviceFilters(text="+4477009"))) == [3]


def test_an_order_number_is_found_by_any_of_its_parts():
    cache_store_devices(
        [
            api_device(40, owner=501, metadata={"ordernumber": "SO-2023-0773100"}),
            api_device(41, owner=501, metadata={"ordernumber": "SO-2023-0773101"}),
            api_device(42, owner=501, metadata={"ordernumber": "RMA-2024-0773100"}),
        ]
    )

    assert ids(device_search(DeviceFilters(text="0773100"))) == [40, 42]
    assert ids(device_search(DeviceFilters(text="2023-07731"))) == [40, 41]
    assert ids(device_search(DeviceFilters(text="so-2023"))) == [40, 41]
    # A part starts at a separator or where letters and digits meet, not in the middle of a run.
    assert ids(device_search(DeviceFilters(text="773100"))) == []
    page = device_search(DeviceFilters(text="0773100"))
    assert page.matched == {40: "orderpart", 42: "orderpart"}
    assert page.count == 2
    assert [row[0] for row in device_export(DeviceFilters(text="0773100"))] == [40, 42]
    # The order filter is the whole number, never a part of another.
    assert ids(device_search(DeviceFilters(order_number="0773100"))) == []


def test_filters_by_customer_manufacturer_model_and_claim_state(fleet):
    assert ids(device_search(DeviceFilters(customer_id=501))) == [1, 2]
    assert ids(device_search(DeviceFilters(manufacturer="samsung"))) == [3]
    assert ids(device_search(DeviceFilters(model="Pixel 8"))) == [1, 4, 5]
    assert ids(device_search(DeviceFilters(claimed=False))) == [4]
    assert ids(device_search(DeviceFilters(claimed=True))) == [1, 2, 3, 5]


def test_own_and_vendor_devices(fleet):
    assert ids(device_search(DeviceFilters(vendor_devices=True))) == [5]
    assert ids(device_search(DeviceFilters(vendor_devices=False))) == [1, 2, 3]


def test_text_and_filters_combine(fleet):
    assert ids(device_search(DeviceFilters(text="R58N", customer_id=501, model="Pixel 8"))) == [1]


def test_keyset_paging_visits_every_device_once_in_order(fleet):
    seen, cursor = [], None
    while True:
        page = device_search(DeviceFilters(), cursor=cursor, page_size=2)
        seen += ids(page)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == [1, 2, 3, 4, 5]


def test_keyset_paging_of_a_text_search(fleet):
    first = device_search(DeviceFilters(text="R58N"), page_size=2)
    second = device_search(DeviceFilters(text="R58N"), cursor=first.next_cursor, page_size=2)

    assert (ids(first), ids(second), second.next_cursor) == ([1, 2], [5], None)


def test_sorting_by_model_descending_with_paging(fleet):
    first = device_search(DeviceFilters(), sort="-model", page_size=3)
    second = device_search(DeviceFilters(), sort="-model", cursor=first.next_cursor, page_size=3)

    models = [d.model for d in first.devices + second.devices]
    assert models == sorted(models, reverse=True)
    assert sorted(ids(first) + ids(second)) == [1, 2, 3, 4, 5]


def pages_forward(filters, **options):
    """Every page from the first, following next_cursor."""
    pages = [device_search(filters, **options)]
    while pages[-1].next_cursor:
        pages.append(device_search(filters, cursor=pages[-1].next_cursor, **options))
    return pages


@pytest.mark.parametrize(
    ("filters", "sort"),
    [(DeviceFilters(), "device_id"), (DeviceFilters(), "-model"), (DeviceFilters(text="R58N"), "device_id")],
)
def test_previous_page_comes_back_through_the_same_pages(fleet, filters, sort):
    forward = pages_forward(filters, sort=sort, page_size=2)
    assert len(forward) >= 2 and forward[0].prev_cursor is None
    assert all(page.prev_cursor for page in forward[1:])

    back = [forward[-1]]
    while back[-1].prev_cursor:
        back.append(device_search(filters, sort=sort, before=back[-1].prev_cursor, page_size=2))

    assert [ids(page) for page in reversed(back)] == [ids(page) for page in forward]
    assert back[-1].prev_cursor is None and back[-1].next_cursor  # the first page again, with a way on
    # The page reached backwards links on to the one it came from.
    assert ids(device_search(filters, sort=sort, cursor=back[1].next_cursor, page_size=2)) == ids(back[0])


def test_a_tampered_cursor_is_a_clear_error(fleet):
    with pytest.raises(InvalidCursor, match="start the search again"):
        device_search(DeviceFilters(), cursor="not-a-cursor")
    with pytest.raises(InvalidCursor, match="start the search again"):
        device_search(DeviceFilters(text="R58N"), before="not-a-cursor")


def test_a_search_is_a_page_and_a_bounded_count_whatever_the_page(fleet):
    with CaptureQueriesContext(connection) as text_queries:
        page = device_search(DeviceFilters(text="R58N"), page_size=2)
        [d.owner.name for d in page.devices if d.owner_id]
    with CaptureQueriesContext(connection) as browse_queries:
        page = device_search(DeviceFilters(customer_id=501), page_size=1)
        device_search(DeviceFilters(customer_id=501), cursor=page.next_cursor, page_size=1)

    assert len(text_queries) == 2  # the page, and its count
    assert len(browse_queries) == 4
    # Nothing counts a whole table: every query stops at a LIMIT.
    assert all("LIMIT" in q["sql"].upper() for q in [*text_queries, *browse_queries])


def test_results_are_counted_exactly_up_to_the_cap(fleet):
    assert (device_search(DeviceFilters(text="R58N")).count, device_search(DeviceFilters()).count) == (3, 5)
    # A device matching twice (its IMEI and IMEI2 share a prefix) counts once.
    page = device_search(DeviceFilters(text=make_imei(1)[:10]))
    assert (page.count, page.count_capped) == (4, False)
    capped = device_search(DeviceFilters(), count_cap=2)
    assert (capped.count, capped.count_capped) == (2, True)
    capped = device_search(DeviceFilters(text="R58N"), count_cap=2)
    assert (capped.count, capped.count_capped) == (2, True)


def test_a_customers_devices_are_counted_exactly_past_the_cap(fleet):
    """The count a customer's filter shows is the one its customer page shows, whatever its size;
    narrowed further within the customer, it is exact up to CUSTOMER_COUNT_CAP."""
    page = device_search(DeviceFilters(customer_id=501), page_size=1, count_cap=1)
    assert (page.count, page.count_capped) == (2, False)
    assert Customer.objects.get(pk=501).device_count == 2
    narrowed = device_search(DeviceFilters(customer_id=501, claimed=True), page_size=1, count_cap=1)
    assert (narrowed.count, narrowed.count_capped) == (2, False)
    everyone = device_search(DeviceFilters(), page_size=1, count_cap=1)
    assert (everyone.count, everyone.count_capped) == (1, True)


def test_bounded_count_stops_at_the_cap(fleet):
    assert bounded_count(Device.objects.all(), cap=3) == (3, True)
    assert bounded_count(Device.objects.all(), cap=10) == (5, False)


def test_a_manufacturer_in_two_spellings_is_listed_once_and_filters_both(fleet):
    cache_store_devices(
        [
            api_device(10, manufacturer="LENOVO", model="Tab M10"),
            api_device(11, manufacturer="Lenovo", model="Tab M10"),
            api_device(12, manufacturer="Lenovo", model="Tab P12"),
        ]
    )

    makes = {make for make, _ in manufacturer_models()}
    assert "Lenovo" in makes and "LENOVO" not in makes
    assert ("Lenovo", "Tab M10") in manufacturer_models()
    for typed in ("Lenovo", "LENOVO"):
        assert ids(device_search(DeviceFilters(manufacturer=typed))) == [10, 11, 12]
    assert ids(device_search(DeviceFilters(manufacturer="Lenovo", model="Tab M10"))) == [10, 11]


def test_an_export_reads_every_match_once_a_batch_at_a_time(fleet, monkeypatch):
    monkeypatch.setattr("devices.selectors._EXPORT_BATCH", 2)
    cache_store_devices([api_device(n, owner=501, serial=f"R58N{n}") for n in range(20, 27)])

    by_id = [row[0] for row in device_export(DeviceFilters(customer_id=501))]
    by_text = [row[0] for row in device_export(DeviceFilters(text="R58N"))]
    # Device 2's IMEI and IMEI2 both start with the IMEI prefix: it is written once.
    by_imei = [row[0] for row in device_export(DeviceFilters(text=make_imei(2)[:6]))]

    assert by_id == [1, 2, *range(20, 27)]
    assert sorted(by_text) == [1, 2, 5, *range(20, 27)] and len(by_text) == len(set(by_text))
    assert by_imei.count(2) == 1 and len(by_imei) == len(set(by_imei)) == 11


def test_an_order_filter_finds_exactly_that_orders_devices(fleet):
    cache_store_devices(
        [
            api_device(30, owner=501, metadata={"ordernumber": "SO-200"}),
            api_device(31, owner=502, metadata={"ordernumber": "so-200"}),
            api_device(32, owner=501, metadata={"ordernumber": "SO-2001"}),  # starts the same: not it
        ]
    )

    assert ids(device_search(DeviceFilters(order_number="SO-200"))) == [30, 31]
    assert ids(device_search(DeviceFilters(order_number="SO-200", customer_id=501))) == [30]
    assert [row[0] for row in device_export(DeviceFilters(order_number="SO-200"))] == [30, 31]
    assert ids(device_search(DeviceFilters(order_number="SO-999"))) == []
