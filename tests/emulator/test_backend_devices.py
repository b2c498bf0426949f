import pytest

from emulator.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from emulator.seeding import seed
from emulator.timefmt import format_time

from .conftest import PARTNER_ID, SIM_LOCK, ZERO_TOUCH, claim_body, make_customer, make_imei, pixel

P = str(PARTNER_ID)
FOREIGN_RESELLER = 777777


def get(backend, device_id):
    return backend.get_device(f"partners/{P}/devices/{device_id}")


def claim_by_foreign_reseller(backend, identifier: dict, customer_id: int = 5550001) -> int:
    """A device whose zero-touch section another reseller (not a vendor) holds."""
    with backend.store.write() as conn:
        device_id = backend._insert_device(conn, identifier)
        backend._add_claim(conn, device_id, ZERO_TOUCH, customer_id, None, FOREIGN_RESELLER)
    return device_id


@pytest.fixture
def customer(backend):
    return make_customer(backend, "XYZ Corp")


@pytest.fixture
def other_customer(backend):
    return make_customer(backend, "ABC Ltd", owners=("abc@abc.example",))


@pytest.fixture
def vendor_world(backend):
    """A seeded state with vendors; (summary, a vendor's customer id, a claimed device of that vendor)."""
    summary = seed(backend.store, PARTNER_ID, customers=2, vendors=1, devices=400, random_seed=5)
    backend.forget_cached_state()
    vendor = summary["vendors"][0]
    found = backend.find_by_owner(
        P, {"customerId": vendor["customerIds"], "sectionType": ZERO_TOUCH, "limit": 1}
    )
    return summary, vendor, found["devices"][0]


# ---------------------------------------------------------------- claim


def test_claim_registers_the_device_and_claims_its_section_for_the_customer(backend, customer):
    answer = backend.claim(
        P, claim_body(customer, pixel(1), deviceMetadata={"entries": {"ordernumber": "SO-1"}})
    )
    assert answer == {
        "deviceId": answer["deviceId"],
        "deviceName": f"partners/{P}/devices/{answer['deviceId']}",
    }
    device = get(backend, answer["deviceId"])
    assert device["deviceIdentifier"] == pixel(1)
    assert device["claims"] == [{"sectionType": ZERO_TOUCH, "resellerId": P, "ownerCompanyId": customer}]
    assert device["deviceMetadata"] == {"entries": {"ordernumber": "SO-1"}}


def test_claiming_again_for_the_same_customer_is_harmless(backend, customer):
    first = backend.claim(P, claim_body(customer, pixel(1)))
    again = backend.claim(
        P, claim_body(customer, pixel(1), deviceMetadata={"entries": {"phonenumber": "+1"}})
    )
    assert again == first
    device = get(backend, first["deviceId"])
    assert len(device["claims"]) == 1
    assert device["deviceMetadata"] == {"entries": {"phonenumber": "+1"}}


def test_claiming_a_device_claimed_for_another_customer_is_refused(backend, customer, other_customer):
    first = backend.claim(P, claim_body(customer, pixel(1)))
    with pytest.raises(FailedPrecondition) as caught:
        backend.claim(P, claim_body(other_customer, pixel(1)))
    error = caught.value
    assert (error.code, error.status, error.reason) == (
        400,
        "FAILED_PRECONDITION",
        "DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER",
    )
    assert "already claimed by another customer" in error.message
    assert get(backend, first["deviceId"])["claims"][0]["ownerCompanyId"] == customer


def test_a_section_another_reseller_holds_cannot_be_claimed(backend, customer):
    device_id = claim_by_foreign_reseller(backend, pixel(9))
    with pytest.raises(FailedPrecondition) as caught:
        backend.claim(P, claim_body(customer, pixel(9)))
    assert caught.value.reason == "DEVICE_CLAIMED_BY_ANOTHER_CUSTOMER"
    # The other reseller's device is not shown to this partner.
    with pytest.raises(NotFound):
        get(backend, device_id)
    assert backend.find_by_identifier(P, {"deviceIdentifier": pixel(9), "limit": 5}) == {}


