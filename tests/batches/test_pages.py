"""Every batch page, as each role, and everything its links and forms point to in the portal: pages,
fragments, downloads. Nothing answers 5xx; an action a role may not take is refused with 403."""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from batches.jobs import job_confirm
from batches.models import BatchJob
from batches.submission import chunk_submit_next
from core.roles import Role
from tests.batches.test_services import make_job, run_to_the_end
from tests.devices.factories import make_imei


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class PageLinks(HTMLParser):
    """The links (``href``), htmx GETs (``hx-get``) and forms of a page, with each form's fields as a
    browser would send them untouched."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.hx_gets: list[str] = []
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if "hx-get" in attributes:
            self.hx_gets.append(attributes["hx-get"])
        if tag == "form":
            self._form = Form(attributes.get("method", "get").lower() or "get", attributes.get("action", ""))
            self.forms.append(self._form)
        if self._form is None or (not attributes.get("name") and tag != "option"):
            return
        fields = self._form.fields
        if tag == "input" and attributes.get("type") not in ("submit", "button", "file", "checkbox", "radio"):
            fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "input" and "checked" in attributes:
            fields[attributes["name"]] = attributes.get("value", "on")
        elif tag == "textarea":
            fields[attributes["name"]] = ""
        elif tag == "select":
            self._select = attributes["name"]
        elif tag == "option" and self._select is not None:
            if self._select not in fields or "selected" in attributes:
                fields[self._select] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def portal_path(page: str, reference: str) -> str | None:
    """``reference`` made absolute against ``page``, when it stays in the portal; else None."""
    if not reference or reference.startswith(("#", "mailto:", "tel:", "javascript:")):
        return None
    url = urlsplit(urljoin(f"http://testserver{page}", reference))
    if url.scheme not in ("http", "https") or url.netloc != "testserver":
        return None
    return url.path + (f"?{url.query}" if url.query else "")


def read(response) -> bytes:
    """The whole body, streamed ones included (a streamed CSV fails while it is read, not before)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def jobs(world):
    """A job in each state a batch page shows: checked (draft), running, and finished with a failure."""
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    draft = make_job(f"imei\n{make_imei(93000)}\n12345\n", customer=customer)
    # Two chunks (of 25): the first sent, the second not yet, so its rows can still be cancelled.
    fresh = "\n".join(make_imei(93100 + n) for n in range(30))
    running = job_confirm(job=make_job(f"imei\n{fresh}\n", customer=customer), actor=None)
    chunk_submit_next(running.pk)
    # Claimed elsewhere after the last sync: the pre-flight lets it through and zero-touch refuses it.
    taken = make_imei(93002)
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": taken},
        },
    )
    flaky = make_imei(93003)
    failed = make_job(f"imei\n{taken}\n{flaky}\n{make_imei(93004)}\n", customer=customer)
    failed = run_to_the_end(job_confirm(job=failed, actor=None), emulator)
    # And a temporary problem at zero-touch (a per-device 5xx status), which a retry may change.
    failed.items.filter(imei=flaky).update(
        state="failed", failure_kind="temporary", message="Zero-touch had a temporary problem."
    )
    BatchJob.objects.filter(pk=failed.pk).update(succeeded=1, failed=2)
    failed.refresh_from_db()
    running.refresh_from_db()
    assert (draft.state, running.state, failed.state, failed.failed) == ("draft", "running", "done", 2)
    return {"draft": draft, "running": running, "failed": failed}


@pytest.mark.parametrize("role", [Role.SALES, Role.MANAGERS, Role.ADMINS])
def test_every_link_and_form_of_the_batch_pages_answers_without_a_server_error(role, jobs, client_as):
    client = client_as(role)
    pages = ["/batches/", "/batches/new/", *(f"/batches/{job.pk}/" for job in jobs.values())]
    followed: dict[str, int] = {}
    posts: set[str] = set()
    for page in pages:
        response = client.get(page)
        assert response.status_code in (200, 403), (page, response.status_code)
        if response.status_code == 403:
            assert role is Role.MANAGERS and page == "/batches/new/"
            continue
        links = PageLinks()
        links.feed(response.content.decode())
        targets = [(path, {}) for path in (portal_path(page, href) for href in links.links) if path]
        targets += [
            (path, {"HX-Request": "true", "HX-Target": "progress"})
            for path in (portal_path(page, url) for url in links.hx_gets)
            if path
        ]
        for form in links.forms:
            action = portal_path(page, form.action or page)
            assert action is not None, (page, form)
            try:
                resolve(urlsplit(action).path)
            except Resolver404:
                pytest.fail(f"{page}: a form posts to {action}, which is no page of the portal")
            if form.method == "get":
                separator = "&" if "?" in action else "?"
                targets.append((action + (separator + urlencode(form.fields) if form.fields else ""), {}))
            else:
                posts.add(action)
        for target, headers in targets:
            answer = client.get(target, headers=headers)
            read(answer)
            followed[target] = answer.status_code
            assert answer.status_code < 500, (page, target, answer.status_code)

    assert followed[f"/batches/{jobs['failed'].pk}/results.csv"] == 200
    assert followed[f"/batches/{jobs['draft'].pk}/results.csv?rows=errors"] == 200
    if role is Role.MANAGERS:  # a manager looks: no batch form to send, and no way to a new one
        assert not any(path.startswith("/batches/") for path in posts), posts
    else:
        assert followed["/batches/templates/google.csv"] == 200
        assert {f"/batches/{jobs['draft'].pk}/confirm/", f"/batches/{jobs['running'].pk}/cancel/"} <= posts
        assert f"/batches/{jobs['failed'].pk}/retry/" in posts


def test_a_manager_is_refused_every_batch_action_the_pages_offer_others(jobs, client_as):
    """The POST forms sales sees, sent by a manager (who sees none of them): 403, never a 5xx."""
    seen = set()
    sales = client_as(Role.SALES)
    for page in ["/batches/new/", *(f"/batches/{job.pk}/" for job in jobs.values())]:
        links = PageLinks()
        links.feed(sales.get(page).content.decode())
        seen |= {portal_path(page, form.action or page) for form in links.forms if form.method == "post"}
    actions = sorted(path for path in seen if path and path.startswith("/batches/"))
    assert len(actions) >= 5, actions  # new, confirm, discard, cancel, retry
    manager = client_as(Role.MANAGERS)

    answers = {action: manager.post(action, {}).status_code for action in actions}

    assert answers == dict.fromkeys(actions, 403)
    assert BatchJob.objects.get(pk=jobs["draft"].pk).state == "draft"


def test_the_batch_actions_answer_their_own_roles_without_a_server_error(jobs, client_as):
    """The POST forms of the batch pages, sent as sales: each ends in a page, not an error."""
    client = client_as(Role.SALES)
    draft, running, failed = jobs["draft"], jobs["running"], jobs["failed"]

    answers = {
        "new (empty)": client.post("/batches/new/", {}).status_code,
        "cancel": client.post(f"/batches/{running.pk}/cancel/").status_code,
        "retry": client.post(f"/batches/{failed.pk}/retry/").status_code,
        "confirm": client.post(f"/batches/{draft.pk}/confirm/").status_code,
        "discard (sent already)": client.post(f"/batches/{draft.pk}/discard/").status_code,
    }

    assert answers == {
        "new (empty)": 400,
        "cancel": 302,
        "retry": 302,
        "confirm": 302,
        "discard (sent already)": 302,
    }
