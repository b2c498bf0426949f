"""A job's end told by the real Celery worker (a process of its own, on the test run's broker): the
notice for the person who made it, their email and the customer's, written by the worker's file
backend, each once even when the end is reached again and every send is queued twice."""

import time

import pytest
from django.db import transaction

from batches.chunks import finish_if_done
from batches.jobs import job_confirm
from batches.models import BatchJob, JobEmail
from batches.notices import job_ended
from batches.tasks import job_email_send_task
from core.models import AuditEvent, Notice
from core.roles import Role
from customers.models import Customer
from tests.batches.factories import make_job
from tests.batches.test_job_end import attachment_rows, claimed_elsewhere, messages
from tests.batches.test_tasks import wait_for, wait_until_finished
from tests.conftest import make_user
from tests.devices.factories import make_imei

pytestmark = pytest.mark.django_db(transaction=True)


def sends_done(processes) -> int:
    """Email tasks the worker has finished, as its log says."""
    return sum(
        1
        for line in processes.log_text().splitlines()
        if "batches.tasks.job_email_send_task[" in line and " succeeded in " in line
    )


def test_the_worker_tells_the_end_of_a_job_once(processes, emulator, customers):
    customer, other = customers
    Customer.objects.filter(pk=customer.pk).update(notification_emails=["ops@pioneer.example"])
    sam = make_user(Role.SALES, "sam")
    sam.email = "sam@reseller.example"
    sam.save()
    fresh = [make_imei(97500 + n) for n in range(5)]
    claimed_elsewhere(emulator, fresh[2], other)
    lines = "".join(f"{imei},SO-{n % 2}\n" for n, imei in enumerate(fresh))
    processes.start_worker()

    job = make_job("imei,ordernumber\n" + lines, customer=customer, actor=sam)
    job = wait_until_finished(job_confirm(job=job, actor=sam, email_when_done=True), processes, timeout=90)

    assert (job.state, job.succeeded, job.failed) == ("done", 4, 1)
    sentence = f"Batch {job.pk}, claim of 5 devices for {customer.name}, finished: 4 claimed, 1 failed"
    assert list(Notice.objects.values_list("user", "text")) == [(sam.pk, sentence)]
    wait_for(lambda: sends_done(processes) == 2, processes)
    sent = {message["To"]: message for message in messages(processes.mail_dir)}
    assert set(sent) == {"sam@reseller.example", "ops@pioneer.example"}
    assert sent["sam@reseller.example"]["Subject"].strip() == sentence
    rows = attachment_rows(sent["ops@pioneer.example"])
    assert sorted(row[0] for row in rows[1:]) == sorted(fresh[:2] + fresh[3:])

    # The end reached again, and every send queued again (a retried task, a redelivered message):
    # the worker takes each and sends nothing.
    finish_if_done(job.pk)
    with transaction.atomic():
        job_ended(BatchJob.objects.get(pk=job.pk))
    for email_id in JobEmail.objects.filter(job=job).values_list("id", flat=True):
        job_email_send_task.delay(email_id)
    wait_for(lambda: sends_done(processes) == 4, processes)
    time.sleep(0.5)  # a third copy, were there one, would have been written by now

    assert len(messages(processes.mail_dir)) == 2
    assert set(JobEmail.objects.filter(job=job).values_list("kind", "state", "attempts")) == {
        ("starter", "sent", 1),
        ("customer", "sent", 1),
    }
    assert AuditEvent.objects.filter(action__startswith="batch.email_", outcome="succeeded").count() == 2
    assert Notice.objects.count() == 1
