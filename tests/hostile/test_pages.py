"""Generated query strings and form posts against every page that takes input: each answer is a page,
a redirect or a 400 that says in words what is wrong; never a 5xx or an exception."""

import base64
import os
import re
from urllib.parse import quote

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import given
from hypothesis import strategies as st

from batches.models import BatchJob
from core.converters import MAX_ID
from tests.hostile.conftest import CUSTOMER, assert_clear_answer, body_of, said_why
from tests.hostile.strategies import (
    bounded,
    cursor_of,
    cursors,
    hostile_text,
    numbers_as_text,
)

HTMX_RESULTS = {"HX-Request": "true", "HX-Target": "results"}


def query(**fields):
    """A query string of some of ``fields`` (each a strategy), plus a parameter no page knows."""
    return st.fixed_dictionaries({}, optional={**fields, "unknown": hostile_text})


def either(*choices):
    """A known value (the page's own choices) or anything at all."""
    return st.one_of(st.sampled_from(choices), hostile_text)


# --- Devices ---------------------------------------------------------------------------------------

DEVICE_QUERY = query(
    q=hostile_text,
    customer=st.one_of(numbers_as_text(), hostile_text),
    manufacturer=hostile_text,
    model=hostile_text,
    state=either("", "claimed", "unclaimed"),
    seller=either("", "own", "vendor"),
    sort=either("device_id", "-device_id", "model", "-model"),
    cursor=cursors(),
)


@bounded
@given(params=DEVICE_QUERY, fragment=st.booleans())
def test_device_search_takes_any_query_string(site, params, fragment):
    response = site.get("/devices/", params, headers=HTMX_RESULTS if fragment else {})

    assert_clear_answer(response)


@bounded
@given(
    sort=st.sampled_from(["device_id", "-device_id", "model", "-model", ""]),
    q=st.sampled_from(["", "R58N", "35"]),
    cursor=cursors(surrogates=False),
)
def test_a_forged_device_cursor_is_refused_in_words(site, sort, q, cursor):
    response = site.get("/devices/", {"sort": sort, "q": q, "cursor": cursor}, headers=HTMX_RESULTS)

    assert_clear_answer(response, allowed=(200, 400))
    if response.status_code == 400:
        assert any("not valid" in reason for reason in said_why(response)), said_why(response)


def test_a_real_device_cursor_still_pages(site):
    """The forged cursors above are refused while the page's own cursor works: the check can tell."""
    first = site.get("/devices/", {"sort": "model"}, headers=HTMX_RESULTS)
    cursor = first.context["page"].next_cursor

    following = site.get("/devices/", {"sort": "model", "cursor": cursor}, headers=HTMX_RESULTS)

    assert cursor and following.status_code == 200
    assert following.context["page"].devices[0] not in first.context["page"].devices


@bounded
@given(params=query(q=hostile_text, manufacturer=hostile_text, model=hostile_text, customer=hostile_text))
def test_looking_a_device_up_in_zero_touch_takes_any_text(site, emulator, params):
    response = site.get("/devices/lookup/", params, headers={"HX-Request": "true"})

    assert_clear_answer(response)


# --- Customers -------------------------------------------------------------------------------------

CUSTOMER_QUERY = query(
    q=hostile_text,
    seller=either("", "own", "vendor"),
    terms=either("", "attention"),
    vendor=st.one_of(numbers_as_text(), hostile_text),
    sort=either("name", "-name", "devices", "-devices", "terms"),
    cursor=cursors(),
)


@bounded
@given(params=CUSTOMER_QUERY, fragment=st.booleans())
def test_the_customers_page_takes_any_query_string(site, params, fragment):
    response = site.get("/customers/", params, headers=HTMX_RESULTS if fragment else {})

    assert_clear_answer(response)


@bounded
@given(sort=st.sampled_from(["name", "-name", "devices", "-devices", "terms"]), cursor=cursors())
def test_a_forged_customers_cursor_is_refused_in_words(site, sort, cursor):
    response = site.get("/customers/", {"sort": sort, "cursor": cursor}, headers=HTMX_RESULTS)

    assert_clear_answer(response, allowed=(200, 400))
    if response.status_code == 400:
        assert any("not valid any more" in reason for reason in said_why(response))


