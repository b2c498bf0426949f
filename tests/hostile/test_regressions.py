"""Hostile inputs the hostile-input suite found answered with a 500 or a refusal without words, kept
as regressions now that each is fixed: a cursor holding a lone surrogate, a report for a customer id
past 64 bits or for dates at the end of the calendar, refused filters that did not say why, a NUL in
a CSV header past the part the binary check reads, and an order number holding a NUL."""

import base64
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from batches.parsing import FileRefused, parse_csv
from tests.hostile.conftest import CUSTOMER, assert_clear_answer, said_why

SURROGATE_CURSOR = base64.urlsafe_b64encode(b'["\\ud800",5001]').decode()


@pytest.mark.parametrize("customer", [str(2**63), "99999999999999999999"])
def test_a_report_for_a_customer_id_past_64_bits_is_refused(site, customer):
    assert_clear_answer(site.get("/reports/", {"customer": customer}))


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_a_report_that_ends_in_the_last_days_of_the_calendar_is_refused(site, grain):
    params = {"preset": "custom", "start": "9999-12-01", "end": "9999-12-31", "grain": grain}

    assert_clear_answer(site.get("/reports/", params))


@pytest.mark.parametrize("params", [{"sort": "model"}, {"q": "R58N"}], ids=["sorted-by-model", "searched"])
def test_a_device_cursor_holding_a_lone_surrogate_is_refused(site, params):
    response = site.get("/devices/", {**params, "cursor": SURROGATE_CURSOR})

    assert response.status_code == 400
    assert any("not valid any more" in reason for reason in said_why(response))


@pytest.mark.parametrize("customer", ["0", "-1", "acme", "1.5"])
def test_a_refused_report_customer_says_why(site, customer):
    assert_clear_answer(site.get("/reports/", {"customer": customer}))


@pytest.mark.parametrize("params", [{"user": "\x00"}, {"before": "x"}, {"before": str(2**64)}])
def test_a_refused_batch_list_filter_says_why(site, params):
    assert_clear_answer(site.get("/batches/", params))


@pytest.mark.parametrize("params", [{"state": "0"}, {"after": "-1"}, {"kind": "x" * 21}])
def test_a_refused_job_filter_says_why(site, params):
    assert_clear_answer(site.get(f"/batches/{site.job_id}/", params))


NUL_HEADER_PAST_THE_SNIFF = b"\r\n" * 2100 + b"imei,order\x00number\r\n490154203237518,PO-1\r\n"


def test_a_nul_in_a_header_past_the_first_4_kb_is_refused_in_words():
    """The binary check reads the first 4 KB only; a NUL in a header after it would become a key of
    every row's raw cells, which PostgreSQL's jsonb cannot store."""
    with pytest.raises(FileRefused, match="header row contains a NUL character"):
        list(parse_csv(io.BytesIO(NUL_HEADER_PAST_THE_SNIFF)))


def test_an_upload_with_a_nul_in_its_header_past_the_first_4_kb_gets_an_answer(site):
    upload = SimpleUploadedFile("devices.csv", NUL_HEADER_PAST_THE_SNIFF, content_type="text/csv")

    response = site.post(
        "/batches/new/", {"action": "claim", "mode": "file", "customer": CUSTOMER, "file": upload}
    )

    assert response.status_code == 400
    assert_clear_answer(response)


@pytest.mark.parametrize("number", ["%00", "PO-1%00", "%00%00"])
def test_an_order_number_with_a_nul_is_not_found(site, number):
    assert site.get(f"/orders/{number}/").status_code == 404


@pytest.mark.parametrize("path", ["/customers/", "/devices/"])
def test_a_page_link_holding_a_nul_is_refused_as_a_stale_link(site, path):
    """Found by Hypothesis: the form's own NUL check answered "Null characters are not allowed."."""
    response = site.get(path, {"cursor": "\x00"}, headers={"HX-Request": "true"})

    assert response.status_code == 400
    assert any("not valid any more" in reason for reason in said_why(response))