def test_claims_are_per_section_type(backend, customer, other_customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    backend.claim(P, claim_body(other_customer, pixel(1), SIM_LOCK))
    claims = get(backend, device_id)["claims"]
    assert {(c["sectionType"], c["ownerCompanyId"]) for c in claims} == {
        (ZERO_TOUCH, customer),
        (SIM_LOCK, other_customer),
    }


@pytest.mark.parametrize("section", [None, "SECTION_TYPE_UNSPECIFIED"])
def test_section_type_is_required(backend, customer, section):
    body = claim_body(customer, pixel(1))
    body.pop("sectionType")
    if section:
        body["sectionType"] = section
    with pytest.raises(InvalidArgument) as caught:
        backend.claim(P, body)
    assert caught.value.reason == "INVALID_SECTION_TYPE"


def test_the_customer_is_one_of_customer_id_or_workspace_id(backend, customer):
    with pytest.raises(InvalidArgument, match="not both"):
        backend.claim(P, claim_body(customer, pixel(1), googleWorkspaceCustomerId="C01abc"))
    body = claim_body(customer, pixel(1))
    del body["customerId"]
    with pytest.raises(InvalidArgument, match="is required"):
        backend.claim(P, body)


def test_an_unknown_customer_is_not_found_and_nothing_is_registered(backend):
    with pytest.raises(NotFound):
        backend.claim(P, claim_body("424242", pixel(1)))
    assert backend.find_by_identifier(P, {"deviceIdentifier": pixel(1), "limit": 1}) == {}


def test_devices_cannot_be_claimed_for_a_vendors_customer(backend, vendor_world):
    _, vendor, _ = vendor_world
    with pytest.raises(PermissionDenied) as caught:
        backend.claim(P, claim_body(vendor["customerIds"][0], pixel(1)))
    assert caught.value.reason == "VENDOR_CUSTOMER"


def test_a_dual_sim_device_is_found_by_either_imei(backend, customer):
    dual = {"imei": make_imei(1), "imei2": make_imei(2), "manufacturer": "Google", "model": "Pixel 8"}
    device_id = backend.claim(P, claim_body(customer, dual))["deviceId"]
    again = backend.claim(P, claim_body(customer, {"imei": make_imei(2)}))
    assert again["deviceId"] == device_id
    found = backend.find_by_identifier(P, {"deviceIdentifier": {"imei": make_imei(2)}, "limit": 10})
    assert [d["deviceId"] for d in found["devices"]] == [device_id]


def test_a_claim_completes_identifier_fields_the_device_lacked(backend, customer):
    device_id = backend.claim(P, claim_body(customer, {"imei": make_imei(1)}))["deviceId"]
    backend.claim(P, claim_body(customer, pixel(1)))
    assert get(backend, device_id)["deviceIdentifier"] == pixel(1)


def test_serial_number_devices_are_told_apart_by_model(backend, customer):
    tablet = {"serialNumber": "HA1XYZ", "manufacturer": "LENOVO", "model": "Lenovo TB-X606F"}
    other = {"serialNumber": "HA1XYZ", "manufacturer": "LENOVO", "model": "Lenovo TB328FU"}
    first = backend.claim(P, claim_body(customer, tablet))["deviceId"]
    second = backend.claim(P, claim_body(customer, other))["deviceId"]
    assert first != second
    found = backend.find_by_identifier(P, {"deviceIdentifier": {"serialNumber": "ha1xyz"}, "limit": 10})
    assert found["totalSize"] == 2


def test_chrome_os_devices_are_claimed_for_a_workspace_account_with_a_token(backend, customer):
    chromebook = {
        "deviceType": "DEVICE_TYPE_CHROME_OS",
        "serialNumber": "5CD1234XYZ",
        "model": "HP Chromebook x360 14 G1",
        "chromeOsAttestedDeviceId": "5CD1234XYZ",
    }
    with pytest.raises(InvalidArgument, match="Google Workspace"):
        backend.claim(P, claim_body(customer, chromebook))
    body = {
        "googleWorkspaceCustomerId": "C01abcd2e",
        "deviceIdentifier": chromebook,
        "sectionType": ZERO_TOUCH,
    }
    with pytest.raises(InvalidArgument, match="preProvisioningToken"):
        backend.claim(P, body)
    device_id = backend.claim(P, {**body, "preProvisioningToken": "token-1"})["deviceId"]
    assert get(backend, device_id)["claims"] == [
        {"sectionType": ZERO_TOUCH, "resellerId": P, "googleWorkspaceCustomerId": "C01abcd2e"}
    ]
    with pytest.raises(InvalidArgument, match="only be set for ChromeOS"):
        backend.claim(P, claim_body(customer, pixel(1), preProvisioningToken="token-1"))


def test_claim_for_another_partner_is_permission_denied(backend, customer):
    with pytest.raises(PermissionDenied):
        backend.claim("7654321", claim_body(customer, pixel(1)))
    with pytest.raises(InvalidArgument, match="TYPE_INT64"):
        backend.claim("abc", claim_body(customer, pixel(1)))


# ---------------------------------------------------------------- unclaim


def test_unclaim_by_device_id_or_by_identifier(backend, customer):
    first = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    second = backend.claim(P, claim_body(customer, pixel(2)))["deviceId"]
    assert backend.unclaim(P, {"deviceId": first, "sectionType": ZERO_TOUCH}) == {}
    backend.unclaim(P, {"deviceIdentifier": {"imei": make_imei(2)}, "sectionType": ZERO_TOUCH})
    assert "claims" not in get(backend, first)
    assert "claims" not in get(backend, second)


def test_unclaimed_devices_can_be_claimed_for_another_customer(backend, customer, other_customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    backend.unclaim(P, {"deviceId": device_id, "sectionType": ZERO_TOUCH})
    backend.claim(P, claim_body(other_customer, pixel(1)))
    assert get(backend, device_id)["claims"][0]["ownerCompanyId"] == other_customer


def test_unclaim_refusals(backend, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    with pytest.raises(InvalidArgument, match="not both"):
        backend.unclaim(P, {"deviceId": device_id, "deviceIdentifier": pixel(1), "sectionType": ZERO_TOUCH})
    with pytest.raises(InvalidArgument, match="sectionType"):
        backend.unclaim(P, {"deviceId": device_id})
    with pytest.raises(NotFound):
        backend.unclaim(P, {"deviceId": "1", "sectionType": ZERO_TOUCH})
    with pytest.raises(NotFound):
        backend.unclaim(P, {"deviceIdentifier": pixel(2), "sectionType": ZERO_TOUCH})
    with pytest.raises(FailedPrecondition) as caught:
        backend.unclaim(P, {"deviceId": device_id, "sectionType": SIM_LOCK})
    assert caught.value.reason == "DEVICE_NOT_CLAIMED"
    foreign = claim_by_foreign_reseller(backend, pixel(3))
    with pytest.raises(PermissionDenied):
        backend.unclaim(P, {"deviceId": str(foreign), "sectionType": ZERO_TOUCH})


def test_a_vendors_claim_can_be_unclaimed(backend, vendor_world):
    _, _, device = vendor_world
    backend.unclaim(P, {"deviceId": device["deviceId"], "sectionType": ZERO_TOUCH})
    assert "claims" not in get(backend, device["deviceId"])


def test_vacation_mode_keeps_the_claim_until_it_expires(backend, clock, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1), SIM_LOCK))["deviceId"]
    assert backend.get_sim_lock_state(P, {"deviceIdentifier": pixel(1)}) == {
        "simLockState": "LOCKED_TO_PARTNER"
    }
    backend.unclaim(P, {"deviceId": device_id, "sectionType": SIM_LOCK, "vacationModeDays": 2})
    claim = get(backend, device_id)["claims"][0]
    assert claim["vacationModeStartTime"] == format_time(clock.now)
    assert claim["vacationModeExpireTime"] == format_time(clock.now + 2 * 86400)
    assert backend.get_sim_lock_state(P, {"deviceIdentifier": pixel(1)}) == {"simLockState": "UNLOCKED"}
    clock.advance(3 * 86400)
    claim = get(backend, device_id)["claims"][0]
    assert "vacationModeExpireTime" not in claim
    assert backend.get_sim_lock_state(P, {"deviceIdentifier": pixel(1)}) == {
        "simLockState": "LOCKED_TO_PARTNER"
    }


def test_vacation_mode_by_expire_time_must_be_in_the_future(backend, clock, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1), SIM_LOCK))["deviceId"]
    until = format_time(clock.now + 3600)
    backend.unclaim(P, {"deviceId": device_id, "sectionType": SIM_LOCK, "vacationModeExpireTime": until})
    assert get(backend, device_id)["claims"][0]["vacationModeExpireTime"] == until
    with pytest.raises(InvalidArgument, match="future"):
        backend.unclaim(
            P,
            {
                "deviceId": device_id,
                "sectionType": SIM_LOCK,
                "vacationModeExpireTime": format_time(clock.now - 1),
            },
        )
    with pytest.raises(InvalidArgument, match="not both"):
        backend.unclaim(
            P,
            {
                "deviceId": device_id,
                "sectionType": SIM_LOCK,
                "vacationModeDays": 1,
                "vacationModeExpireTime": until,
            },
        )


