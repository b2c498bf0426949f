"""Devices and customers as the API describes them, for tests of the cache."""

import zerotouch
from customers.models import Customer, Vendor
from devices.identifiers import luhn_check_digit


def make_imei(serial: int) -> str:
    body = f"35{serial:012d}"
    return body + str(luhn_check_digit(body))


def api_device(
    device_id: int,
    *,
    imei: str | None = None,
    imei2: str = "",
    meid: str = "",
    serial: str = "",
    manufacturer: str = "Google",
    model: str = "Pixel 8",
    owner: int | None = None,
    metadata: dict | None = None,
) -> zerotouch.Device:
    identifier = {"manufacturer": manufacturer, "model": model, "deviceType": "DEVICE_TYPE_ANDROID"}
    for key, value in {
        "imei": imei if imei is not None else make_imei(device_id),
        "imei2": imei2,
        "meid": meid,
        "serialNumber": serial,
    }.items():
        if value:
            identifier[key] = value
    body = {
        "deviceId": str(device_id),
        "name": f"partners/1000001/devices/{device_id}",
        "deviceIdentifier": identifier,
        "deviceMetadata": {"entries": metadata or {}},
        "claims": [],
    }
    if owner is not None:
        body["claims"] = [
            {"ownerCompanyId": str(owner), "resellerId": "1000001", "sectionType": "SECTION_TYPE_ZERO_TOUCH"}
        ]
    return zerotouch.Device.from_json(body)


def make_customer(company_id: int, name: str, *, vendor: Vendor | None = None) -> Customer:
    return Customer.objects.create(
        company_id=company_id, name=name, owner_emails=["it@example.com"], vendor=vendor
    )


def emulator_device(emulator, imei: str) -> dict | None:
    """The device with this IMEI as the emulator's API returns it (None if it knows none)."""
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:findByIdentifier",
        {"deviceIdentifier": {"imei": imei}, "limit": 10},
    )
    assert status == 200, body
    devices = body.get("devices", [])
    return devices[0] if devices else None
