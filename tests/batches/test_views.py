"""batches.views as each role uses them: a draft is its creator's, the preview names ignored columns,
whom each row is for and what a metadata change replaces, cancel and retry say what they did, and the
list says how many customers a file was for; every batch page, with everything its links and forms point
to, answers without a server error, and an action a role may not take is refused with 403; and scan
mode's check of one code (``batches:scan``), with sentences for a person holding a scanner."""

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from django.test import Client
from django.test.html import Element, parse_html
from django.urls import Resolver404, resolve, reverse

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchJob
from batches.submission import chunk_submit_next
from core.models import AuditEvent
from core.roles import Role
from devices.identifiers import luhn_check_digit
from devices.models import Device
from devices.store import cache_store_devices
from tests.batches.factories import ACME, GLOBEX, android_imeis, make_job, paste_job, post_new, run_to_the_end
from tests.conftest import make_user
from tests.devices.factories import api_device, make_customer, make_imei

pytestmark = pytest.mark.django_db


def test_a_draft_is_its_creators_to_confirm_or_discard(world, client_as):
    creator = make_user(Role.SALES, username="sam")
    job = paste_job(f"{make_imei(99004)}\n", action="claim", customer=world["customer"], actor=creator)
    colleague = client_as(Role.SALES)

    for step in ("confirm", "discard"):
        response = colleague.post(f"/batches/{job.pk}/{step}/", follow=True)
        said = html.unescape(response.content.decode())
        assert f"This check is sam's: only they (or an admin) can {step} it." in said
        job.refresh_from_db()
        assert job.state == "draft"
        refused = AuditEvent.objects.get(action=f"batch.{step}", actor_username="sales")
        assert refused.outcome == "failed"

    admin = client_as(Role.ADMINS)
    assert admin.post(f"/batches/{job.pk}/discard/").status_code == 302
    job.refresh_from_db()
    assert job.state == "discarded"
    assert AuditEvent.objects.get(action="batch.discard", outcome="succeeded").actor_username == "admin"
    assert AuditEvent.objects.get(action="batch.create").actor_username == "sam"


def test_cancel_says_nothing_was_left_when_every_row_was_sent(world, admin_user):
    emulator = world["emulator"]
    job = job_confirm(
        job=paste_job(
            "\n".join(make_imei(99100 + n) for n in range(30)), action="claim", customer=world["customer"]
        ),
        actor=admin_user,
    )
    while chunk_submit_next(job.pk) is not None:  # both chunks sent, results not in yet
        pass
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/batches/{job.pk}/").content.decode()
    assert "Sent, awaiting results" in page and "Cancel the" not in page
    response = client.post(f"/batches/{job.pk}/cancel/", follow=True)

    assert "Nothing left to cancel: all 30 rows were already sent." in response.content.decode()
    audit = AuditEvent.objects.get(action="batch.cancel")
    assert (audit.outcome, audit.details["items_cancelled"]) == ("noop", 0)
    job = run_to_the_end(job, emulator)
    assert (job.state, job.succeeded, job.cancelled) == ("done", 30, 0)


def test_the_preview_names_ignored_columns_and_whom_rows_are_for(world, client_as):
    customer = world["customer"]
    sales = client_as(Role.SALES)
    text = f"imei,Client,Notes\n{make_imei(99200)},Zen,call first\n"

    post_new(sales, customer=str(customer.pk), pasted=text)

    job = BatchJob.objects.get()
    assert job.ignored_columns == ["Client", "Notes"]
    page = sales.get(f"/batches/{job.pk}/").content.decode()
    assert "Ignored columns (the portal does not read them): Client, Notes." in page
    assert "For 1 customer" in page and customer.name in page


def test_a_metadata_preview_shows_each_value_before_and_after(world, client_as):
    device = (
        Device.objects.filter(owner=world["customer"])
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .first()
    )
    before = device.metadata.get("ordernumber", "")
    sales = client_as(Role.SALES)

    post_new(sales, action="metadata", pasted=f"imei,ordernumber\n{device.imei},SO-NEW-1\n")

    job = BatchJob.objects.get()
    page = sales.get(f"/batches/{job.pk}/?state=").content.decode()
    assert f"Order number: {before or '(none)'} → SO-NEW-1" in page


