"""The weekly summary by email, to the managers who asked for it, once a week."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.roles import Role
from customers.models import Customer
from devices.models import DeviceEvent, FailureKind
from reports.services import last_week_start, subscription_set, weekly_summaries_send
from tests.conftest import make_user
from tests.reports.history import record

pytestmark = pytest.mark.django_db
MONDAY = date(2026, 3, 9)  # the task runs on this Monday about the week before
LAST_WEEK = date(2026, 3, 4)


@pytest.fixture
def week():
    acme = Customer.objects.create(company_id=501, name="Acme")
    sam = make_user(Role.SALES, "sam")
    record(LAST_WEEK, customer=acme, actor=sam, count=12)
    record(
        LAST_WEEK,
        customer=acme,
        actor=sam,
        outcome=DeviceEvent.Outcome.FAILED,
        failure_kind=FailureKind.NOT_FOUND,
    )
    record(MONDAY, customer=acme, actor=sam, count=50)  # this week: not in last week's summary


def manager(username: str, *, email: str = "", role: Role = Role.MANAGERS):
    user = make_user(role, username)
    user.email = email or f"{username}@example.com"
    user.save()
    return user


def test_last_week_is_the_full_week_before():
    assert last_week_start(MONDAY) == date(2026, 3, 2)
    assert last_week_start(date(2026, 3, 15)) == date(2026, 3, 2)  # a Sunday


def test_managers_who_opted_in_get_last_weeks_numbers_and_a_link(client_as, week, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    maria = manager("maria")
    manager("mark")  # did not opt in
    client = client_as(Role.MANAGERS)
    client.force_login(maria)
    client.post("/reports/subscription/", {"weekly": "on"})

    assert weekly_summaries_send(today=MONDAY) == 1

    [message] = mail.outbox
    assert message.to == ["maria@example.com"]
    assert message.subject == "Zero-touch claims, week of 02 Mar 2026"
    assert "Devices claimed:       12" in message.body
    assert "Failed changes:        1 of 13 (7.7%)" in message.body
    assert "Acme: 12 claimed, 1 failed" in message.body
    assert "Unknown to zero-touch: 1" in message.body
    assert "https://portal.example.com/reports/?preset=custom&start=2026-03-02&end=2026-03-08" in message.body


def test_a_week_is_sent_once_however_often_the_task_runs(client_as, week):
    maria = manager("maria")
    client = client_as(Role.MANAGERS)
    client.force_login(maria)
    client.post("/reports/subscription/", {"weekly": "on"})

    weekly_summaries_send(today=MONDAY)
    weekly_summaries_send(today=MONDAY)

    assert len(mail.outbox) == 1


def test_opting_out_stops_it_and_sales_never_get_it(client_as, week):
    maria = manager("maria")
    subscription_set(user=maria, weekly=True)
    subscription_set(user=maria, weekly=False)
    seller = manager("seller", role=Role.SALES)
    subscription_set(user=seller, weekly=True)  # a manager once, a salesperson now

    assert weekly_summaries_send(today=MONDAY) == 0
    assert mail.outbox == []


def test_the_page_offers_the_email_and_htmx_swaps_the_answer(client_as):
    client = client_as(Role.MANAGERS)
    page = client.get("/reports/")
    assert "no email address" in page.text  # the test manager has none

    maria = manager("maria")
    client.force_login(maria)
    assert "Email me every Monday" in client.get("/reports/").text
    response = client.post("/reports/subscription/", {"weekly": "on"}, headers={"HX-Request": "true"})

    assert "<html" not in response.text and "Stop the weekly email" in response.text
    plain = client.post("/reports/subscription/", {"weekly": ""})
    assert plain.status_code == 302
    maria.report_subscription.refresh_from_db()
    assert maria.report_subscription.weekly_summary is False


def test_devices_per_customer_are_read_from_the_latest_count_beat_took():
    from devices.store import cache_store_devices
    from reports.forms import ReportFilters
    from reports.selectors import fleet_section
    from reports.services import fleet_counts_take
    from tests.devices.factories import api_device, make_customer

    make_customer(501, "Acme")
    cache_store_devices([api_device(n, owner=501 if n <= 3 else None) for n in range(1, 6)])
    filters = ReportFilters(start=MONDAY, end=MONDAY)
    live = fleet_section(filters)
    assert live.tables[0].rows == [["Acme", 3, "100.0%"], ["Unclaimed", 2, ""]]
    assert live.note.startswith("As the cache holds them now")

    fleet_counts_take()
    cache_store_devices([api_device(9, owner=501)])  # after the count: shown at the next one

    counted = fleet_section(filters)
    assert counted.tables[0].rows == [["Acme", 3, "100.0%"], ["Unclaimed", 2, ""]]
    assert counted.note.startswith("As the cache held them at")
    fleet_counts_take()
    assert fleet_section(filters).tables[0].rows[0] == ["Acme", 4, "100.0%"]


# --- Delivery: beat, the task, development's backends -------------------------------------------------


def test_beat_sends_the_summary_on_monday_mornings_through_a_registered_task(settings):
    from portal.celery import app

    app.loader.import_default_modules()  # what a worker and beat do first: find every app's tasks
    entry = settings.CELERY_BEAT_SCHEDULE["reports-weekly-summary"]
    schedule = entry["schedule"]

    assert entry["task"] in app.tasks
    assert (schedule.day_of_week, schedule.hour, schedule.minute) == ({1}, {7}, {0})
    assert settings.CELERY_BEAT_SCHEDULE["reports-fleet-counts"]["task"] in app.tasks


def test_the_task_sends_last_weeks_summary_to_the_outbox():
    from reports.tasks import weekly_summaries_send_task

    acme = Customer.objects.create(company_id=501, name="Acme")
    last_week = last_week_start(timezone.localdate())
    record(last_week + timedelta(days=2), customer=acme, actor=make_user(Role.SALES, "sam"), count=4)
    maria = manager("maria")
    subscription_set(user=maria, weekly=True)

    assert weekly_summaries_send_task.apply().get() == 1

    [message] = mail.outbox
    assert message.to == ["maria@example.com"]
    assert f"week of {last_week:%d %b %Y}" in message.subject
    assert "Devices claimed:       4" in message.body


def settings_in_a_process(**environment: str) -> dict:
    """portal.settings' mailer as another process loads it from ``environment``."""
    code = (
        "import json, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'portal.settings'; import django; "
        "django.setup(); from django.conf import settings; print(json.dumps(settings.MAILERS['default']))"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("EMAIL_DELIVERY", "EMAIL_FILE_PATH", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env={**env, **environment}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_development_mail_goes_to_the_console_unless_a_file_is_asked_for(tmp_path):
    assert settings_in_a_process(DEBUG="1") == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend",
        "OPTIONS": {},
    }
    assert settings_in_a_process(DEBUG="1", EMAIL_DELIVERY="file", EMAIL_FILE_PATH=str(tmp_path)) == {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(tmp_path)},
    }


def test_with_the_file_backend_the_summary_is_a_file_to_read(week, settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    subscription_set(user=manager("maria"), weekly=True)

    assert weekly_summaries_send(today=MONDAY) == 1

    [written] = tmp_path.iterdir()
    text = written.read_text()
    assert "To: maria@example.com" in text
    assert "Devices claimed:       12" in text


def test_the_first_report_page_takes_the_first_device_count_once(client_as):
    from devices.store import cache_store_devices
    from reports.models import FleetCount
    from tests.devices.factories import api_device, make_customer

    make_customer(501, "Acme")
    cache_store_devices([api_device(n, owner=501) for n in range(1, 4)])
    client = client_as(Role.MANAGERS)
    assert not FleetCount.objects.exists()

    client.get("/reports/")
    taken = list(FleetCount.objects.values_list("taken_at", "customer_id", "devices"))
    client.get("/reports/")  # the snapshot exists: read, not taken again

    assert [(customer, devices) for _, customer, devices in taken] == [(501, 3)]
    assert list(FleetCount.objects.values_list("taken_at", "customer_id", "devices")) == taken
