"""Google's own Python client (google-api-python-client, built from the bundled discovery document)
driven through the flows of the reseller "How it works" guide against the emulator."""

import json
import time

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from .conftest import PARTNER_ID, ZERO_TOUCH, make_imei, pixel

P = str(PARTNER_ID)
MAX_PAGE_SIZE = 10


def build_service(url, credentials):
    return build(
        "androiddeviceprovisioning",
        "v1",
        static_discovery=True,
        client_options={"api_endpoint": url},
        credentials=credentials,
    )


@pytest.fixture
def service(emulator):
    client = build_service(emulator.url, Credentials(token="test"))
    yield client
    client.close()


def error_of(caught: pytest.ExceptionInfo) -> dict:
    return json.loads(caught.value.content)["error"]


def new_customer(service, name="XYZ Corp") -> dict:
    company = {
        "companyName": name,
        "ownerEmails": ["liz@example.com", "darcy@example.com"],
        "adminEmails": ["jane@example.com"],
    }
    return service.partners().customers().create(parent=f"partners/{P}", body={"customer": company}).execute()


def wait_for(
    service, name: str, min_interval: float = 0.02, max_interval: float = 0.2, timeout: float = 20.0
):
    """The guide's polling loop: an interval estimated from the reported progress; every metadata seen."""
    started = time.time()
    seen = []
    while True:
        operation = service.operations().get(name=name).execute()
        seen.append(operation["metadata"])
        if operation.get("done"):
            return operation, seen
        progress = operation["metadata"]["progress"]
        interval = max_interval
        if progress > 0:
            interval = (time.time() - started) * ((100.0 - progress) / progress)
        time.sleep(max(min_interval, min(interval, max_interval)))
        assert time.time() - started < timeout


def test_create_customers(service):
    customer = new_customer(service)
    assert customer["companyName"] == "XYZ Corp"
    assert customer["name"] == f"partners/{P}/customers/{customer['companyId']}"
    assert customer["termsStatus"] == "TERMS_STATUS_NOT_ACCEPTED"
    listed = service.partners().customers().list(partnerId=P).execute()
    assert customer["companyId"] in {c["companyId"] for c in listed["customers"]}

    with pytest.raises(HttpError) as caught:
        service.partners().customers().create(
            parent=f"partners/{P}",
            body={"customer": {"companyName": "Personal", "ownerEmails": ["me@gmail.com"]}},
        ).execute()
    assert caught.value.resp.status == 400
    assert error_of(caught)["status"] == "INVALID_ARGUMENT"


def test_claim_find_and_unclaim_one_device(service):
    customer_id = new_customer(service)["companyId"]
    # The guide's example: manufacturer and IMEI, SECTION_TYPE_ZERO_TOUCH.
    device_identifier = {"manufacturer": "Google", "imei": "098765432109875"}
    request_body = {
        "deviceIdentifier": device_identifier,
        "customerId": customer_id,
        "sectionType": ZERO_TOUCH,
    }
    response = service.partners().devices().claim(partnerId=P, body=request_body).execute()
    device_id = response["deviceId"]
    assert response["deviceName"] == f"partners/{P}/devices/{device_id}"
    assert service.partners().devices().claim(partnerId=P, body=request_body).execute() == response

    found = (
        service.partners()
        .devices()
        .findByIdentifier(partnerId=P, body={"deviceIdentifier": {"imei": "098765432109875"}, "limit": 10})
        .execute()
    )
    assert found["totalSize"] == 1
    device = found["devices"][0]
    assert device["deviceId"] == device_id
    assert device["claims"] == [{"sectionType": ZERO_TOUCH, "resellerId": P, "ownerCompanyId": customer_id}]
    assert service.partners().devices().get(name=device["name"]).execute()["deviceId"] == device_id

    other = new_customer(service, "Other Corp")["companyId"]
    with pytest.raises(HttpError) as caught:
        service.partners().devices().claim(partnerId=P, body={**request_body, "customerId": other}).execute()
    assert caught.value.resp.status == 400
    assert error_of(caught)["status"] == "FAILED_PRECONDITION"
    assert "another customer" in error_of(caught)["message"]

    service.partners().devices().unclaim(
        partnerId=P, body={"deviceId": device_id, "sectionType": ZERO_TOUCH}
    ).execute()
    service.partners().devices().claim(partnerId=P, body={**request_body, "customerId": other}).execute()
    again = service.partners().devices().get(name=device["name"]).execute()
    assert again["claims"][0]["ownerCompanyId"] == other


