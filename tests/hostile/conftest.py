"""A small world for hostile requests: customers (own and a vendor's), cached devices, a batch job
and an admin, who may open every page (reports included)."""

import html
import re

import pytest

from batches.models import BatchItem, BatchJob
from core.roles import Role
from customers.models import Vendor
from devices.store import cache_store_devices
from tests.devices.factories import api_device, make_customer

CUSTOMER = 501
VENDOR_CUSTOMER = 502
DEVICE = 4242


@pytest.fixture
def site(client_as, db):
    """The admin's test client, over a cache with something in it to find and to page through."""
    make_customer(CUSTOMER, "Acme Ltd")
    vendor = Vendor.objects.create(company_id=900, name="Vendor Co")
    make_customer(VENDOR_CUSTOMER, "Ünïcødé GmbH", vendor=vendor)
    for number in range(60):  # more than a page of customers
        make_customer(1000 + number, f"Customer {number:02d}")
    cache_store_devices(
        [api_device(DEVICE, owner=CUSTOMER, metadata={"ordernumber": "SO-1"})]
        + [
            api_device(5000 + n, owner=CUSTOMER if n % 2 else None, serial=f"R58N{n:04d}", model=f"M{n % 3}")
            for n in range(60)  # more than a page of devices
        ]
    )
    job = BatchJob.objects.create(action="claim")
    BatchItem.objects.create(
        job=job, row_number=2, state="invalid", imei="1", message="An IMEI is 15 digits."
    )
    client = client_as(Role.ADMINS)
    client.job_id = job.pk  # a draft job with an invalid row, for the job pages
    return client


_ALERT = re.compile(
    r'<(?:div|li|p|span)[^>]*(?:role="alert"|class="[^"]*(?:field-error|alert-error)[^"]*")[^>]*>(.*?)</',
    re.S,
)


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def said_why(response) -> list[str]:
    """The error sentences a page shows (alerts and field errors), or a plain-text answer's text."""
    text = body_of(response)
    if response.get("Content-Type", "").startswith("text/plain"):
        return [text.strip()] if text.strip() else []
    return [html.unescape(found).strip() for found in _ALERT.findall(text) if found.strip()]


def assert_clear_answer(response, *, allowed=(200, 302, 400), says_why: bool = True) -> None:
    """No server error, and a refusal that says in words what is wrong (``says_why=False`` only for
    the pages whose silent 400 is a known bug, pinned in test_known_bugs.py)."""
    assert response.status_code in allowed, (response.status_code, body_of(response)[:500])
    if response.status_code == 400 and says_why:
        reasons = said_why(response)
        assert reasons, f"a 400 that does not say why: {body_of(response)[:800]}"
        assert all(len(reason) >= 8 for reason in reasons), reasons
