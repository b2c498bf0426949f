import pytest

from emulator.backend import Backend
from emulator.errors import InvalidArgument, NotFound
from emulator.operations import METADATA_TYPE, RESPONSE_TYPE

from .conftest import PARTNER_ID, ZERO_TOUCH, claim_body, make_customer, make_imei, pixel

P = str(PARTNER_ID)


def claimed_ids(backend, customer):
    page = backend.find_by_owner(P, {"customerId": [customer], "sectionType": ZERO_TOUCH, "limit": 100})
    return [d["deviceId"] for d in page.get("devices", [])]


def test_claim_async_answers_at_once_and_advances_at_the_operation_rate(backend, clock):
    customer = make_customer(backend)
    operation = backend.claim_async(P, {"claims": [claim_body(customer, pixel(n)) for n in range(20)]})
    assert operation["name"].startswith("operations/apibatchoperation/")
    assert operation["done"] is False
    assert operation["metadata"] == {
        "@type": METADATA_TYPE,
        "processingStatus": "BATCH_PROCESS_PENDING",
        "progress": 0,
        "devicesCount": 20,
    }
    assert "response" not in operation
    assert claimed_ids(backend, customer) == []

    clock.advance(1.0)  # 10 devices per second: half of them
    halfway = backend.get_operation(operation["name"])
    assert halfway["metadata"]["processingStatus"] == "BATCH_PROCESS_IN_PROGRESS"
    assert halfway["metadata"]["progress"] == 50
    assert halfway["done"] is False
    assert len(claimed_ids(backend, customer)) == 10

    clock.advance(1.0)  # every item applied, but not finished yet
    processed = backend.get_operation(operation["name"])
    assert processed["metadata"]["processingStatus"] == "BATCH_PROCESS_PROCESSED"
    assert processed["metadata"]["progress"] == 100
    assert processed["done"] is False
    assert len(claimed_ids(backend, customer)) == 20

    clock.advance(0.1)
    done = backend.get_operation(operation["name"])
    assert done["done"] is True
    assert "error" not in done
    response = done["response"]
    assert response["@type"] == RESPONSE_TYPE
    assert response["successCount"] == 20
    assert [s["claim"]["deviceIdentifier"]["imei"] for s in response["perDeviceStatus"]] == [
        make_imei(n) for n in range(20)
    ]
    assert {s["result"]["status"] for s in response["perDeviceStatus"]} == {"SINGLE_DEVICE_STATUS_SUCCESS"}
    assert sorted(s["result"]["deviceId"] for s in response["perDeviceStatus"]) == sorted(
        claimed_ids(backend, customer)
    )


def test_failures_are_per_device_in_request_order(backend, clock):
    customer = make_customer(backend)
    other = make_customer(backend, "Other Co", owners=("o@other.example",))
    backend.claim(P, claim_body(other, pixel(2)))
    claims = [
        claim_body(customer, pixel(1)),
        claim_body(customer, pixel(2)),  # another customer's device
        claim_body(customer, {"imei": "123"}),  # invalid IMEI
        {"customerId": customer, "deviceIdentifier": pixel(4)},  # no section type
        claim_body("999", pixel(5)),  # unknown customer
        claim_body(customer, pixel(1)),  # the first one again: harmless
    ]
    operation = backend.claim_async(P, {"claims": claims})
    clock.advance(10)
    response = backend.get_operation(operation["name"])["response"]
    statuses = [s["result"]["status"] for s in response["perDeviceStatus"]]
    assert statuses == [
        "SINGLE_DEVICE_STATUS_SUCCESS",
        "SINGLE_DEVICE_STATUS_SECTION_NOT_YOURS",
        "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER",
        "SINGLE_DEVICE_STATUS_INVALID_SECTION_TYPE",
        "SINGLE_DEVICE_STATUS_OTHER_ERROR",
        "SINGLE_DEVICE_STATUS_SUCCESS",
    ]
    assert response["successCount"] == 2
    conflict = response["perDeviceStatus"][1]["result"]
    assert conflict["errorIdentifier"] == "DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER"
    assert "another customer" in conflict["errorMessage"]
    assert "deviceId" not in conflict
    assert [s["claim"] for s in response["perDeviceStatus"]] == claims


