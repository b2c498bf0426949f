"""What a job's end tells people (batches.notices, batches.emails), with the job run in the test's own
process against the emulator and the emails written by Django's file backend: the notice for the
person who made the job and no one else; the email they asked for; one email per customer with
notification addresses, with the devices claimed for it as a formula-safe CSV file; each email sent
once however often the end is reached or a send is tried; a mail server that is down tried a bounded
number of times and recorded, the job untouched."""

import csv
import email
import email.policy
import io
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from batches.chunks import finish_if_done
from batches.emails import MAX_ATTEMPTS, job_email_send, job_emails_sweep
from batches.jobs import job_cancel, job_confirm
from batches.models import BatchJob, JobEmail
from batches.notices import job_ended
from batches.tasks import job_email_send_task
from core.models import AuditEvent, Notice
from core.roles import Role
from customers.models import Customer
from tests.batches.factories import make_job, run_to_the_end
from tests.conftest import make_user
from tests.devices.factories import make_imei

FILE_MAILER = "django.core.mail.backends.filebased.EmailBackend"


@pytest.fixture
def mailbox(settings, tmp_path):
    """The portal's mail written to files in a folder of the test's own."""
    folder = tmp_path / "mail"
    settings.MAILERS = {"default": {"BACKEND": FILE_MAILER, "OPTIONS": {"file_path": str(folder)}}}
    return folder


def messages(folder) -> list[email.message.EmailMessage]:
    """Every message the file backend wrote (one file per connection, messages between dashes)."""
    if not folder.exists():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        for part in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if part.strip():
                found.append(email.message_from_bytes(part, policy=email.policy.default))
    return found


def attachment_rows(message) -> list[list[str]]:
    [attachment] = list(message.iter_attachments())
    text = attachment.get_payload(decode=True).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the file as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def sam():
    user = make_user(Role.SALES, "sam")
    user.email = "sam@reseller.example"
    user.save()
    return user


def claimed_elsewhere(emulator, imei: str, customer: Customer) -> None:
    """The device is another customer's in zero-touch already: claiming it fails."""
    status, body = emulator.api(
        "POST",
        f"/v1/partners/{emulator.partner_id}/devices:claim",
        {
            "customerId": str(customer.pk),
            "sectionType": "SECTION_TYPE_ZERO_TOUCH",
            "deviceIdentifier": {"imei": imei},
        },
    )
    assert status == 200, body


def ended_claim(world, actor, *, lines: list[str], email_when_done: bool = False) -> BatchJob:
    """A claim for the world's customer of the rows ``lines`` (imei,ordernumber), run to its end."""
    job = make_job("imei,ordernumber\n" + "\n".join(lines) + "\n", customer=world["customer"], actor=actor)
    job = job_confirm(job=job, actor=actor, email_when_done=email_when_done)
    return run_to_the_end(job, world["emulator"])


def test_the_person_who_made_the_job_sees_its_end_and_no_one_else_does(world, sam, client_as):
    customer, fresh = world["customer"], [make_imei(96100 + n) for n in range(3)]
    claimed_elsewhere(world["emulator"], fresh[1], world["other"])

    job = ended_claim(world, sam, lines=fresh)

    sentence = f"Batch {job.pk}, claim of 3 devices for {customer.name}, finished: 2 claimed, 1 failed"
    notice = Notice.objects.get()
    assert (notice.user, notice.text, notice.link) == (sam, sentence, f"/batches/{job.pk}/")
    client = client_as(Role.SALES)  # the "sales" user: a colleague
    sam_client = client_as(Role.MANAGERS)
    sam_client.force_login(sam)
    assert sentence in sam_client.get("/customers/").text
    assert sentence not in client.get("/customers/").text


def test_a_cancelled_job_says_so(world, sam):
    job = make_job(f"imei\n{make_imei(96200)}\n{make_imei(96201)}\n", customer=world["customer"], actor=sam)
    job = job_confirm(job=job, actor=sam)

    job_cancel(job=job, actor=sam)

    [notice] = Notice.objects.all()
    assert notice.text == (
        f"Batch {job.pk}, claim of 2 devices for {world['customer'].name}, cancelled: 0 claimed, 2 cancelled"
    )