def test_a_real_customers_cursor_still_pages(site):
    first = site.get("/customers/", {"sort": "-name"}, headers=HTMX_RESULTS)
    cursor = first.context["page"].next_cursor

    following = site.get("/customers/", {"sort": "-name", "cursor": cursor}, headers=HTMX_RESULTS)

    assert cursor and following.status_code == 200
    assert following.context["page"].customers[0] not in first.context["page"].customers


@bounded
@given(params=CUSTOMER_QUERY)
def test_the_customers_export_takes_any_query_string(site, params):
    response = site.get("/customers/export.csv", params)

    assert_clear_answer(response)
    if response.status_code == 200:
        lines = body_of(response).splitlines()[1:]
        assert all(not line.startswith(("=", "+", "-", "@")) for line in lines)


@bounded
@given(params=query(q=hostile_text, own=hostile_text))
def test_the_customer_picker_takes_any_text(site, params):
    response = site.get("/customers/picker/", params, headers={"HX-Request": "true"})

    assert_clear_answer(response)


emails = st.one_of(
    st.emails().map(str),
    hostile_text,
    st.lists(st.one_of(st.emails().map(str), hostile_text), max_size=4).map(lambda found: "\n".join(found)),
    st.lists(st.emails().map(str), min_size=45, max_size=60).map(", ".join),
    st.just("it@gmail.com"),
)
CUSTOMER_FORM = st.fixed_dictionaries(
    {},
    optional={
        "company_name": hostile_text,
        "owner_emails": emails,
        "admin_emails": emails,
        "language_code": either("", "en-GB", "iw", "es-419"),
    },
)


@bounded
@given(fields=CUSTOMER_FORM)
def test_the_new_customer_form_takes_any_fields(site, fields):
    """Without ``confirmed=yes`` nothing is sent to zero-touch: a valid form shows the confirmation."""
    response = site.post("/customers/new/", fields)

    assert_clear_answer(response, allowed=(200, 400))
    if response.status_code == 200:
        assert response.context["confirming"] is True


# --- Reports ---------------------------------------------------------------------------------------

dates = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.dates().map(lambda day: day.strftime("%d/%m/%Y")),
    st.sampled_from(["2024-02-30", "2023-13-01", "0000-01-01", "10000-01-01", "2024-1-1", "today"]),
    hostile_text,
)
REPORT_QUERY = query(
    preset=either(
        "this_month",
        "last_month",
        "last_7_days",
        "last_30_days",
        "this_quarter",
        "last_12_months",
        "this_year",
        "custom",
    ),
    start=dates,
    end=dates,
    customer=st.one_of(numbers_as_text(), hostile_text),
    salesperson=st.one_of(numbers_as_text(), hostile_text),
    grain=either("", "day", "week", "month"),
)


def _past_64_bits(text: str) -> bool:
    try:
        return int(text) > MAX_ID
    except ValueError:
        return False


def _a_customer_id(text: str | None) -> bool:
    """Whether the report's hidden customer field takes ``text`` (its own rules, not a copy)."""
    try:
        forms.IntegerField(min_value=1).clean(text)
    except forms.ValidationError:
        return False
    return True


@bounded
@given(params=REPORT_QUERY, fragment=st.booleans())
def test_the_reports_take_any_filters(site, params, fragment):
    response = site.get("/reports/", params, headers={"HX-Request": "true"} if fragment else {})

    assert_clear_answer(response)


@bounded
@given(params=REPORT_QUERY, table=st.sampled_from(["activity", "customers", "failure-kinds", "fleet"]))
def test_the_report_exports_take_any_filters(site, params, table):
    response = site.get(f"/reports/export/{table}.csv", params)

    assert_clear_answer(response)


@bounded
@given(q=hostile_text)
def test_the_orders_search_takes_any_text(site, q):
    for url in ("/orders/", "/orders/export.csv"):
        assert_clear_answer(site.get(url, {"q": q}))


@bounded
@given(
    number=st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="/?#"), min_size=1, max_size=60
    )
)
def test_an_order_page_for_any_number_is_a_page_or_not_found(site, number):
    response = site.get(f"/orders/{quote(number, safe='')}/")

    assert response.status_code in (200, 404)


# --- Batches ---------------------------------------------------------------------------------------