def test_unclaim_async_and_update_metadata_async(backend, clock):
    customer = make_customer(backend)
    ids = [backend.claim(P, claim_body(customer, pixel(n)))["deviceId"] for n in range(3)]
    updates = [
        {"deviceId": ids[0], "deviceMetadata": {"entries": {"ordernumber": "SO-9"}}},
        {"deviceIdentifier": {"imei": make_imei(1)}, "deviceMetadata": {"entries": {"phonenumber": "+1"}}},
        {"deviceId": "42", "deviceMetadata": {"entries": {"a": "b"}}},
    ]
    operation = backend.update_metadata_async(P, {"updates": updates})
    clock.advance(10)
    done = backend.get_operation(operation["name"])
    assert [s["result"]["status"] for s in done["response"]["perDeviceStatus"]] == [
        "SINGLE_DEVICE_STATUS_SUCCESS",
        "SINGLE_DEVICE_STATUS_SUCCESS",
        "SINGLE_DEVICE_STATUS_INVALID_DEVICE_IDENTIFIER",
    ]
    assert done["response"]["perDeviceStatus"][0]["updateMetadata"] == updates[0]
    device = backend.get_device(f"partners/{P}/devices/{ids[0]}")
    assert device["deviceMetadata"] == {"entries": {"ordernumber": "SO-9"}}

    unclaims = [
        {"deviceId": ids[0], "sectionType": ZERO_TOUCH},
        {"deviceIdentifier": {"imei": make_imei(2)}, "sectionType": ZERO_TOUCH},
        {"deviceId": ids[0], "sectionType": ZERO_TOUCH},
    ]
    operation = backend.unclaim_async(P, {"unclaims": unclaims})
    clock.advance(10)
    done = backend.get_operation(operation["name"])
    assert [s["result"]["status"] for s in done["response"]["perDeviceStatus"]] == [
        "SINGLE_DEVICE_STATUS_SUCCESS",
        "SINGLE_DEVICE_STATUS_SUCCESS",
        "SINGLE_DEVICE_STATUS_OTHER_ERROR",  # already unclaimed by the first item
    ]
    assert done["response"]["perDeviceStatus"][1]["unclaim"] == unclaims[1]
    assert claimed_ids(backend, customer) == [ids[1]]


def test_batch_size_limits(backend):
    with pytest.raises(InvalidArgument, match="at least one"):
        backend.claim_async(P, {"claims": []})
    with pytest.raises(InvalidArgument, match="at most 100000"):
        backend.unclaim_async(P, {"unclaims": [{"deviceId": "1", "sectionType": ZERO_TOUCH}] * 100_001})


def test_a_large_operation_is_accepted(backend, clock):
    customer = make_customer(backend)
    operation = backend.claim_async(P, {"claims": [claim_body(customer, pixel(n)) for n in range(100_000)]})
    assert operation["metadata"]["devicesCount"] == 100_000
    backend.operations.max_items_per_step = 200
    clock.advance(30)  # 300 due at 10 per second: two steps of at most 200
    progress = backend.get_operation(operation["name"])["metadata"]
    assert progress["processingStatus"] == "BATCH_PROCESS_IN_PROGRESS"
    assert len(claimed_ids(backend, customer)) == 100


def test_a_paused_operation_does_not_move_and_complete_all_finishes_it(backend, clock):
    customer = make_customer(backend)
    backend.operation_rate = 0
    operation = backend.claim_async(P, {"claims": [claim_body(customer, pixel(n)) for n in range(5)]})
    clock.advance(100)
    assert backend.get_operation(operation["name"])["metadata"]["processingStatus"] == "BATCH_PROCESS_PENDING"
    assert backend.operations.complete_all() == 1
    assert backend.get_operation(operation["name"])["response"]["successCount"] == 5


def test_unknown_operations_are_not_found(backend):
    for name in ("operations/apibatchoperation/123", "operations/other/1", "operations/apibatchoperation/x"):
        with pytest.raises(NotFound):
            backend.get_operation(name)


def test_an_operation_survives_a_restart_and_carries_on(tmp_path, clock):
    state = tmp_path / "state.sqlite3"
    first = Backend(state, PARTNER_ID, operation_rate=10.0, clock=clock)
    customer = make_customer(first)
    operation = first.claim_async(P, {"claims": [claim_body(customer, pixel(n)) for n in range(20)]})
    clock.advance(1.0)
    assert first.get_operation(operation["name"])["metadata"]["progress"] == 50
    first.close()

    clock.advance(3600)  # the time the emulator was down does not count
    second = Backend(state, PARTNER_ID, operation_rate=10.0, clock=clock)
    try:
        assert second.get_operation(operation["name"])["metadata"]["progress"] == 50
        assert len(claimed_ids(second, customer)) == 10
        clock.advance(1.2)
        assert second.get_operation(operation["name"])["done"] is True
        assert len(claimed_ids(second, customer)) == 20
    finally:
        second.close()


def test_the_background_thread_advances_operations_without_anyone_polling(tmp_path):
    backend = Backend(tmp_path / "state.sqlite3", PARTNER_ID, operation_rate=float("inf"))
    backend.operations.tick_seconds = 0.01
    backend.operations.start()
    try:
        customer = make_customer(backend)
        backend.claim_async(P, {"claims": [claim_body(customer, pixel(n)) for n in range(5)]})
        for _ in range(500):
            if len(claimed_ids(backend, customer)) == 5:
                break
            backend.operations._wake.wait(0.01)
        assert len(claimed_ids(backend, customer)) == 5
    finally:
        backend.close()
