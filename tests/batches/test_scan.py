"""Scan mode's check of one code (``batches:scan``): a serial number with its manufacturer and model,
an IMEI without them, and sentences for a person holding a scanner rather than a spreadsheet. (No
emulator: the cache is filled directly.)"""

import pytest
from django.test.html import Element, parse_html
from django.urls import reverse

from batches.drafts import job_from_input
from core.roles import Role
from devices.cache import cache_store_devices
from devices.identifiers import luhn_check_digit
from tests.devices.factories import api_device, make_customer, make_imei

pytestmark = pytest.mark.django_db

ACME, GLOBEX = 501, 502


@pytest.fixture
def shelf():
    """Two customers; Acme holds a phone known by its IMEI and a tablet known by its serial number."""
    customers = {"acme": make_customer(ACME, "Acme Ltd"), "globex": make_customer(GLOBEX, "Globex")}
    cache_store_devices(
        [
            api_device(1, owner=ACME),
            api_device(2, imei="", serial="TB-0042", manufacturer="Zebra", model="ET40", owner=ACME),
        ]
    )
    return customers


def scanned(client, code: str, **fields) -> tuple[dict[str, str], str]:
    """The scan list's row for ``code``: its attributes and its text, from the fragment alone."""
    response = client.post(
        reverse("batches:scan"),
        {"code": code, "action": "claim", "customer": str(ACME), **fields},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    row = parse_html(response.content.decode())
    assert isinstance(row, Element) and row.name == "li", "only the row comes back, not a page"

    def text(node) -> str:
        return node if isinstance(node, str) else " ".join(text(child) for child in node.children)

    return dict(row.attributes), " ".join(text(row).split())


def test_a_serial_number_is_checked_with_the_manufacturer_and_model_typed_beside_the_scan_box(
    client_as, shelf
):
    client = client_as(Role.SALES)

    row, words = scanned(client, "TB-0042", manufacturer="Zebra", model="ET40")
    assert (row["data-status"], row["data-manufacturer"], row["data-model"]) == ("skip", "Zebra", "ET40")
    assert "Already claimed for this customer" in words and "Zebra ET40" in words

    row, words = scanned(client, "TB-0043", manufacturer="Zebra", model="ET40")
    assert (row["data-status"], row["data-manufacturer"], row["data-model"]) == ("ready", "Zebra", "ET40")

    row, words = scanned(client, "TB-0042", manufacturer="zebra", model="ET40")
    assert row["data-status"] == "error" and "spelt 'Zebra'" in words


def test_an_imei_keeps_no_manufacturer_left_in_the_boxes_from_the_last_serial_numbers(client_as, shelf):
    row, words = scanned(client_as(Role.SALES), make_imei(70001), manufacturer="Zebra", model="ET40")
    assert (row["data-status"], row["data-manufacturer"], row["data-model"]) == ("ready", "", "")
    assert "Zebra" not in words


def test_a_refused_scan_keeps_its_manufacturer_and_model_for_the_next_check(client_as, shelf):
    row, words = scanned(client_as(Role.SALES), "X" * 129, manufacturer="Zebra", model="ET40")
    assert (row["data-status"], row["data-manufacturer"], row["data-model"]) == ("error", "Zebra", "ET40")
    assert row["data-code"] == "X" * 128 and "at most 128 characters" in words


def lost_zero() -> str:
    body = "01234567890123"
    return (body + str(luhn_check_digit(body)))[1:]


@pytest.mark.parametrize(
    ("code", "fields", "scanner_says"),
    [
        (
            lost_zero(),
            {},
            "14 digits: the scan missed a digit, or this IMEI lost its leading zero; scan it again.",
        ),
        ("35209900176", {}, "not an IMEI (15 digits): it may be another barcode of the box"),
        ("4.90154E+14", {}, "scientific notation, not an IMEI: scan the barcode marked IMEI"),
        ("490154203237518", {}, "the example IMEI of the portal's templates, not a device"),
        (
            "TB-0099",
            {},
            "A serial number needs its manufacturer and model: type them above, then scan it again.",
        ),
        (make_imei(70002), {"action": "metadata"}, "A scan gives no order or phone number"),
    ],
    ids=["lost-zero", "product-barcode", "scientific", "template-example", "serial-alone", "metadata"],
)
def test_a_scan_is_told_what_to_do_with_the_scanner_not_with_a_spreadsheet(
    client_as, shelf, code, fields, scanner_says
):
    row, words = scanned(client_as(Role.SALES), code, **fields)

    assert row["data-status"] == "error"
    assert scanner_says in words
    assert "spreadsheet" not in words and "column" not in words
    assert words.count("A serial number needs") <= 1  # manufacturer and model missing: said once


def test_uploads_and_pastes_keep_their_spreadsheet_sentences(client_as, shelf):
    """The scanner's sentences are the scan page's only: the same 14 digits pasted speak of the column."""
    _, words = scanned(client_as(Role.SALES), lost_zero())
    assert "scan it again" in words

    job = job_from_input(action="claim", mode="paste", customer=shelf["acme"], actor=None, text=lost_zero())
    assert "a spreadsheet dropped" in job.items.get().message