def test_reaching_the_end_twice_tells_once_and_sending_twice_sends_once(world, sam, mailbox):
    Customer.objects.filter(pk=world["customer"].pk).update(notification_emails=["ops@pioneer.example"])
    job = ended_claim(world, sam, lines=[make_imei(96300), make_imei(96301)], email_when_done=True)

    finish_if_done(job.pk)  # a second worker reaching the end: the job is ended already
    job_ended(BatchJob.objects.get(pk=job.pk))  # even the telling itself, run again, adds nothing
    emails = list(JobEmail.objects.filter(job=job).order_by("kind"))
    assert [(e.kind, e.state, e.recipients) for e in emails] == [
        ("customer", "pending", ["ops@pioneer.example"]),
        ("starter", "pending", ["sam@reseller.example"]),
    ]
    assert Notice.objects.count() == 1

    for each in emails:
        job_email_send_task.apply(args=[each.pk])
        job_email_send_task.apply(args=[each.pk])  # a redelivered message, a second worker

    sent = messages(mailbox)
    assert sorted(message["To"] for message in sent) == ["ops@pioneer.example", "sam@reseller.example"]
    assert set(JobEmail.objects.filter(job=job).values_list("state", "attempts")) == {("sent", 1)}
    audit = AuditEvent.objects.filter(action__startswith="batch.email_", target_id=str(job.pk))
    assert sorted(audit.values_list("action", "outcome")) == [
        ("batch.email_customer", "succeeded"),
        ("batch.email_starter", "succeeded"),
    ]


def test_the_customer_email_says_how_many_which_orders_when_and_attaches_the_devices(world, sam, mailbox):
    customer, fresh = world["customer"], [make_imei(96400 + n) for n in range(4)]
    Customer.objects.filter(pk=customer.pk).update(
        notification_emails=["ops@pioneer.example", "it@pioneer.example"]
    )
    claimed_elsewhere(world["emulator"], fresh[3], world["other"])
    job = ended_claim(
        world,
        sam,
        lines=[f"{fresh[0]},SO-7", f"{fresh[1]},=HYPERLINK(1)", f"{fresh[2]},SO-7", f"{fresh[3]},SO-9"],
    )

    [customer_email] = JobEmail.objects.filter(job=job, kind=JobEmail.Kind.CUSTOMER)
    assert job_email_send(customer_email.pk).sent

    [message] = messages(mailbox)
    assert message["To"] == "ops@pioneer.example, it@pioneer.example"
    assert message["Subject"].strip() == f"3 devices registered for zero-touch enrollment for {customer.name}"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert f"registered 3 devices for {customer.name}" in body
    assert f"on {timezone.localtime(job.finished_at):%A %-d %B %Y at %H:%M}" in body
    assert "Order numbers: =HYPERLINK(1), SO-7." in body  # not SO-9: that device failed
    rows = attachment_rows(message)
    assert rows[0] == ["IMEI", "MEID", "serial number", "manufacturer", "model", "order number"]
    assert [(row[0], row[5]) for row in rows[1:]] == [
        (fresh[0], "SO-7"),
        (fresh[1], "'=HYPERLINK(1)"),  # a spreadsheet shows it, and does not run it
        (fresh[2], "SO-7"),
    ]
    event = AuditEvent.objects.get(action="batch.email_customer")
    assert event.outcome == "succeeded" and event.target_id == str(job.pk)
    assert event.details["to"] == ["ops@pioneer.example", "it@pioneer.example"]
    assert (event.details["customer_id"], event.details["devices"]) == (customer.pk, 3)
    assert event.details["order_numbers"] == ["=HYPERLINK(1)", "SO-7"]


def test_each_customer_hears_only_of_its_own_devices_and_one_without_addresses_of_none(world, sam, mailbox):
    customer, other, fresh = world["customer"], world["other"], [make_imei(96500 + n) for n in range(3)]
    Customer.objects.filter(pk=other.pk).update(notification_emails=["it@riverside.example"])
    rows = f"{fresh[0]},{customer.pk}\n{fresh[1]},{other.pk}\n{fresh[2]},{customer.pk}\n"
    job = job_confirm(job=make_job("imei,owner\n" + rows, actor=sam), actor=sam)
    job = run_to_the_end(job, world["emulator"])
    assert (job.succeeded, job.customers) == (3, 2)

    [only] = JobEmail.objects.filter(job=job)
    assert (only.kind, only.customer_id) == ("customer", other.pk)
    job_email_send(only.pk)
    [message] = messages(mailbox)
    assert message["To"] == "it@riverside.example"
    assert [row[0] for row in attachment_rows(message)[1:]] == [fresh[1]]


def test_no_email_when_no_one_asked_and_the_customer_has_no_addresses(world, sam, mailbox):
    job = ended_claim(world, sam, lines=[make_imei(96600)])

    assert job.succeeded == 1
    assert not JobEmail.objects.filter(job=job).exists()
    assert job_emails_sweep() == []
    assert messages(mailbox) == []


def test_the_starters_email_says_how_the_job_ended_with_links(world, sam, mailbox, settings):
    settings.PORTAL_BASE_URL = "https://portal.example/"
    fresh = [make_imei(96700), make_imei(96701)]
    claimed_elsewhere(world["emulator"], fresh[0], world["other"])
    job = ended_claim(world, sam, lines=fresh, email_when_done=True)

    job_email_send(JobEmail.objects.get(job=job).pk)

    [message] = messages(mailbox)
    sentence = (
        f"Batch {job.pk}, claim of 2 devices for {world['customer'].name}, finished: 1 claimed, 1 failed"
    )
    assert message["To"] == "sam@reseller.example" and message["Subject"].strip() == sentence
    body = message.get_content()
    assert body.startswith(sentence + ".")
    assert f"The rows that failed, and why: https://portal.example/batches/{job.pk}/?state=failed" in body
    assert f"The job: https://portal.example/batches/{job.pk}/" in body


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


