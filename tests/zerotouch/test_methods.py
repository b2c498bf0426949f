"""Every API method of the client against the emulator, including pagination."""

import pytest

from zerotouch import (
    ClaimResult,
    Device,
    DeviceMetadata,
    FailedPrecondition,
    MetadataUpdate,
    NotFound,
    PartnerClaim,
    PartnerUnclaim,
    ProcessingStatus,
    SectionType,
    SimLockState,
    SingleDeviceStatus,
)

from .factories import PARTNER_ID, make_pixel


def all_devices(client, emulator, page_size=100):
    summary = emulator.seed_summary
    customer_ids = summary["customerIds"] + [c for v in summary["vendors"] for c in v["customerIds"]]
    return list(client.devices_find_by_owner(customer_ids=customer_ids, page_size=page_size))


def requests_made(emulator, api_method):
    return sum(emulator.stats()["methods"].get(api_method, {}).values())


def finished(client, emulator, operation):
    emulator.complete_operations()
    return client.operations_get(name=operation.name)


def test_customers_list_follows_page_tokens(client, emulator):
    everything = list(client.customers_list())
    emulator.clear_stats()

    paged = list(client.customers_list(page_size=1))

    assert [c.company_id for c in paged] == [c.company_id for c in everything]
    assert sorted(c.company_id for c in paged) == sorted(emulator.seed_summary["customerIds"])
    assert requests_made(emulator, "partners.customers.list") == len(everything)


def test_customers_create_returns_the_new_customer(client):
    created = client.customers_create(
        company_name="Acme Logistics", owner_emails=["owner@acme.example"], admin_emails=["it@acme.example"]
    )

    assert created.company_id
    assert created.company_name == "Acme Logistics"
    assert created.name == f"partners/{PARTNER_ID}/customers/{created.company_id}"
    assert created.terms_status == "TERMS_STATUS_NOT_ACCEPTED"
    assert created.company_id in {c.company_id for c in client.customers_list()}


def test_vendors_and_their_customers(client, emulator):
    vendors = list(client.vendors_list(page_size=1))

    seeded = emulator.seed_summary["vendors"]
    assert sorted(v.company_id for v in vendors) == sorted(v["companyId"] for v in seeded)
    first = emulator.seed_summary["vendors"][0]
    customers = list(client.vendors_customers_list(vendor_id=first["companyId"], page_size=2))
    assert sorted(c.company_id for c in customers) == sorted(first["customerIds"])
    assert all(c.name.startswith(f"partners/{PARTNER_ID}/vendors/{first['companyId']}/") for c in customers)


