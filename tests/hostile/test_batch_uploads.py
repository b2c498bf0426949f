"""Hostile files through the real batch page (batches.uploads and the pre-flight's limits): refused in
words, quickly, in little memory, and nothing kept. Wide rows, blank rows, long rows and a slow
pre-flight; a body past the size limit stopped while it arrives."""

import html
import re
import time
import tracemalloc

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, encode_multipart

from batches.models import BatchItem, BatchJob
from batches.parsing import ParsedRow
from batches.preflight import ITEM_COLUMNS, RAW_CUT, RAW_MAX_BYTES, checked_items
from batches.uploads import UploadLimit
from core.roles import Role
from tests.conftest import make_user
from tests.devices.factories import make_customer

IMEI = "490154203237518"
IMEI_2 = "352099001761481"
CUSTOMER = 501
MB = 1024 * 1024
HEADER_9 = "imei,meid,serial,manufacturer,model,customer_id,ordernumber,phonenumber,notes\r\n"


@pytest.fixture
def sales(client_as):
    make_customer(CUSTOMER, "Acme Ltd")
    return client_as(Role.SALES)


def multipart(content: bytes, **fields) -> bytes:
    """The body a browser sends for the batch form with this file, built before the request so that
    a measurement of the request leaves the test's own copy out."""
    upload = SimpleUploadedFile("devices.csv", content, content_type="text/csv")
    form = {"action": "claim", "customer": str(CUSTOMER), "mode": "file", **fields, "file": upload}
    return encode_multipart(BOUNDARY, form)


def post_body(client: Client, body: bytes):
    # A content type equal to, but not the object of, the client's own: the body is sent as it is.
    return client.post("/batches/new/", body, content_type=f"multipart/form-data; boundary={BOUNDARY}")


def post_file(client: Client, content: bytes, **fields):
    return post_body(client, multipart(content, **fields))


def file_errors(response) -> list[str]:
    """The sentences the page shows under the file field."""
    return [
        html.unescape(error).strip()
        for error in re.findall(r'class="field-error"[^>]*>(.*?)</', response.text, re.S)
    ]


def nothing_kept() -> bool:
    return not BatchJob.objects.exists() and not BatchItem.objects.exists()


# --- Wide rows, blank rows, long rows, a slow pre-flight -------------------------------------


