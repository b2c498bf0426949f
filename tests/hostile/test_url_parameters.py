"""Every parameter of every URL that takes one, fed every value of a stored corpus of hostile input
(tests/hostile/hostile_values.json): overflowing numbers, other scripts' digits, NUL bytes, huge
strings, forged page cursors, markup. The portal must answer each with a page or a clear 4xx, never
a 5xx and never a traceback."""

import json
from pathlib import Path

import pytest

from batches.models import BatchItem, BatchJob
from core.roles import Role
from customers.models import Customer
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer

HOSTILE = json.loads((Path(__file__).parent / "hostile_values.json").read_text())["values"]
HTMX = {"HX-Request": "true"}

SEARCH_PARAMETERS = ["q", "customer", "manufacturer", "model", "state", "seller", "sort", "cursor"]
CLAIM_FIELDS = {
    "device_type": "android",
    "imei": "",
    "meid": "",
    "serial_number": "",
    "manufacturer": "",
    "model": "",
    "chrome_os_attested_device_id": "",
    "customer": "501",
    "google_workspace_customer_id": "",
    "pre_provisioning_token": "",
    "order_number": "",
    "phone_number": "",
}
DEVICE = 4242
JOB = 7
BATCH_FIELDS = {"action": "claim", "customer": "501", "mode": "paste", "pasted": "", "scanned": ""}
SCAN_FIELDS = {"code": "", "action": "claim", "customer": "501"}

# (method, URL, parameter, the other parameters sent with it). Pages that answer a fragment or a whole
# page from one URL are tried both ways; forms are posted as htmx posts them.
CASES = [
    *[("GET", "/devices/", name, {}) for name in SEARCH_PARAMETERS],
    *[("GET", "/devices/lookup/", name, {}) for name in ("q", "manufacturer", "model", "customer")],
    ("GET", "/devices/claim/", "device", {}),
    ("GET", "/customers/picker/", "q", {}),
    *[("POST", "/devices/claim/", name, CLAIM_FIELDS) for name in CLAIM_FIELDS],
    *[
        ("POST", f"/devices/{DEVICE}/metadata/", name, {})
        for name in ("order_number", "phone_number", "other_key", "other_value")
    ],
    *[
        ("POST", f"/devices/{DEVICE}/unclaim/", name, {})
        for name in ("vacation_mode_days", "vacation_mode_until")
    ],
    *[("GET", "/batches/", name, {}) for name in ("user", "mine", "before")],
    *[("GET", f"/batches/{JOB}/", name, {}) for name in ("state", "kind", "after")],
    ("GET", f"/batches/{JOB}/results.csv", "rows", {}),
    ("GET", "/batches/new/", "customer", {}),
    *[("POST", "/batches/new/", name, BATCH_FIELDS) for name in BATCH_FIELDS],
    *[("POST", "/batches/scan/", name, SCAN_FIELDS) for name in SCAN_FIELDS],
]


@pytest.fixture
def sales(emulator, client_as, db):
    make_customer(501, "Acme Ltd")
    cache_store_devices([api_device(DEVICE, owner=501, metadata={"ordernumber": "SO-1"})])
    job = BatchJob.objects.create(pk=JOB, action="claim")
    BatchItem.objects.create(
        job=job, row_number=2, state="invalid", imei="1", message="An IMEI is 15 digits."
    )
    return client_as(Role.SALES)


def _failures(responses) -> list[str]:
    return [
        f"{value!r:.60}: HTTP {response.status_code}"
        for value, response in responses
        if response.status_code >= 500 or "Traceback" in response.text
    ]


@pytest.mark.parametrize(
    ("method", "url", "name", "base"), CASES, ids=[f"{m} {u} {n}" for m, u, n, _ in CASES]
)
def test_no_hostile_value_gets_a_server_error(sales, emulator, method, url, name, base):
    # The API would refuse what reaches it anyway; keep each call short.
    emulator.set_faults(error_rate=1.0, error_codes=[400], methods=["partners.devices.claim"])
    responses = []
    for value in HOSTILE:
        data = {**base, name: value}
        if method == "POST":
            responses.append((value, sales.post(url, data, headers=HTMX)))
            continue
        page_or_fragment = url.startswith(("/devices/", "/batches/")) and not url.endswith(".csv")
        for headers in ({}, {**HTMX, "HX-Target": "results"}) if page_or_fragment else (HTMX,):
            response = sales.get(url, data, headers=headers)
            if response.streaming:
                response = type(
                    "Read", (), {"status_code": response.status_code, "text": b"".join(response).decode()}
                )
            responses.append((value, response))
    assert _failures(responses) == []
    assert Customer.objects.filter(pk=501).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/devices/99999999999999999999/",
        "/devices/9223372036854775808/",
        "/devices/0/",
        "/devices/9223372036854775807/",
        "/devices/9223372036854775808/refresh/",
        "/devices/00000000000000000001/",
    ],
)
def test_device_ids_beyond_the_database_are_not_found(sales, path):
    assert sales.get(path).status_code == 404


def test_each_refusal_says_why(sales):
    """A hostile value that is refused is refused in words next to its field, not silently."""
    huge = sales.get("/devices/", {"customer": "9223372036854775808"})
    picker = sales.get("/customers/picker/", {"q": "a" * 50000}, headers=HTMX)
    cursor = sales.get(
        "/devices/", {"cursor": "WzEsMl0=", "q": "R58N"}, headers={**HTMX, "HX-Target": "results"}
    )
    prefill = sales.get("/devices/claim/", {"device": "²"})

    assert huge.status_code == 400 and "customer: Ensure this value is less than or equal to" in huge.text
    assert picker.status_code == 400 and "Type at most 100 characters" in picker.text
    assert cursor.status_code == 400 and "This page link is not valid any more" in cursor.text
    assert prefill.status_code == 400 and "Claim a device" in prefill.text