def test_find_by_owner_pages_through_every_device_once(client, emulator):
    whole_pages = all_devices(client, emulator, page_size=100)
    emulator.clear_stats()

    small_pages = all_devices(client, emulator, page_size=7)

    ids = [device.device_id for device in small_pages]
    assert len(ids) == len(set(ids)) == len(whole_pages) > 100
    assert ids == [device.device_id for device in whole_pages]
    pages = requests_made(emulator, "partners.devices.findByOwner")
    assert pages == -(-len(ids) // 7)


def test_find_by_owner_pages_hold_the_apis_json_of_the_same_devices(client, emulator):
    summary = emulator.seed_summary
    customer_ids = summary["customerIds"] + [c for v in summary["vendors"] for c in v["customerIds"]]

    pages = list(client.devices_find_by_owner(customer_ids=customer_ids, page_size=30).pages())

    raw = [device for page in pages for device in page.items_json]
    assert all(isinstance(device, dict) for device in raw)
    assert [Device.from_json(device) for device in raw] == all_devices(client, emulator)
    assert [device for page in pages for device in page.items()] == all_devices(client, emulator)
    assert [len(page.items_json) for page in pages[:-1]] == [30] * (len(pages) - 1)
    assert [page.next_page_token is None for page in pages] == [False] * (len(pages) - 1) + [True]
    with pytest.raises(ValueError, match="at least one customer"):
        client.devices_find_by_owner()


def test_find_by_owner_resumes_after_the_page_a_reader_checkpointed(client, emulator):
    customer_id = emulator.seed_summary["customerIds"][0]
    everything = [d.device_id for d in client.devices_find_by_owner(customer_ids=[customer_id], page_size=5)]
    emulator.clear_stats()

    first = next(client.devices_find_by_owner_pages(customer_ids=[customer_id], page_size=5))
    rest = client.devices_find_by_owner(
        customer_ids=[customer_id], page_size=5, page_token=first.next_page_token
    )

    assert [device["deviceId"] for device in first.items_json] + [d.device_id for d in rest] == everything
    assert requests_made(emulator, "partners.devices.findByOwner") == -(-len(everything) // 5)


def test_a_listing_is_read_once(client, emulator):
    listing = client.customers_list()

    assert len(list(listing)) == len(emulator.seed_summary["customerIds"])
    assert list(listing) == []
    with pytest.raises(ValueError, match="read already"):
        listing.pages()


def test_find_by_owner_can_resume_from_a_page_token(client, emulator):
    customer_id = emulator.seed_summary["customerIds"][0]
    everything = [d.device_id for d in client.devices_find_by_owner(customer_ids=[customer_id], page_size=5)]
    status, first_page = emulator.api(
        "POST",
        f"/v1/partners/{PARTNER_ID}/devices:findByOwner",
        {"customerId": [customer_id], "sectionType": "SECTION_TYPE_ZERO_TOUCH", "limit": "5"},
    )
    assert status == 200

    rest = client.devices_find_by_owner(
        customer_ids=[customer_id], page_size=5, page_token=first_page["nextPageToken"]
    )

    assert [d.device_id for d in rest] == everything[5:]


def test_get_and_find_by_identifier_return_the_same_device(client, emulator):
    device = all_devices(client, emulator)[0]

    assert client.devices_get(device_id=device.device_id) == device
    found = list(client.devices_find_by_identifier(identifier=device.identifier, page_size=1))
    assert found == [device]
    assert device.claim_for(SectionType.ZERO_TOUCH).reseller_id is not None


def test_sim_lock_state(client, emulator):
    device = all_devices(client, emulator)[0]

    assert client.devices_get_sim_lock_state(identifier=device.identifier) in set(SimLockState)
    with pytest.raises(NotFound):
        client.devices_get_sim_lock_state(identifier=make_pixel(1))


def test_claim_is_repeatable_for_the_same_customer_and_refused_for_another(client, emulator):
    first, second = emulator.seed_summary["customerIds"][:2]
    identifier = make_pixel(2)

    claimed = client.devices_claim(identifier=identifier, customer_id=first, metadata={"ordernumber": "SO-9"})
    again = client.devices_claim(identifier=identifier, customer_id=first)

    assert isinstance(claimed, ClaimResult)
    assert again == claimed
    device = client.devices_get(device_id=claimed.device_id)
    assert device.claim_for(SectionType.ZERO_TOUCH).owner_company_id == first
    assert device.metadata.entries == {"ordernumber": "SO-9"}
    with pytest.raises(FailedPrecondition) as refused:
        client.devices_claim(identifier=identifier, customer_id=second)
    assert refused.value.reason == "DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER"


def test_unclaim_by_id_or_identifier(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    by_id = client.devices_claim(identifier=make_pixel(3), customer_id=customer)
    client.devices_claim(identifier=make_pixel(4), customer_id=customer)

    client.devices_unclaim(device_id=by_id.device_id)
    client.devices_unclaim(identifier=make_pixel(4))

    assert client.devices_get(device_id=by_id.device_id).claims == ()
    (device,) = client.devices_find_by_identifier(identifier=make_pixel(4))
    assert device.claims == ()


def test_metadata_is_set_and_an_empty_value_deletes_a_key(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    device_id = client.devices_claim(identifier=make_pixel(5), customer_id=customer).device_id

    stored = client.devices_metadata(
        device_id=device_id, entries={"ordernumber": "SO-1", "phonenumber": "+1 555"}
    )
    trimmed = client.devices_metadata(device_id=device_id, entries=DeviceMetadata({"phonenumber": ""}))

    assert stored.entries == {"ordernumber": "SO-1", "phonenumber": "+1 555"}
    assert trimmed.entries == {"ordernumber": "SO-1"}
    assert client.devices_get(device_id=device_id).metadata == trimmed


def test_claim_async_reports_results_per_device_in_request_order(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    claims = [
        PartnerClaim(
            identifier=make_pixel(6), customer_id=customer, metadata=DeviceMetadata({"ordernumber": "A"})
        ),
        PartnerClaim(identifier=make_pixel(7), customer_id="999999"),  # no such customer
        PartnerClaim(identifier=make_pixel(8), customer_id=customer),
    ]

    submitted = client.devices_claim_async(claims=claims)
    operation = finished(client, emulator, submitted)

    assert submitted.name.startswith("operations/")
    assert submitted.metadata.devices_count == 3
    assert operation.done
    assert operation.metadata.processing_status == ProcessingStatus.PROCESSED
    assert operation.metadata.progress == 100
    assert operation.success_count == 2
    ok, failed, ok_too = operation.results
    assert ok.succeeded and ok_too.succeeded
    assert ok.claim.identifier.imei == make_pixel(6).imei
    assert failed.status != SingleDeviceStatus.SUCCESS
    assert failed.error_identifier and failed.error_message
    assert failed.device_id is None
    assert operation.failed_results == (failed,)
    assert client.devices_get(device_id=ok.device_id).metadata.entries == {"ordernumber": "A"}


def test_unclaim_async_and_update_metadata_async(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]
    first = client.devices_claim(identifier=make_pixel(9), customer_id=customer).device_id
    second = client.devices_claim(identifier=make_pixel(10), customer_id=customer).device_id

    updated = finished(
        client,
        emulator,
        client.devices_update_metadata_async(
            updates=[
                MetadataUpdate(device_id=first, metadata=DeviceMetadata({"phonenumber": "+44 20"})),
                MetadataUpdate(identifier=make_pixel(10), metadata=DeviceMetadata({"ordernumber": "B"})),
            ]
        ),
    )
    unclaimed = finished(
        client,
        emulator,
        client.devices_unclaim_async(
            unclaims=[
                PartnerUnclaim(device_id=first),
                PartnerUnclaim(identifier=make_pixel(10)),
            ]
        ),
    )

    assert updated.success_count == 2
    assert [r.update.device_id for r in updated.results] == [first, None]
    assert client.devices_get(device_id=first).metadata.entries == {"phonenumber": "+44 20"}
    assert unclaimed.success_count == 2
    assert [r.device_id for r in unclaimed.results] == [first, second]
    assert client.devices_get(device_id=second).claims == ()


def test_operation_in_progress_and_unknown_operation(client, emulator):
    emulator.set_operation_rate(0)
    try:
        customer = emulator.seed_summary["customerIds"][0]
        submitted = client.devices_claim_async(
            claims=[PartnerClaim(identifier=make_pixel(11), customer_id=customer)]
        )
        running = client.operations_get(name=submitted.name)
    finally:
        emulator.set_operation_rate(1000)

    assert not running.done
    assert running.metadata.processing_status in {ProcessingStatus.PENDING, ProcessingStatus.IN_PROGRESS}
    assert running.results == ()
    with pytest.raises(NotFound):
        client.operations_get(name="operations/apibatchoperation/1")