def test_a_file_of_310_rows_of_32001_cells_is_refused_at_once_in_little_memory(sales, capsys):
    row = ",".join([IMEI, *["x"] * 32_000]) + "\r\n"  # 32,001 cells on a line just under 64 K characters
    content = (HEADER_9 + row * 310).encode()
    assert 19_000_000 < len(content) < 20 * MB  # within the size limit: only its shape is wrong
    body = multipart(content)

    started = time.perf_counter()
    response = post_body(sales, body)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # a second time, traced (tracing slows it down)
    try:
        traced = post_body(sales, body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == traced.status_code == 400
    assert file_errors(response) == [
        "Row 2 has 32,001 cells; the header has 9. Check that this is the list of devices, and that values "
        "holding a comma are in quotes, then upload again."
    ]
    assert nothing_kept()
    assert elapsed < 2
    assert peak < 100 * MB  # while the request ran, the test client's copy of the 19.8 MB body included
    with capsys.disabled():
        print(f"\n310 x 32,001 cells ({len(content):,} B): 400 in {elapsed:.2f} s, {peak / MB:.1f} MB traced")


def test_the_stored_copy_of_a_long_row_is_cut(sales):
    notes = "n" * 3000
    content = (
        f"imei,model,notes,more,ordernumber\n{IMEI},Pixel 8,{notes},{notes},PO-1\n"
        f"{IMEI_2},Pixel 8,short,,PO-2\n"
    )

    response = post_file(sales, content.encode())

    assert response.status_code == 302
    long_row, short_row = BatchItem.objects.order_by("row_number")
    assert len(orjson.dumps(long_row.raw)) <= RAW_MAX_BYTES
    # The first cells are kept (PostgreSQL's jsonb does not keep the keys' order, so compare as a set).
    assert set(long_row.raw) == {"imei", "model", "notes", "more", RAW_CUT}
    assert long_row.raw["notes"] == notes
    assert 0 < len(long_row.raw["more"]) < len(notes)  # the cell that passes the cap is cut to fit
    assert long_row.raw[RAW_CUT] == "2 of 5 cells not kept whole: the portal keeps the first 4 KB of a row"
    assert long_row.metadata == {"ordernumber": "PO-1"}  # what the job needs is kept whole
    assert short_row.raw == {
        "imei": IMEI_2,
        "model": "Pixel 8",
        "notes": "short",
        "more": "",
        "ordernumber": "PO-2",
    }


@pytest.mark.parametrize(
    "raw",
    [
        {"imei": IMEI, "k" * 5000: "v", "model": "Pixel 8"},  # a header name longer than the cap
        {"imei": IMEI, "notes": "\x01" * 3000},  # six bytes of JSON a character
        {f"column {number}": "é" * 40 for number in range(200)},
    ],
)
def test_the_stored_copy_of_any_row_fits_the_cap(db, raw):
    [item] = next(checked_items([ParsedRow(2, {"imei": IMEI}, raw)], job_id=0, action="claim", customer=None))

    stored = item[ITEM_COLUMNS.index("raw")]
    assert len(stored.encode()) <= RAW_MAX_BYTES
    kept = orjson.loads(stored)
    assert kept.pop(RAW_CUT).endswith("cells not kept whole: the portal keeps the first 4 KB of a row")
    assert list(kept) == list(raw)[: len(kept)]
    assert all(raw[name].startswith(value) for name, value in kept.items())


def test_blank_lines_count_toward_the_row_limit(sales, settings):
    settings.ZT_BATCH_MAX_ROWS = 1000

    response = post_file(sales, ("imei\r\n" + f"{IMEI}\r\n" + "\r\n" * 200_000).encode())

    assert response.status_code == 400
    assert file_errors(response) == [
        "The file devices.csv has more than 1,000 rows, blank rows included: delete the blank rows, or "
        "split it into files of at most 1,000 rows and upload each."
    ]
    assert nothing_kept()


def test_a_preflight_past_its_time_budget_is_refused_and_keeps_nothing(sales, settings):
    settings.ZT_BATCH_PREFLIGHT_SECONDS = 0.001
    content = "imei,ordernumber\n" + "".join(f"{IMEI},PO-{n}\n" for n in range(3000))

    response = post_file(sales, content.encode())

    assert response.status_code == 400
    assert file_errors(response) == [
        "Checking the rows took longer than 0.001 seconds, so it was stopped and nothing was kept: split the "
        "devices into smaller files (or shorter lists) and try each."
    ]
    assert nothing_kept()
    settings.ZT_BATCH_PREFLIGHT_SECONDS = 60
    assert post_file(sales, content.encode()).status_code == 302
    assert BatchItem.objects.count() == 3000


# --- A body past the size limit is stopped while it arrives ----------------------------------

TOO_LARGE_1_MB = "The file is larger than 1 MB: split it into smaller files and upload each."


def device_file(size: int) -> bytes:
    line = f"{IMEI}\r\n".encode()
    return b"imei\r\n" + line * (size // len(line))


def unread(response) -> int:
    """Bytes of the request body the portal never read (the test client's stream counts them)."""
    return len(response.wsgi_request.environ["wsgi.input"])


def test_an_upload_past_the_limit_is_stopped_at_the_limit(sales, settings):
    settings.ZT_BATCH_MAX_BYTES = MB
    body = multipart(device_file(5 * MB))

    response = post_body(sales, body)

    assert response.status_code == 400
    assert file_errors(response) == [TOO_LARGE_1_MB]
    limit = response.wsgi_request.upload_handlers[0]
    assert isinstance(limit, UploadLimit)
    assert MB < limit.received <= MB + limit.chunk_size  # no more was handed to the temporary file
    assert unread(response) > len(body) - MB - 2 * limit.chunk_size  # and the rest was never read
    assert nothing_kept()


def test_a_request_declaring_a_body_past_what_the_form_can_send_is_stopped_before_its_file(sales, settings):
    settings.ZT_BATCH_MAX_BYTES = MB
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = MB
    body = multipart(device_file(4 * MB))  # past 1 MB of file, 1 MB of fields and 1 MB of framing

    response = post_body(sales, body)

    assert response.status_code == 400
    assert file_errors(response) == [TOO_LARGE_1_MB]
    assert response.wsgi_request.upload_handlers[0].received == 0
    assert unread(response) >= len(body) - 64 * 1024  # one chunk read: the fields before the file
    assert nothing_kept()


def test_an_upload_just_past_the_limit_is_refused_and_the_rest_read_off(sales, settings):
    """A proxy lets a body a little past the limit through: its rest is read and dropped, so the
    connection stays usable and the proxy reads the answer."""
    settings.ZT_BATCH_MAX_BYTES = MB
    body = multipart(device_file(MB + 300 * 1024))

    response = post_body(sales, body)

    assert response.status_code == 400
    assert file_errors(response) == [TOO_LARGE_1_MB]
    assert unread(response) == 0
    assert nothing_kept()


def test_a_40_mb_upload_is_refused_at_once_in_little_memory(sales, capsys):
    body = multipart(device_file(40 * MB))

    tracemalloc.start()
    try:
        started = time.perf_counter()
        response = post_body(sales, body)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 400
    assert file_errors(response) == [
        "The file is larger than 20 MB: split it into smaller files and upload each."
    ]
    assert response.wsgi_request.upload_handlers[0].received == 0
    assert elapsed < 2
    assert peak < 100 * MB  # the test client's copy of the body included
    assert nothing_kept()
    with capsys.disabled():
        print(f"\n{len(body) / MB:.0f} MB body: 400 in {elapsed:.2f} s, peak {peak / MB:.1f} MB traced")


def test_the_csrf_token_is_still_checked_once_the_upload_limit_is_in(db, settings):
    settings.ZT_BATCH_MAX_BYTES = MB
    make_customer(CUSTOMER, "Acme Ltd")
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.SALES))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/batches/new/").text)[1]

    assert post_file(client, device_file(5 * MB)).status_code == 403
    response = post_file(client, device_file(5 * MB), csrfmiddlewaretoken=token)
    assert response.status_code == 400
    assert file_errors(response) == [TOO_LARGE_1_MB]
    assert post_file(client, f"imei\r\n{IMEI}\r\n".encode(), csrfmiddlewaretoken=token).status_code == 302