def test_find_by_owner_pages_with_next(emulator, service):
    target_customer_id = emulator.seed_summary["customerIds"][0]
    request_body = {
        "limit": MAX_PAGE_SIZE,
        "pageToken": None,
        "customerId": [target_customer_id],
        "sectionType": ZERO_TOUCH,
    }
    devices, pages = [], 0
    request = service.partners().devices().findByOwner(partnerId=P, body=request_body)
    while request is not None:
        response = request.execute()
        pages += 1
        assert len(response["devices"]) <= MAX_PAGE_SIZE
        devices += response["devices"]
        total = response["totalSize"]
        request = service.partners().devices().findByOwner_next(request, response)
    assert len(devices) == total > MAX_PAGE_SIZE
    assert pages == -(-total // MAX_PAGE_SIZE)
    assert len({d["deviceId"] for d in devices}) == total
    assert all(d["claims"][0]["ownerCompanyId"] == target_customer_id for d in devices)


def test_vendors_their_customers_and_their_devices(emulator, service):
    parent_resource = f"partners/{P}"
    vendor_response = service.partners().vendors().list(parent=parent_resource).execute()
    assert len(vendor_response["vendors"]) == 2
    for vendor in vendor_response["vendors"]:
        customer_response = (
            service.partners().vendors().customers().list(parent=vendor["name"], pageSize=5).execute()
        )
        assert customer_response["customers"]
        assert all("termsStatus" in c for c in customer_response["customers"])

    # The guide: find devices of one of our customers and one of a vendor's customers, then update
    # metadata only where our organization made the claim.
    reseller_customer_id = emulator.seed_summary["customerIds"][0]
    vendor_customer_id = next(
        customer_id
        for vendor in emulator.seed_summary["vendors"]
        for customer_id in vendor["customerIds"]
        if service.partners()
        .devices()
        .findByOwner(partnerId=P, body={"customerId": [customer_id], "sectionType": ZERO_TOUCH, "limit": 1})
        .execute()
    )
    request_body = {
        "limit": 100,
        "pageToken": None,
        "customerId": [reseller_customer_id, vendor_customer_id],
        "sectionType": ZERO_TOUCH,
    }
    devices = []
    request = service.partners().devices().findByOwner(partnerId=P, body=request_body)
    while request is not None:
        response = request.execute()
        devices += response["devices"]
        request = service.partners().devices().findByOwner_next(request, response)
    resellers = {claim["resellerId"] for device in devices for claim in device["claims"]}
    assert P in resellers
    assert len(resellers) == 2
    assert resellers - {P} <= {v["companyId"] for v in emulator.seed_summary["vendors"]}
    ours = next(d for d in devices if d["claims"][0]["resellerId"] == P)
    theirs = next(d for d in devices if d["claims"][0]["resellerId"] != P)
    body = {"deviceMetadata": {"entries": {"phonenumber": "+1 (800) 555-0100"}}}
    updated = (
        service.partners()
        .devices()
        .metadata(metadataOwnerId=P, deviceId=ours["deviceId"], body=body)
        .execute()
    )
    assert updated["entries"]["phonenumber"] == "+1 (800) 555-0100"
    with pytest.raises(HttpError) as caught:
        service.partners().devices().metadata(
            metadataOwnerId=P, deviceId=theirs["deviceId"], body=body
        ).execute()
    assert caught.value.resp.status == 403
    # ...but a vendor's device may be unclaimed.
    service.partners().devices().unclaim(
        partnerId=P, body={"deviceId": theirs["deviceId"], "sectionType": ZERO_TOUCH}
    ).execute()


def test_claim_async_with_progress_polling_then_metadata_and_unclaim_async(emulator, service):
    customer_id = new_customer(service)["companyId"]
    emulator.set_operation_rate(100)
    claims = [
        {
            "customerId": customer_id,
            "deviceIdentifier": pixel(n),
            "sectionType": ZERO_TOUCH,
            "deviceMetadata": {"entries": {"ordernumber": "SO-42"}},
        }
        for n in range(60)
    ]
    started = service.partners().devices().claimAsync(partnerId=P, body={"claims": claims}).execute()
    assert started["done"] is False
    assert started["metadata"]["processingStatus"] == "BATCH_PROCESS_PENDING"
    operation, seen = wait_for(service, started["name"])
    statuses = [m["processingStatus"] for m in seen]
    assert "BATCH_PROCESS_IN_PROGRESS" in statuses
    assert statuses[-1] == "BATCH_PROCESS_PROCESSED"
    progresses = [m["progress"] for m in seen]
    assert progresses == sorted(progresses)
    response = operation["response"]
    assert operation["metadata"]["devicesCount"] == response["successCount"] == 60
    assert [s["claim"]["deviceIdentifier"]["imei"] for s in response["perDeviceStatus"]] == [
        make_imei(n) for n in range(60)
    ]
    device_ids = [s["result"]["deviceId"] for s in response["perDeviceStatus"]]

    emulator.set_operation_rate(2000)
    metadata = {"entries": {"ordernumber": "SO-43"}}
    updates = [{"deviceMetadata": metadata, "deviceId": device_id} for device_id in device_ids[:2]]
    response = (
        service.partners().devices().updateMetadataAsync(partnerId=P, body={"updates": updates}).execute()
    )
    operation, _ = wait_for(service, response["name"])
    assert operation["response"]["successCount"] == operation["metadata"]["devicesCount"] == 2
    assert operation["response"]["perDeviceStatus"][0] == {
        "result": {"deviceId": device_ids[0], "status": "SINGLE_DEVICE_STATUS_SUCCESS"},
        "updateMetadata": {"deviceId": device_ids[0], "deviceMetadata": metadata},
    }
    device = service.partners().devices().get(name=f"partners/{P}/devices/{device_ids[0]}").execute()
    assert device["deviceMetadata"]["entries"]["ordernumber"] == "SO-43"

    unclaims = [{"deviceId": device_id, "sectionType": ZERO_TOUCH} for device_id in device_ids]
    response = service.partners().devices().unclaimAsync(partnerId=P, body={"unclaims": unclaims}).execute()
    operation, _ = wait_for(service, response["name"])
    assert operation["response"]["successCount"] == 60
    remaining = (
        service.partners()
        .devices()
        .findByOwner(partnerId=P, body={"customerId": [customer_id], "sectionType": ZERO_TOUCH, "limit": 100})
        .execute()
    )
    assert remaining == {}


def test_paged_customer_lists_and_sim_lock_state(emulator, service):
    request = service.partners().customers().list(partnerId=P, pageSize=3)
    names = []
    while request is not None:
        response = request.execute()
        names += [c["companyName"] for c in response["customers"]]
        request = service.partners().customers().list_next(request, response)
    assert len(names) == len(emulator.seed_summary["customerIds"])
    state = (
        service.partners()
        .devices()
        .getSimLockState(partnerId=P, body={"deviceIdentifier": {"imei": "098765432109875"}})
    )
    with pytest.raises(HttpError) as caught:
        state.execute()
    assert caught.value.resp.status == 404


def test_limits_outside_1_to_100_are_refused(emulator, service):
    body = {"customerId": [emulator.seed_summary["customerIds"][0]], "sectionType": ZERO_TOUCH, "limit": 101}
    with pytest.raises(HttpError) as caught:
        service.partners().devices().findByOwner(partnerId=P, body=body).execute()
    assert caught.value.resp.status == 400


def test_without_credentials_the_client_is_unauthenticated(emulator):
    anonymous = build(
        "androiddeviceprovisioning",
        "v1",
        static_discovery=True,
        client_options={"api_endpoint": emulator.url},
        http=httplib2.Http(),
    )
    try:
        with pytest.raises(HttpError) as caught:
            anonymous.partners().customers().list(partnerId=P).execute()
        assert caught.value.resp.status == 401
        assert error_of(caught)["status"] == "UNAUTHENTICATED"
    finally:
        anonymous.close()


def test_another_partner_is_permission_denied(service):
    with pytest.raises(HttpError) as caught:
        service.partners().customers().list(partnerId="7654321").execute()
    assert caught.value.resp.status == 403
    assert error_of(caught)["status"] == "PERMISSION_DENIED"