def test_the_finished_page_offers_retry_only_for_what_a_retry_can_change(world, admin_user):
    emulator, customer, other = world["emulator"], world["customer"], world["other"]
    theirs = make_imei(99400)
    emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(other.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": theirs},
        },
    )
    job = run_to_the_end(
        job_confirm(
            job=paste_job(f"{theirs}\n", action="claim", customer=customer, actor=None), actor=admin_user
        ),
        emulator,
    )
    assert job.failed == 1
    client = Client()
    client.force_login(admin_user)

    page = client.get(f"/batches/{job.pk}/").content.decode()

    assert "Retry" not in page.split('id="progress"')[1].split("</section>")[0].replace("retry would", "")
    assert "1 failed row stays out, since a retry would meet the same refusal" in page
    response = client.post(f"/batches/{job.pk}/retry/", follow=True)
    assert "Nothing to retry: 1 failed row stays out" in response.content.decode()
    assert BatchJob.objects.count() == 1
    assert not BatchChunk.objects.exclude(job=job).exists()


@pytest.mark.parametrize("role", [Role.SALES, Role.MANAGERS])
def test_the_list_says_how_many_customers_a_file_was_for(world, client_as, role):
    pioneer, riverside = world["customer"], world["other"]
    text = "\n".join(
        [
            "modemtype,modemid,serial,model,manufacturer,profiletype,owner",
            f"IMEI,{make_imei(99501)},,,,ZERO_TOUCH,{pioneer.pk}",
            f"IMEI,{make_imei(99502)},,,,ZERO_TOUCH,{riverside.pk}",
        ]
    )
    paste_job(text, action="claim", customer=None, actor=None)

    page = client_as(role).get("/batches/").content.decode()

    assert "2 customers" in page


# --- Every page, link and form, as each role ------------------------------------------------------


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


# --- Scan mode: one code checked at a time (no emulator: the cache is filled directly) -------------


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


def test_the_list_finds_jobs_by_customer_file_name_and_state(world, client_as):
    pioneer, riverside = world["customer"], world["other"]
    for_pioneer = make_job(f"imei\n{make_imei(99601)}\n", customer=pioneer)
    BatchJob.objects.filter(pk=for_pioneer.pk).update(source_name="pioneer-order-4411.csv")
    named_in_rows = paste_job(
        "\n".join(
            [
                "modemtype,modemid,serial,model,manufacturer,profiletype,owner",
                f"IMEI,{make_imei(99602)},,,,ZERO_TOUCH,{riverside.pk}",
            ]
        ),
        action="claim",
        customer=None,
    )
    finished = make_job(f"imei\n{make_imei(99603)}\n", customer=pioneer)
    BatchJob.objects.filter(pk=finished.pk).update(state=BatchJob.State.DONE)
    client = client_as(Role.SALES)

    def listed(**query) -> list[int]:
        page = client.get("/batches/", query).content.decode()
        return sorted(int(n) for n in re.findall(r'href="/batches/(\d+)/"', page))

    assert listed() == sorted([for_pioneer.pk, named_in_rows.pk, finished.pk])
    assert listed(customer=pioneer.pk) == sorted([for_pioneer.pk, finished.pk])
    assert listed(customer=riverside.pk) == [named_in_rows.pk]  # a customer the rows name
    assert listed(file="ORDER-4411") == [for_pioneer.pk]
    assert listed(state="done") == [finished.pk]
    assert listed(customer=pioneer.pk, state="draft") == [for_pioneer.pk]
    assert client.get("/batches/", {"state": "exploded"}).status_code == 400


