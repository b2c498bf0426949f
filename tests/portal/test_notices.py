"""The notices in the layout (portal.notices): on every full page of their person only, dismissable
with and without htmx, looked for again only while the person has a job running, and costing no query
on a fragment or for anyone not signed in."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from batches.models import BatchJob
from core.models import Notice
from core.notices import notice_post
from core.roles import Role
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TEXT = "Batch 41, claim of 3 devices for Acme Ltd, finished: 2 claimed, 1 failed"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def notice_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if "portal_notice" in query["sql"]]


@pytest.fixture
def sam():
    return make_user(Role.SALES, "sam")


@pytest.fixture
def notice(sam):
    return notice_post(user_id=sam.pk, key="batches.job.41.ended", text=TEXT, link="/batches/41/")


def test_the_notice_shows_on_any_page_of_its_person_and_no_one_elses(sam, notice):
    kim = make_user(Role.SALES, "kim")

    page = signed_in(sam).get("/customers/")
    other = signed_in(kim).get("/customers/")

    assert page.status_code == 200
    assert TEXT in page.text and 'href="/batches/41/"' in page.text
    assert f'action="/notices/{notice.pk}/dismiss/"' in page.text
    assert TEXT not in other.text
    assert 'id="notice-list"' in other.text  # the live region is there, empty, for a notice to come


def test_a_full_page_reads_the_notices_in_one_query_and_a_fragment_in_none(sam, notice):
    client = signed_in(sam)

    with CaptureQueriesContext(connection) as page:
        client.get("/customers/")
    with CaptureQueriesContext(connection) as fragment:
        client.get("/customers/", {"q": "acme"}, headers={**HTMX, "HX-Target": "results"})

    assert len(notice_queries(page.captured_queries)) == 1
    assert notice_queries(fragment.captured_queries) == []


def test_no_notice_query_for_anyone_not_signed_in():
    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/accounts/login/")

    assert response.status_code == 200
    assert notice_queries(queries.captured_queries) == []
    assert 'id="notice-list"' not in response.text


def test_the_page_a_notice_links_to_shows_it_no_more(sam, notice):
    client = signed_in(sam)
    BatchJob.objects.create(pk=41, action="claim", state=BatchJob.State.DONE, created_by=sam)

    assert TEXT not in client.get("/batches/41/").text
    assert TEXT not in client.get("/customers/").text
    assert Notice.objects.get().seen_at is not None


def test_dismissing_with_htmx_and_without(sam, notice):
    client = signed_in(sam)
    second = notice_post(user_id=sam.pk, key="other", text="Batch 42 finished", link="/batches/42/")

    answer = client.post(f"/notices/{notice.pk}/dismiss/", headers=HTMX)
    back = client.post(f"/notices/{second.pk}/dismiss/", {"next": "/devices/?q=abc"})

    assert answer.status_code == 200 and answer.text == ""
    assert back.status_code == 302 and back["Location"] == "/devices/?q=abc"
    assert Notice.objects.filter(seen_at__isnull=True).count() == 0
    assert TEXT not in client.get("/customers/").text


def test_one_cannot_dismiss_anothers_notice_nor_be_sent_elsewhere(sam, notice):
    kim = signed_in(make_user(Role.SALES, "kim"))

    response = kim.post(f"/notices/{notice.pk}/dismiss/", {"next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == "/"
    assert Notice.objects.get().seen_at is None


def test_pages_look_for_notices_only_while_the_person_has_a_job_running(sam):
    client = signed_in(sam)
    assert "notice-poller" in client.get("/customers/").text
    assert 'hx-trigger="every' not in client.get("/customers/").text

    job = BatchJob.objects.create(action="claim", state=BatchJob.State.RUNNING, created_by=sam)
    page = client.get("/customers/").text
    assert 'hx-get="/notices/?after=0" hx-trigger="every 20s"' in page

    BatchJob.objects.filter(pk=job.pk).update(state=BatchJob.State.DONE)
    shown = notice_post(user_id=sam.pk, key="job", text=TEXT, link=f"/batches/{job.pk}/")
    poll = client.get(
        "/notices/", {"after": 0}, headers={**HTMX, "HX-Current-URL": "http://testserver/devices/?q=1"}
    )

    assert poll.status_code == 200 and "<html" not in poll.text
    assert poll.text.count('class="notice"') == 1 and TEXT in poll.text
    assert 'name="next" value="/devices/?q=1"' in poll.text  # without htmx, back to that page
    # The poller comes back out of band, without a trigger: no job runs any more.
    assert 'id="notice-poller" hx-swap-oob="true"' in poll.text and "hx-trigger" not in poll.text
    again = client.get(
        "/notices/", {"after": shown.pk}, headers={**HTMX, "HX-Current-URL": "http://testserver/devices/"}
    )
    assert 'class="notice"' not in again.text  # nothing newer than what the page holds


def test_the_poll_keeps_asking_while_a_job_runs_and_refuses_a_bad_cursor(sam):
    client = signed_in(sam)
    BatchJob.objects.create(action="claim", state=BatchJob.State.QUEUED, created_by=sam)

    poll = client.get("/notices/", {"after": 5}, headers=HTMX)

    assert 'hx-get="/notices/?after=5"' in poll.text and 'hx-swap-oob="true"' in poll.text
    assert client.get("/notices/", {"after": "x"}, headers=HTMX).status_code == 400
    assert client.get("/notices/").status_code == 302  # not htmx: the notices are on every page
