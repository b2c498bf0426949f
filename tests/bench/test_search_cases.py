"""The throughput benchmark's own logic (``bench.search_cases``, ``bench.throughput``): the cases it
picks from the database, the check of every answer, and its client, on a small cache the benchmark's
builder made."""

import io
import random

import pytest

from bench.cache import build
from bench.search_cases import CASES, Browser, Query, answer_problem, pick_queries
from bench.throughput import drive
from core.roles import Role
from devices.models import Device, SearchKey
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true", "HX-Target": "results"}


@pytest.fixture
def cache():
    """800 devices for 12 customers, the first 200 the first customer's (four pages of 50)."""
    build(io.StringIO(), random.Random(3), 800, 12, big_customer=200)


def test_every_case_is_picked_and_the_portal_shows_each_query_its_device(cache, client_as):
    queries = pick_queries(random.Random(5), variants=3)
    client = client_as(Role.SALES)

    assert list(queries) == list(CASES)
    for case, found in queries.items():
        assert found, case
        for query in found:
            page = client.get(query.target())
            assert answer_problem(query, fragment=False, status=page.status_code, body=page.content) == ""
            if query.has_fragment:
                part = client.get(query.target(), headers=HTMX)
                assert answer_problem(query, fragment=True, status=part.status_code, body=part.content) == ""
    assert len({query.target() for query in queries["device page"]}) == 3
    exact = queries["exact IMEI"][0]
    assert exact.params == (("q", Device.objects.get(pk=exact.device_id).imei),)
    page_n = queries["customer page N"][0]
    assert dict(page_n.params)["cursor"]


def test_an_answer_without_its_device_is_an_error(cache, client_as):
    query = pick_queries(random.Random(5), variants=1)["exact serial"][0]
    SearchKey.objects.filter(device_id=query.device_id).delete()  # the search no longer finds it
    client = client_as(Role.SALES)

    page = client.get(query.target(), headers=HTMX)

    assert answer_problem(query, fragment=True, status=page.status_code, body=page.content) == (
        f"device {query.device_id} not shown"
    )


def test_the_check_wants_a_200_the_device_and_the_shape_asked_for():
    query = Query("exact IMEI", "/devices/", (("q", "35"),), 10000001)
    whole = b"<html><a href='/devices/10000001/'>10000001</a></html>"
    fragment = b"<table><td><a href='/devices/10000001/'>10000001</a></td></table>"

    assert answer_problem(query, fragment=False, status=200, body=whole) == ""
    assert answer_problem(query, fragment=True, status=200, body=fragment) == ""
    assert answer_problem(query, fragment=False, status=302, body=b"") == "HTTP 302"
    assert answer_problem(query, fragment=False, status=500, body=whole) == "HTTP 500"
    assert answer_problem(query, fragment=True, status=200, body=b"<td>100000012</td>") == (
        "device 10000001 not shown"
    )
    assert "whole page" in answer_problem(query, fragment=True, status=200, body=whole)
    assert "fragment" in answer_problem(query, fragment=False, status=200, body=fragment)


def test_clients_sign_in_through_the_form_and_every_answer_is_checked(cache, live_server):
    make_user(Role.SALES, "bench-sales", "pw-1")
    host, port = live_server.thread.host, live_server.thread.port
    browsers = [Browser(host, port), Browser(host, port)]
    queries = pick_queries(random.Random(5), variants=2)

    assert [browser.sign_in("bench-sales", "pw-1") for browser in browsers] == ["", ""]
    stranger = Browser(host, port)
    assert stranger.sign_in("bench-sales", "wrong") == "signing bench-sales in answered 200"
    stranger.close()
    run = drive(browsers, queries, warmup=0.5, duration=2, seed=1)

    assert run.answers
    assert {answer.fragment for answer in run.answers} == {True, False}
    assert [answer.error for answer in run.errors] == []
    assert all(0.5 <= answer.at and answer.at + answer.ms / 1000 <= 2.5 for answer in run.answers)