def test_a_batch_starts_from_the_devices_of_an_order(world, client_as):
    pioneer = world["customer"]
    cache_store_devices(
        [
            api_device(9701, owner=pioneer.pk, metadata={"ordernumber": "SO-77"}),
            api_device(9702, imei="", serial="R58N9702", metadata={"ordernumber": "SO-77"}),
            api_device(9703, owner=pioneer.pk, metadata={"ordernumber": "SO-778"}),  # another order
        ]
    )
    client = client_as(Role.SALES)

    order_page = client.get("/orders/SO-77/").content.decode()
    form = client.get("/batches/new/", {"order": "SO-77", "action": "unclaim"}).content.decode()

    for action in ("claim", "unclaim", "move", "metadata"):
        assert f'href="/batches/new/?order=SO-77&amp;action={action}"' in order_page
    pasted = html.unescape(re.search(r'<textarea name="pasted"[^>]*>(.*?)</textarea>', form, re.S).group(1))
    assert pasted.strip().splitlines() == [
        "imei,meid,serial,manufacturer,model",
        f"{make_imei(9701)},,,Google,Pixel 8",
        ",,R58N9702,Google,Pixel 8",
    ]
    response = post_new(client, action="unclaim", any_owner="on", pasted=pasted)
    job = BatchJob.objects.latest("pk")
    assert response.status_code == 302 and (job.rows, job.ready) == (2, 1)  # the unclaimed one: nothing to do
    assert "Act on all of them" not in client_as(Role.MANAGERS).get("/orders/SO-77/").content.decode()


def pasted_of(form_html: str) -> list[str]:
    found = re.search(r'<textarea name="pasted"[^>]*>(.*?)</textarea>', form_html, re.S)
    return html.unescape(found.group(1)).strip().splitlines()


def test_a_batch_starts_from_the_devices_ticked_on_the_devices_page(world, client_as):
    pioneer = world["customer"]
    cache_store_devices([api_device(9711 + n, owner=pioneer.pk) for n in range(3)])
    client = client_as(Role.SALES)
    client.post("/devices/selection/", {"op": "add", "device": "9711,9713"})
    client.post("/devices/selection/", {"op": "add", "device": "9712"})  # ticked on another page

    form = client.get("/batches/new/", {"selection": "1", "action": "unclaim"}).content.decode()

    assert pasted_of(form) == [
        "imei,meid,serial,manufacturer,model",
        *(f"{make_imei(9711 + n)},,,Google,Pixel 8" for n in range(3)),
    ]
    assert 'name="selection" value="True"' in form
    response = post_new(
        client, action="unclaim", customer=pioneer.pk, pasted="\n".join(pasted_of(form)), selection="True"
    )
    job = BatchJob.objects.latest("pk")
    assert response.status_code == 302 and (job.action, job.rows, job.ready) == ("unclaim", 3, 3)
    assert "devices_selected" not in client.session  # sent: the ticks are cleared


def test_a_selection_emptied_meanwhile_is_said_in_words(world, client_as):
    form = client_as(Role.SALES).get("/batches/new/", {"selection": "1"}).content.decode()

    assert "No device is ticked on the devices page any more" in html.unescape(form)


def test_a_batch_of_all_the_devices_a_search_finds_reads_the_search_when_it_is_sent(world, client_as):
    pioneer, other = world["customer"], world["other"]
    cache_store_devices(
        [
            api_device(9721, owner=pioneer.pk, metadata={"ordernumber": "RMA-2024-5500"}),
            api_device(9722, owner=other.pk, metadata={"ordernumber": "RMA-2024-5501"}),
        ]
    )
    client = client_as(Role.SALES)
    search = urlencode({"q": "2024-55"})

    devices_page = client.get("/devices/", {"q": "2024-55"}).content.decode()
    form = html.unescape(
        client.get("/batches/new/", {"action": "unclaim", "search": search}).content.decode()
    )
    # A device that starts matching after the form was opened is in the batch: the search is read
    # when the rows are checked.
    cache_store_devices([api_device(9723, owner=other.pk, metadata={"ordernumber": "RMA-2024-5502"})])
    response = post_new(client, action="unclaim", any_owner="on", search=search, pasted="")

    assert f'href="/batches/new/?action=unclaim&amp;search={search.replace("=", "%3D")}"' in devices_page
    assert "all the devices matching this search (“2024-55”): 2 devices now" in re.sub(r"<[^>]+>", "", form)
    job = BatchJob.objects.latest("pk")
    assert response.status_code == 302 and (job.rows, job.ready, job.customers) == (3, 3, 2)