def test_sim_lock_state_of_another_resellers_device(backend):
    with backend.store.write() as conn:
        device_id = backend._insert_device(conn, pixel(4))
        backend._add_claim(conn, device_id, SIM_LOCK, 1, None, FOREIGN_RESELLER)
    assert backend.get_sim_lock_state(P, {"deviceIdentifier": pixel(4)}) == {
        "simLockState": "LOCKED_TO_OTHER_PARTNER"
    }
    with pytest.raises(NotFound):
        backend.get_sim_lock_state(P, {"deviceIdentifier": pixel(5)})


# ---------------------------------------------------------------- metadata


def test_metadata_is_merged_and_an_empty_value_deletes_a_key(backend, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    first = backend.update_metadata(
        P, device_id, {"deviceMetadata": {"entries": {"ordernumber": "1", "phonenumber": "+1"}}}
    )
    assert first == {"entries": {"ordernumber": "1", "phonenumber": "+1"}}
    second = backend.update_metadata(
        P, device_id, {"deviceMetadata": {"entries": {"phonenumber": "", "x": "y"}}}
    )
    assert second == {"entries": {"ordernumber": "1", "x": "y"}}
    assert get(backend, device_id)["deviceMetadata"] == second
    assert (
        backend.update_metadata(P, device_id, {"deviceMetadata": {"entries": {"ordernumber": "", "x": ""}}})
        == {}
    )
    assert get(backend, device_id)["deviceMetadata"] == {}


def test_metadata_only_on_devices_the_reseller_claimed(backend, customer, vendor_world):
    _, _, vendor_device = vendor_world
    with pytest.raises(PermissionDenied) as caught:
        backend.update_metadata(P, vendor_device["deviceId"], {"deviceMetadata": {"entries": {"a": "b"}}})
    assert caught.value.reason == "DEVICE_NOT_CLAIMED_BY_PARTNER"
    with pytest.raises(NotFound):
        backend.update_metadata(P, "12", {"deviceMetadata": {"entries": {"a": "b"}}})
    device_id = backend.claim(P, claim_body(vendor_world[0]["customerIds"][0], pixel(1)))["deviceId"]
    with pytest.raises(PermissionDenied):
        backend.update_metadata("999", device_id, {"deviceMetadata": {"entries": {"a": "b"}}})
    with pytest.raises(InvalidArgument, match="deviceMetadata"):
        backend.update_metadata(P, device_id, {})


# ---------------------------------------------------------------- find and get


def test_get_refusals(backend):
    with pytest.raises(NotFound):
        get(backend, 123)
    with pytest.raises(PermissionDenied):
        backend.get_device("partners/1/devices/123")
    with pytest.raises(InvalidArgument):
        get(backend, "abc")


@pytest.mark.parametrize("limit", [None, 0, 101, "x"])
def test_find_limits_must_be_between_1_and_100(backend, customer, limit):
    body = {"deviceIdentifier": pixel(1)}
    owner = {"customerId": [customer], "sectionType": ZERO_TOUCH}
    if limit is not None:
        body["limit"] = owner["limit"] = limit
    with pytest.raises(InvalidArgument):
        backend.find_by_identifier(P, body)
    with pytest.raises(InvalidArgument):
        backend.find_by_owner(P, owner)


def test_find_by_identifier_pages_through_matches(backend, customer):
    for model in ("Lenovo TB-X606F", "Lenovo TB328FU"):
        backend.claim(
            P, claim_body(customer, {"serialNumber": "SAME1", "manufacturer": "LENOVO", "model": model})
        )
    first = backend.find_by_identifier(P, {"deviceIdentifier": {"serialNumber": "same1"}, "limit": 1})
    assert first["totalSize"] == 2 and len(first["devices"]) == 1
    second = backend.find_by_identifier(
        P, {"deviceIdentifier": {"serialNumber": "same1"}, "limit": 1, "pageToken": first["nextPageToken"]}
    )
    assert "nextPageToken" not in second
    assert {first["devices"][0]["deviceId"], second["devices"][0]["deviceId"]} == {
        d["deviceId"]
        for d in backend.find_by_identifier(P, {"deviceIdentifier": {"serialNumber": "SAME1"}, "limit": 5})[
            "devices"
        ]
    }
    narrowed = backend.find_by_identifier(
        P, {"deviceIdentifier": {"serialNumber": "SAME1", "model": "Lenovo TB328FU"}, "limit": 5}
    )
    assert [d["deviceIdentifier"]["model"] for d in narrowed["devices"]] == ["Lenovo TB328FU"]
    assert backend.find_by_identifier(P, {"deviceIdentifier": pixel(7), "limit": 5}) == {}
    with pytest.raises(InvalidArgument):
        backend.find_by_identifier(P, {"deviceIdentifier": {"imei": "123"}, "limit": 5})


def test_find_by_owner_walks_every_device_once_in_pages(backend, customer, other_customer):
    mine = {backend.claim(P, claim_body(customer, pixel(n)))["deviceId"] for n in range(7)}
    theirs = {backend.claim(P, claim_body(other_customer, pixel(n)))["deviceId"] for n in range(10, 13)}
    seen, token, pages = [], None, 0
    while True:
        body = {"customerId": [customer, other_customer], "sectionType": ZERO_TOUCH, "limit": 3}
        if token:
            body["pageToken"] = token
        page = backend.find_by_owner(P, body)
        pages += 1
        assert page["totalSize"] == 10
        seen += [d["deviceId"] for d in page["devices"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 4
    assert len(seen) == len(set(seen)) == 10
    assert set(seen) == mine | theirs
    only_sim = backend.find_by_owner(P, {"customerId": [customer], "sectionType": SIM_LOCK, "limit": 3})
    assert only_sim == {}


def test_find_by_owner_needs_customers_and_a_section_and_its_own_token(backend, customer):
    for n in range(3):
        backend.claim(P, claim_body(customer, pixel(n)))
    with pytest.raises(InvalidArgument, match="customerId"):
        backend.find_by_owner(P, {"sectionType": ZERO_TOUCH, "limit": 5})
    with pytest.raises(InvalidArgument, match="sectionType"):
        backend.find_by_owner(P, {"customerId": [customer], "limit": 5})
    token = backend.find_by_owner(P, {"customerId": [customer], "sectionType": ZERO_TOUCH, "limit": 1})[
        "nextPageToken"
    ]
    with pytest.raises(InvalidArgument, match="page token"):
        backend.find_by_owner(
            P, {"customerId": [customer], "sectionType": SIM_LOCK, "limit": 1, "pageToken": token}
        )


def test_find_by_owner_shows_vendors_devices_but_not_other_resellers(backend, vendor_world):
    summary, vendor, device = vendor_world
    assert device["claims"][0]["resellerId"] == vendor["companyId"]
    foreign = claim_by_foreign_reseller(backend, pixel(1), customer_id=int(summary["customerIds"][0]))
    found, token = [], None
    while True:
        body = {"customerId": summary["customerIds"], "sectionType": ZERO_TOUCH, "limit": 100}
        if token:
            body["pageToken"] = token
        page = backend.find_by_owner(P, body)
        found += page.get("devices", [])
        token = page.get("nextPageToken")
        if not token:
            break
    assert str(foreign) not in {d["deviceId"] for d in found}
    assert all(d["claims"][0]["resellerId"] == P for d in found)


def test_an_imei_names_one_device_and_a_contradicting_model_is_refused(backend, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1)))["deviceId"]
    wrong_model = {"imei": make_imei(1), "manufacturer": "Google", "model": "Pixel 7"}
    with pytest.raises(InvalidArgument) as caught:
        backend.claim(P, claim_body(customer, wrong_model))
    assert caught.value.reason == "IDENTIFIER_MISMATCH"
    assert "Pixel 8" in caught.value.message
    found = backend.find_by_identifier(P, {"deviceIdentifier": {"imei": make_imei(1)}, "limit": 10})
    assert [d["deviceId"] for d in found["devices"]] == [device_id]


def test_serial_numbers_are_case_sensitive_when_registering(backend, customer):
    upper = {"serialNumber": "HA1XYZ", "manufacturer": "LENOVO", "model": "Lenovo TB-X606F"}
    lower = {**upper, "serialNumber": "ha1xyz"}
    first = backend.claim(P, claim_body(customer, upper))["deviceId"]
    second = backend.claim(P, claim_body(customer, lower))["deviceId"]
    assert first != second
    assert backend.claim(P, claim_body(customer, upper))["deviceId"] == first
    found = backend.find_by_identifier(P, {"deviceIdentifier": {"serialNumber": "Ha1Xyz"}, "limit": 10})
    assert found["totalSize"] == 2


def test_only_the_claims_this_partner_may_see_are_shown(backend, customer):
    device_id = backend.claim(P, claim_body(customer, pixel(1), SIM_LOCK))["deviceId"]
    with backend.store.write() as conn:
        backend._add_claim(conn, int(device_id), ZERO_TOUCH, 5550001, None, FOREIGN_RESELLER)
    claims = get(backend, device_id)["claims"]
    assert claims == [{"sectionType": SIM_LOCK, "resellerId": P, "ownerCompanyId": customer}]
    page = backend.find_by_owner(P, {"customerId": [customer], "sectionType": SIM_LOCK, "limit": 5})
    assert page["devices"][0]["claims"] == claims
