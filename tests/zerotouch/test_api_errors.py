"""Each error type, from the emulator's own validation or from its fault injection."""

import pytest
import requests

from zerotouch import (
    ApiError,
    Client,
    Conflict,
    ConnectionFailed,
    DeviceIdentifier,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    Timeout,
    Unauthenticated,
    Unavailable,
)

from .factories import FAST_RETRIES, PARTNER_ID, make_pixel


def test_invalid_imei_is_an_invalid_argument_with_googles_fields(client, emulator):
    customer = emulator.seed_summary["customerIds"][0]

    with pytest.raises(InvalidArgument) as caught:
        client.devices_claim(identifier=DeviceIdentifier(imei="123456789012345"), customer_id=customer)

    error = caught.value
    assert error.code == 400
    assert error.status == "INVALID_ARGUMENT"
    assert "Luhn" in error.message
    assert error.details and error.reason
    assert error.method == "POST"
    assert error.url == f"{emulator.url}/v1/partners/{PARTNER_ID}/devices:claim"
    assert error.api_method == "partners.devices.claim"
    assert str(error).startswith("partners.devices.claim was refused by the zero-touch API (HTTP 400")
    assert str(error).endswith(".")


def test_personal_gmail_owner_is_refused(client):
    with pytest.raises(InvalidArgument) as caught:
        client.customers_create(company_name="Corner Shop", owner_emails=["someone@gmail.com"])

    assert caught.value.reason == "PERSONAL_ACCOUNT_NOT_ALLOWED"


def test_unknown_device_is_not_found(client):
    with pytest.raises(NotFound) as caught:
        client.devices_get(device_id="42")

    assert caught.value.code == 404
    assert caught.value.url.endswith("/devices/42")


def test_claim_for_another_customer_is_a_failed_precondition(client, emulator):
    first, second = emulator.seed_summary["customerIds"][:2]
    client.devices_claim(identifier=make_pixel(20), customer_id=first)

    with pytest.raises(FailedPrecondition) as caught:
        client.devices_claim(identifier=make_pixel(20), customer_id=second)

    assert "already claimed by another customer" in str(caught.value)


def test_another_partners_resources_are_permission_denied(make_client):
    stranger = make_client(partner_id=PARTNER_ID + 1)

    with pytest.raises(PermissionDenied) as caught:
        list(stranger.customers_list())

    assert caught.value.status == "PERMISSION_DENIED"


def test_missing_credentials_are_unauthenticated(emulator):
    client = Client(requests.Session(), emulator.url, PARTNER_ID, retry=FAST_RETRIES)
    try:
        with pytest.raises(Unauthenticated) as caught:
            client.devices_get(device_id="1")
    finally:
        client.close()

    assert caught.value.code == 401


@pytest.mark.parametrize(
    ("http_code", "expected"),
    [
        (500, InternalError),
        (502, Unavailable),
        (503, Unavailable),
        (504, Unavailable),
        (429, RateLimited),
        (409, Conflict),
    ],
)
def test_injected_faults_map_to_their_classes_after_retries(make_client, emulator, http_code, expected):
    client = make_client(deadline=2.0)
    emulator.set_faults(error_rate=1.0, error_codes=[http_code], methods=["partners.devices.get"])

    with pytest.raises(expected) as caught:
        client.devices_get(device_id="1")

    assert type(caught.value) is expected
    assert caught.value.code == http_code
    attempts = sum(emulator.stats()["methods"]["partners.devices.get"].values())
    if http_code == 409:
        assert attempts == 1  # not retried
    elif http_code == 429:
        assert attempts == 2  # each 429 asks for a 1 s wait: only two fit in the 2 s deadline
    else:
        assert attempts == FAST_RETRIES.max_attempts


def test_slow_answer_is_a_timeout(make_client, emulator):
    client = make_client(read_timeout=0.2, deadline=1.0)
    emulator.set_faults(latency_ms=600, methods=["partners.devices.get"])

    with pytest.raises(Timeout) as caught:
        client.devices_get(device_id="1")

    assert caught.value.request_sent is True
    assert "timed out while reading the answer" in str(caught.value)


def test_dropped_connection_is_a_connection_failure(make_client, emulator):
    client = make_client(deadline=1.0)
    emulator.set_faults(drop_rate=1.0, methods=["partners.devices.get"])

    with pytest.raises(ConnectionFailed) as caught:
        client.devices_get(device_id="1")

    assert caught.value.request_sent is True
    assert isinstance(caught.value, ConnectionFailed) and not isinstance(caught.value, ApiError)
