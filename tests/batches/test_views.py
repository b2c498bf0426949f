"""The batch pages as a salesperson uses them: the form refuses what has no customer before any job
exists, the preview names ignored columns, whom each row is for and what a metadata change replaces,
unclaims take vacation mode, phone numbers are checked, "Discard" gives the pasted lines back, a draft
is its creator's, every step is audited, and cancel and retry say what they did."""

import html

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from batches.drafts import job_from_input
from batches.jobs import job_confirm
from batches.models import BatchChunk, BatchJob
from batches.submission import chunk_submit_next
from core.models import AuditEvent
from core.roles import Role
from devices.models import Device
from tests.batches.test_services import run_to_the_end
from tests.conftest import make_user
from tests.devices.factories import make_imei


def post_new(client: Client, **fields) -> object:
    data = {"action": "claim", "mode": "paste", "customer": "", "pasted": "", **fields}
    return client.post("/batches/new/", data)


def paste_job(text: str, **kwargs) -> BatchJob:
    return job_from_input(mode="paste", text=text, **{"actor": None, **kwargs})


def test_pasted_lines_without_a_customer_are_refused_on_the_form(world, client_as):
    sales = client_as(Role.SALES)

    response = post_new(sales, pasted=f"{make_imei(99001)}\n")

    assert response.status_code == 400
    assert "Choose the customer the devices are claimed for." in response.content.decode()
    assert make_imei(99001) in response.content.decode()  # the pasted text is still there
    assert not BatchJob.objects.exists()
    response = post_new(sales, action="unclaim", pasted=f"{make_imei(99001)}\n")
    assert response.status_code == 400
    assert "Choose the customer the devices are unclaimed from" in response.content.decode()
    assert not BatchJob.objects.exists()


def test_discard_gives_the_pasted_lines_back_to_the_form(world, client_as):
    sales = client_as(Role.SALES)
    lines = f"{make_imei(99002)}\n{make_imei(99003)}\n"
    response = post_new(sales, customer=str(world["customer"].pk), pasted=lines)
    job = BatchJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{job.pk}/"

    response = sales.post(f"/batches/{job.pk}/discard/", follow=True)

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/batches/new/?from={job.pk}"
    assert "Your lines are back in the form" in page
    assert lines in page and f'value="{world["customer"].pk}"' in page
    assert AuditEvent.objects.filter(action="batch.discard", target_id=str(job.pk)).exists()


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
        assert refused.outcome == "failure"

    admin = client_as(Role.ADMINS)
    assert admin.post(f"/batches/{job.pk}/discard/").status_code == 302
    job.refresh_from_db()
    assert job.state == "discarded"
    assert AuditEvent.objects.get(action="batch.discard", outcome="success").actor_username == "admin"
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


def test_phone_numbers_are_checked(world):
    job = paste_job(
        f"imei,phonenumber\n{make_imei(99300)},+44 (20) 7946-0000\n{make_imei(99301)},not a phone\n",
        action="claim",
        customer=world["customer"],
        actor=None,
    )

    rows = {item.row_number: item for item in job.items.all()}
    assert rows[2].state == "pending"
    assert rows[3].state == "invalid" and "'not a phone' is not a phone number" in rows[3].message


def test_a_bulk_unclaim_in_vacation_mode_sends_it_and_says_so(world, client_as):
    emulator, customer = world["emulator"], world["customer"]
    imei = (
        Device.objects.filter(owner=customer)
        .exclude(device_type="DEVICE_TYPE_CHROME_OS")
        .exclude(imei="")
        .values_list("imei", flat=True)
        .first()
    )
    sales = client_as(Role.SALES)
    both = post_new(
        sales,
        action="unclaim",
        customer=str(customer.pk),
        pasted=f"{imei}\n",
        vacation_mode_days="3",
        vacation_mode_until="2999-01-01",
    )
    assert both.status_code == 400 and "not both" in both.content.decode()

    post_new(sales, action="unclaim", customer=str(customer.pk), pasted=f"{imei}\n", vacation_mode_days="3")

    job = BatchJob.objects.get()
    assert job.vacation_mode_days == 3
    assert "Vacation mode: 3 days" in sales.get(f"/batches/{job.pk}/").content.decode()
    job = run_to_the_end(job_confirm(job=job, actor=get_user_model().objects.get(username="sales")), emulator)
    assert job.succeeded == 1
    [request] = emulator.requests_log(method="partners.devices.unclaimAsync")
    assert request["body"]["unclaims"][0]["vacationModeDays"] == 3
    event = Device.objects.get(imei=imei).events.get(batch_id=job.pk)
    assert event.details["vacation_mode_days"] == 3


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