BATCH_FORM = st.fixed_dictionaries(
    {
        "action": either("claim", "unclaim", "metadata"),
        "mode": either("paste", "scan"),
    },
    optional={
        "customer": st.one_of(st.just(str(CUSTOMER)), numbers_as_text(), hostile_text),
        "pasted": hostile_text,
        "scanned": hostile_text,
    },
)


@bounded
@given(fields=BATCH_FORM)
def test_a_new_batch_from_any_pasted_text(site, fields):
    response = site.post("/batches/new/", fields)

    assert_clear_answer(response)
    if response.status_code == 302:  # a draft job with a row per line, each shown on its page
        job = BatchJob.objects.latest("pk")
        assert job.items.exists()
        assert site.get(f"/batches/{job.pk}/").status_code == 200
        assert site.get(f"/batches/{job.pk}/results.csv").status_code == 200


@bounded
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.tuples(
            st.sampled_from(
                ["imei", "IMEI;model", "modemtype,modemid,serial,model,manufacturer", "serial\tmodel"]
            ),
            st.lists(hostile_text, min_size=1, max_size=5),
            st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]),
        ).map(lambda parts: "\r\n".join([parts[0], *parts[1]]).encode(parts[2], "replace")),
    ),
    name=hostile_text,
)
def test_a_new_batch_from_any_uploaded_file(site, content, name):
    # Django's test client cannot build a file without a base name ("/", "a/"); a browser's such
    # upload arrives without its file, which the form already refuses in words.
    upload = SimpleUploadedFile(
        os.path.basename(name.replace("\x00", "")) or "f.csv", content, content_type="text/csv"
    )
    response = site.post(
        "/batches/new/", {"action": "claim", "mode": "file", "customer": CUSTOMER, "file": upload}
    )

    assert_clear_answer(response)
    if response.status_code == 302:
        assert site.get(response["Location"]).status_code == 200


@bounded
@given(params=query(customer=hostile_text, action=hostile_text))
def test_the_new_batch_page_takes_any_preset(site, params):
    assert_clear_answer(site.get("/batches/new/", params))


@bounded
@given(
    fields=st.fixed_dictionaries(
        {"code": hostile_text},
        optional={"action": either("claim", "unclaim", "metadata"), "customer": hostile_text},
    )
)
def test_a_scanned_code_of_any_text_gets_a_status(site, fields):
    response = site.post("/batches/scan/", fields, headers={"HX-Request": "true"})

    assert response.status_code == 200
    status = re.search(r'data-status="(\w+)"', body_of(response)).group(1)
    message = re.search(r'<span class="scan-message">(.*?)</span>', body_of(response), re.S).group(1)
    assert status in ("ready", "skip", "error")
    assert status == "ready" or message.strip(), "a problem without a word on what it is"


@bounded
@given(params=query(user=hostile_text, mine=hostile_text, before=st.one_of(numbers_as_text(), hostile_text)))
def test_the_batch_list_takes_any_filters(site, params):
    assert_clear_answer(site.get("/batches/", params))


@bounded
@given(
    params=query(
        state=either("", "failed", "invalid", "skipped"),
        kind=hostile_text,
        after=st.one_of(numbers_as_text(), hostile_text),
        rows=hostile_text,
    ),
    target=st.sampled_from([None, "rows", "progress"]),
)
def test_a_job_page_takes_any_filters(site, params, target):
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}

    assert_clear_answer(site.get(f"/batches/{site.job_id}/", params, headers=headers))
    assert site.get(f"/batches/{site.job_id}/results.csv", params).status_code == 200


@pytest.mark.parametrize("cursor", [cursor_of(["R58N0001", 5001]), cursor_of([5001, 5001])])
def test_a_cursor_of_the_wrong_sort_is_refused(site, cursor):
    response = site.get(
        "/devices/", {"sort": "-device_id" if cursor.startswith("WyJ") else "model", "cursor": cursor}
    )

    assert response.status_code == 400
    assert "not valid any more" in " ".join(said_why(response))


def test_a_customers_cursor_holding_a_lone_surrogate_is_refused(site):
    """JSON spells a lone surrogate as \\ud800; the database driver cannot encode one."""
    cursor = base64.urlsafe_b64encode(b'["\\ud800",501]').decode()

    response = site.get("/customers/", {"cursor": cursor}, headers=HTMX_RESULTS)

    assert response.status_code == 400
    assert any("not valid any more" in reason for reason in said_why(response))
