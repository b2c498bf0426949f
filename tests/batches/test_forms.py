"""batches.forms, the new-batch form as a salesperson fills it in: pasted lines without a customer are
refused on the form before any job exists, "Discard" gives the pasted lines back to it, and vacation
mode for an unclaim is days or a date, not both."""

from django.contrib.auth import get_user_model

from batches.jobs import job_confirm
from batches.models import BatchJob
from core.models import AuditEvent
from core.roles import Role
from devices.models import Device
from tests.batches.factories import post_new, run_to_the_end
from tests.devices.factories import make_imei


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