def test_a_search_that_finds_nothing_or_too_much_is_refused_in_words(world, client_as, settings):
    cache_store_devices([api_device(9730 + n, metadata={"ordernumber": "PO-88-1"}) for n in range(3)])
    client = client_as(Role.SALES)
    settings.ZT_BATCH_MAX_ROWS = 2

    too_many = post_new(client, action="claim", customer=world["customer"].pk, search="q=PO-88")
    nothing = post_new(client, action="claim", customer=world["customer"].pk, search="q=NO-SUCH-ORDER")
    broken = client.get("/batches/new/", {"search": "customer=abc"})
    big_order = client.get("/batches/new/", {"order": "PO-88-1"})

    assert too_many.status_code == 400
    assert "More than 2 devices match: one batch takes at most 2." in html.unescape(too_many.content.decode())
    assert "This search finds no device now" in html.unescape(nothing.content.decode())
    assert "This search link is not valid" in html.unescape(broken.content.decode())
    assert "More than 2 devices match" in html.unescape(big_order.content.decode())
    assert pasted_of(big_order.content.decode()) == []  # none rather than some, in silence
    assert not BatchJob.objects.filter(rows__gt=0, created_by__username="sales").exists()


def test_the_made_by_filter_names_people_by_their_full_names(world, client_as):
    sam = make_user(Role.SALES, username="sam")
    sam.first_name, sam.last_name = "Sam", "Seller"
    sam.save()
    paste_job(f"{make_imei(99051)}\n", action="claim", customer=world["customer"], actor=sam)
    gone = paste_job(f"{make_imei(99052)}\n", action="claim", customer=world["customer"], actor=None)
    BatchJob.objects.filter(pk=gone.pk).update(created_by_name="leaver")  # an account since deleted
    client = client_as(Role.SALES)

    page = client.get("/batches/").content.decode()
    nobody = client.get("/batches/", {"user": "sam", "state": "done"}).content.decode()

    assert '<option value="sam">Sam Seller</option>' in page
    assert '<option value="leaver">leaver</option>' in page
    assert "No batch jobs by Sam Seller yet." in nobody


def test_the_new_batch_form_makes_a_move_from_the_customer_chosen_and_asks_where_to(world, client_as):
    pioneer, riverside = world["customer"], world["other"]
    theirs, ours = android_imeis(riverside, 1)[0], android_imeis(pioneer, 1)[0]
    client = client_as(Role.SALES)

    refused = post_new(client, action="move", from_customer=str(riverside.pk), pasted=f"{theirs}\n")
    response = post_new(
        client,
        action="move",
        customer=str(pioneer.pk),
        from_customer=str(riverside.pk),
        pasted=f"{theirs}\n{ours}\n",
    )
    not_a_move = post_new(
        client, customer=str(pioneer.pk), from_customer=str(riverside.pk), pasted=f"{theirs}\n"
    )

    assert refused.status_code == 400
    assert "Choose the customer the devices move to." in refused.content.decode()
    move, claim = BatchJob.objects.order_by("pk")
    assert response.status_code == 302 and response["Location"] == f"/batches/{move.pk}/"
    assert (move.action, move.customer_id, move.from_customer_id, move.ready, move.invalid) == (
        "move",
        pioneer.pk,
        riverside.pk,
        1,
        1,  # Pioneer's own device: held by someone else than the "from" customer
    )
    page = client.get(f"/batches/{move.pk}/").content.decode()
    assert f">{html.escape(riverside.name)}</a> ({riverside.pk}) only." in page  # "From: <name> only."
    assert not_a_move.status_code == 302 and claim.from_customer_id is None  # only a move keeps it