def test_a_mail_server_that_is_down_is_tried_a_bounded_number_of_times_and_recorded(world, sam, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": a_closed_port(), "timeout": 2},
        }
    }
    Customer.objects.filter(pk=world["customer"].pk).update(notification_emails=["ops@pioneer.example"])
    job = ended_claim(world, sam, lines=[make_imei(96800)])
    customer_email = JobEmail.objects.get(job=job)

    first = job_email_send(customer_email.pk)

    customer_email.refresh_from_db()
    assert first.retry_in == 60 and not first.sent
    assert (customer_email.state, customer_email.attempts) == ("pending", 1)
    assert "ConnectionRefusedError" in customer_email.last_error and customer_email.due_at > timezone.now()
    assert not AuditEvent.objects.filter(action="batch.email_customer").exists()  # not given up yet

    job_email_send_task.apply(args=[customer_email.pk])  # Celery's retries, run at once here

    customer_email.refresh_from_db()
    assert (customer_email.state, customer_email.attempts) == ("failed", MAX_ATTEMPTS)
    event = AuditEvent.objects.get(action="batch.email_customer")
    assert event.outcome == "failed" and "ConnectionRefusedError" in event.details["error"]
    assert event.details["attempts"] == MAX_ATTEMPTS
    job.refresh_from_db()
    assert (job.state, job.succeeded) == ("done", 1)  # the job is what it was
    assert job_email_send_task.apply(args=[customer_email.pk]).successful()  # given up: nothing more


def test_an_email_a_dead_worker_was_sending_is_never_sent_again(world, sam, mailbox):
    job = ended_claim(world, sam, lines=[make_imei(96900)], email_when_done=True)
    starter = JobEmail.objects.get(job=job)
    long_ago = timezone.now() - timedelta(hours=1)
    JobEmail.objects.filter(pk=starter.pk).update(state="sending", attempts=1, attempted_at=long_ago)

    job_email_send_task.apply(args=[starter.pk])  # the message redelivered after the crash
    assert messages(mailbox) == []

    assert job_emails_sweep() == []
    starter.refresh_from_db()
    assert starter.state == "failed" and "not sent again" in starter.last_error
    event = AuditEvent.objects.get(action="batch.email_starter")
    assert event.outcome == "unknown"
    job_email_send_task.apply(args=[starter.pk])
    assert messages(mailbox) == []


def test_the_sweeper_queues_again_an_email_whose_task_was_lost(world, sam):
    job = ended_claim(world, sam, lines=[make_imei(97000)], email_when_done=True)
    starter = JobEmail.objects.get(job=job)

    assert job_emails_sweep() == []  # just due: its task is on its way
    JobEmail.objects.filter(pk=starter.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    assert job_emails_sweep() == [starter.pk]


def test_the_confirmation_offers_the_email_to_a_person_with_an_address(world, sam, client_as):
    client = client_as(Role.SALES)
    client.force_login(sam)
    job = make_job(f"imei\n{make_imei(97100)}\n", customer=world["customer"], actor=sam)

    page = client.get(f"/batches/{job.pk}/")
    assert "Email me when it ends" in page.text and "To sam@reseller.example." in page.text
    response = client.post(f"/batches/{job.pk}/confirm/", {"email_when_done": "on"}, follow=True)

    assert "and you get an email" in response.text
    starter = JobEmail.objects.get(job=job)
    assert (starter.state, starter.recipients) == ("waiting", ["sam@reseller.example"])


def test_no_email_unless_ticked_nor_for_an_account_without_an_address(world, sam, client_as):
    client = client_as(Role.SALES)  # "sales" has no email address
    unticked = make_job(f"imei\n{make_imei(97200)}\n", customer=world["customer"], actor=sam)
    no_address = make_job(f"imei\n{make_imei(97201)}\n", customer=world["customer"], actor=None)

    page = client.get(f"/batches/{no_address.pk}/")
    client.force_login(sam)
    client.post(f"/batches/{unticked.pk}/confirm/")
    client_as(Role.SALES).post(f"/batches/{no_address.pk}/confirm/", {"email_when_done": "on"})

    assert "Email me when it ends" not in page.text and "has no email address" in page.text
    assert BatchJob.objects.filter(pk__in=[unticked.pk, no_address.pk], state="queued").count() == 2
    assert not JobEmail.objects.exists()


def test_beat_sweeps_the_emails_through_a_registered_task(settings):
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["batches-emails-sweep"]

    assert entry["task"] in app.tasks and entry["schedule"] <= 60
